"""`metazoo_core.predict.predict`, the core of `metazoo predict`: top-k of the softmax, capped at the classes."""
from __future__ import annotations

import pytest
import torch

from metazoo_core.errors import InputError
from metazoo_core.inputs import load_many
from metazoo_core.models import load_model
from metazoo_core.plugins import get_spec
from metazoo_core.predict import predict


@pytest.fixture(scope="module")
def lite0():
    return load_model(get_spec("efficientnet_lite0"), pretrained=False)


def test_top_k_is_the_softmax_top_k_of_the_logits(lite0):
    items, problems = load_many(["builtin:chelsea", "builtin:coffee"], lite0.spec)
    assert not problems
    rows, notices = predict(lite0, items, top=3)
    assert [r["input"] for r in rows] == ["chelsea", "coffee"]
    assert len(notices) == sum(r["out_of_category"] for r in rows)  # only out-of-category notices (random weights)
    for item, row in zip(items, rows):
        with torch.no_grad():
            p = lite0.logits(item.tensor[None]).softmax(1)[0]
        values, idx = p.topk(3)
        assert [t["index"] for t in row["top"]] == idx.tolist()
        assert [t["p"] for t in row["top"]] == [round(float(v), 4) for v in values]
        assert row["random_weights"] is True and row["category16"] is not None


def test_top_is_capped_at_the_classes_with_a_notice_and_sums_to_one(lite0):
    items, _ = load_many(["builtin:chelsea"], lite0.spec)
    rows, notices = predict(lite0, items, top=5000)
    assert len(rows[0]["top"]) == 1000 and abs(sum(t["p"] for t in rows[0]["top"]) - 1) < 0.02  # rounded to 4 places
    assert notices[0] == "--top 5000: efficientnet_lite0 has 1000 classes; showing all of them"
    assert len(notices) == 1 + rows[0]["out_of_category"]  # and the out-of-category line (random weights)
    with pytest.raises(InputError, match="at least 1"):
        predict(lite0, items, top=0)
