"""Issue 27, class 6 and issue 26 problem 21: a readout over one class measured top-1 = 1.000 (every answer is
right), and top-5 over ≤ 5 classes is 1 by construction. The first is refused in one line, before anything is
written; the second is reported as "n/a (≤ 5 classes)" and stored as null (the profile shows "–")."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image
from probes import assert_one_line, invoke

ARGS = ["--stage", "final", "--epochs", "1", "--units", "16", "--batch-size", "8", "--no-augment"]


def _classes(root, names, per_class=3):
    rng = np.random.default_rng(0)
    for name in names:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray((rng.random((48, 48, 3)) * 255).astype("uint8")).save(root / name / f"{i}.png")
    return root


def test_a_one_class_readout_is_refused(tmp_path):
    data = _classes(tmp_path / "data", ["cat"], per_class=4)
    out = tmp_path / "out"
    r = invoke("readout", "efficientnet_lite0", "--data", str(data), "--out", str(out), *ARGS)
    assert_one_line(r, "at least 2 classes", "holds 1 (cat)", "add a folder per class")
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]


def test_top5_over_five_or_fewer_classes_is_not_reported_as_a_number(tmp_path):
    data = _classes(tmp_path / "data", ["ant", "bee", "cat"])
    out = tmp_path / "out"
    r = invoke("readout", "efficientnet_lite0", "--data", str(data), "--out", str(out), *ARGS)
    assert r.code == 0, r.stderr
    assert "n/a (≤ 5 classes)" in r.stdout and "n/a (≤ 5 classes)" in r.stderr
    (record,) = [json.loads(p.read_text()) for p in out.rglob("final.json")]
    assert record["top5"] is None and record["n_classes"] == 3 and 0 <= record["top1"] <= 1
    r = invoke("readout", "efficientnet_lite0", "--data", str(data), "--out", str(out), *ARGS, "--json")
    assert r.code == 0 and json.loads(r.stdout)[0]["top5"] is None  # resumed from the record: still null
