"""Blocked null measures (Gram matrices of activations and ranks) against the per-pair functions of
metazoo_core.measures, and the pair numbering against a plain enumeration."""
import itertools

import pytest
import torch

from metazoo_core.measures import all_measures
from metazoo_core.metamer.null_blocked import (block_measures, blocked_values, centred_ranks, pair_count, view_stats,
                                               views_for)


def _acts(n_views: int, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_views, n, generator=g) * 3 + 1
    x[::3] = x[::3].clamp_min(0)  # ReLU-like rows, full of tied zeros
    x[1, :] = 2.5  # a constant row: ρ = r = 0
    x[4, :] = 0.0  # a row summing to zero: every measure 0
    x[5] = x[5].round()  # ties among positive values
    return x


def test_block_measures_match_the_per_pair_functions():
    a, b = _acts(7, 501, 0), _acts(6, 501, 1)
    ra, rb = centred_ranks(a), centred_ranks(b)
    got = block_measures(a, b, ra, rb, view_stats(a, ra), view_stats(b, rb))
    for i, j in itertools.product(range(len(a)), range(len(b))):
        want = all_measures(a[i:i + 1], b[j:j + 1])
        for m, v in want.items():
            assert float(got[m][i, j]) == pytest.approx(float(v[0]), abs=1e-6, rel=1e-6), (m, i, j)
    assert float(got["spearman"].abs().max()) > 0.05  # not all degenerate


def test_pair_numbering_and_counts():
    assert pair_count(5, 2) == 10 - 1 - 3  # views 0,2,4 of input 0 and 1,3 of input 1
    for pairs, k in [(1, 2), (10, 3), (45, 10), (100, 4)]:
        m = views_for(pairs, k)
        assert pair_count(m, k) >= pairs > pair_count(m - 1, k)


@pytest.mark.parametrize("block_bytes", [8 * 40 * 3, 2**27])  # 3 views per block (many blocks) or one block
def test_blocked_values_are_the_first_pairs_row_by_row(block_bytes):
    n_inputs, pairs, n = 3, 40, 40
    n_views = views_for(pairs, n_inputs)
    g = torch.Generator().manual_seed(2)
    views = [torch.randn(n, generator=g) for _ in range(n_views)]
    weight = torch.randn(n, n, generator=g)

    def model(x, stages):
        return {"lin": x @ weight, "relu": (x @ weight).clamp_min(0)}

    got = blocked_values(model, views, n_views, n_inputs, pairs, ["lin", "relu"], batch_size=4,
                         block_bytes=block_bytes)
    expected = [(v, w) for v, w in itertools.combinations(range(n_views), 2) if v % n_inputs != w % n_inputs][:pairs]
    for stage in ("lin", "relu"):
        acts = torch.stack([model(x, [])[stage] for x in views])
        want = all_measures(acts[[v for v, _ in expected]], acts[[w for _, w in expected]])
        for m in want:
            torch.testing.assert_close(got[stage][m], want[m], atol=1e-6, rtol=1e-6)


def test_build_null_blocked_measures_the_augmented_views_it_drew(tmp_path):
    """build_null(pairing="blocked") end to end on a real model: view v is input v mod K augmented in order from
    the seeded generator; the saved null holds the first pairs' measures of exactly those views."""
    from metazoo_core.inputs import load_input
    from metazoo_core.metamer import NullDistribution, build_null
    from metazoo_core.metamer.augment import augment
    from metazoo_core.models import load_model

    model = load_model("alexnet", pretrained=False)
    photos = [load_input(f"builtin:{n}", model.spec) for n in ("chelsea", "coffee", "rocket")]
    null = build_null(model, photos, pairs=5, seed=4, stages=["relu0"], pairing="blocked", batch_size=2)
    assert null.pairs == 5 and null.stages == ["input_after_preproc", "relu0"]
    assert null.params["pairing"] == "blocked" and null.params["views"] == views_for(5, 3) == 4
    g = torch.Generator().manual_seed(4)
    views = torch.stack([augment(photos[v % 3].tensor.float(), g, "image", model.input_range) for v in range(4)])
    acts = model(views, ["relu0"])["relu0"].reshape(4, -1)
    pairs = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]  # (0, 3) is input 0 twice
    want = all_measures(acts[[v for v, _ in pairs]], acts[[w for _, w in pairs]])
    back = NullDistribution.load(null.save(tmp_path / "b.null.safetensors"))
    for m, v in want.items():
        torch.testing.assert_close(back.values["relu0"][m], v, atol=1e-6, rtol=1e-6)
