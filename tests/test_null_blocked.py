"""Blocked null measures (Gram matrices of activations and ranks) against the per-pair functions of
metazoo_core.measures, and the pair numbering against a plain enumeration."""
import itertools

import math

import pytest
import torch
from tolerance import RULE, check

from metazoo_core.measures import all_measures
from metazoo_core.numerics import FLOAT64_EPS, condition_tolerance, relative_error, rounding_tolerance
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


def _gram_conditions(a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    """Condition numbers of the Gram (dot-product) forms against the per-pair ones, for rows a, b (N,): a dot of
    N terms errs by ≤ N·eps·‖a‖‖b‖, which the correlation divides by ‖a − ā‖‖b − b̄‖ and the SNR's ‖a − b‖² =
    ‖a‖² + ‖b‖² − 2a·b (in dB: × 5/ln 10) by ‖a − b‖². 0 where the measure is exactly 0 (a degenerate row)."""
    a, b = a.double(), b.double()
    n = a.numel()
    centred = float((a - a.mean()).norm() * (b - b.mean()).norm())
    ranks = 2 * n  # centred ranks have mean 0: ‖ra‖‖rb‖ ÷ (‖ra‖‖rb‖)
    diff = float((a - b).norm() ** 2)
    return {"pearson": 2 * n * float(a.norm() * b.norm()) / centred if centred > 0 else 0.0,
            "spearman": ranks if centred > 0 else 0.0,
            "snr_db": 5 / math.log(10) * 2 * n * float(a.norm() ** 2 + b.norm() ** 2) / diff if diff > 0 else 0.0}


@pytest.mark.numerics
def test_block_measures_match_the_per_pair_functions():
    a, b = _acts(7, 501, 0), _acts(6, 501, 1)
    ra, rb = centred_ranks(a), centred_ranks(b)
    got = block_measures(a, b, ra, rb, view_stats(a, ra), view_stats(b, rb))
    worst = {m: (0.0, 1.0) for m in ("spearman", "pearson", "snr_db")}  # (error, its tolerance) of the worst pair
    for i, j in itertools.product(range(len(a)), range(len(b))):
        want = all_measures(a[i:i + 1], b[j:j + 1])
        kappa = _gram_conditions(a[i], b[j]) if float(a[i].sum()) != 0 and float(b[j].sum()) != 0 else {}
        for m, v in want.items():
            # float64 throughout: the Gram form's rounding, eps64 × its condition (exact 0 for degenerate rows)
            tol = condition_tolerance(kappa.get(m, 0.0), eps=FLOAT64_EPS)
            g, w = float(got[m][i, j]), float(v[0])
            err = 0.0 if g == w else abs(g - w)  # identical rows: both +inf dB
            assert err <= tol, (m, i, j, err, tol)
            if err / max(tol, 1e-300) >= worst[m][0] / max(worst[m][1], 1e-300):
                worst[m] = (err, tol)
    for m, (err, tol) in worst.items():
        check(err, tol, "10 x float64 eps x Gram-form condition", m)
    assert float(got["spearman"].abs().max()) > 0.05  # not all degenerate


def test_pair_numbering_and_counts():
    assert pair_count(5, 2) == 10 - 1 - 3  # views 0,2,4 of input 0 and 1,3 of input 1
    for pairs, k in [(1, 2), (10, 3), (45, 10), (100, 4)]:
        m = views_for(pairs, k)
        assert pair_count(m, k) >= pairs > pair_count(m - 1, k)


@pytest.mark.numerics
@pytest.mark.parametrize("block_bytes", [8 * 40 * 3, 2**27])  # 3 views per block (many blocks) or one block
def test_blocked_values_are_the_first_pairs_row_by_row(block_bytes):
    n_inputs, pairs, n = 3, 40, 40
    n_views = views_for(pairs, n_inputs)
    g = torch.Generator().manual_seed(2)
    views = [torch.randn(n, generator=g) for _ in range(n_views)]
    weight = torch.randn(n, n, generator=g)

    def model(x, stages):  # in x's dtype (float64 for the reference)
        return {"lin": x @ weight.to(x.dtype), "relu": (x @ weight.to(x.dtype)).clamp_min(0)}

    got = blocked_values(model, views, n_views, n_inputs, pairs, ["lin", "relu"], batch_size=4,
                         block_bytes=block_bytes)
    expected = [(v, w) for v, w in itertools.combinations(range(n_views), 2) if v % n_inputs != w % n_inputs][:pairs]
    left, right = [v for v, _ in expected], [w for _, w in expected]
    for stage in ("lin", "relu"):
        acts = torch.stack([model(x, [])[stage] for x in views])  # one view at a time: another float32 kernel path
        exact = torch.stack([model(x.double(), [])[stage] for x in views])
        want, want64 = all_measures(acts[left], acts[right]), all_measures(exact[left], exact[right])
        for m in want:
            # float32 activations: within 10x the measures' own error from float32 activations against float64 ones
            own = relative_error(want[m], want64[m])
            check(relative_error(got[stage][m], want[m]), rounding_tolerance(own), RULE, f"{stage} {m}")


@pytest.mark.numerics
def test_build_null_blocked_measures_the_augmented_views_it_drew(tmp_path):
    """build_null(pairing="blocked") end to end on a real model: view v is input v mod K augmented in order from
    the seeded generator; the saved null holds the first pairs' measures of exactly those views."""
    from metazoo_core.inputs import load_input
    from metazoo_core.metamer import NullDistribution, build_null
    from metazoo_core.metamer.augment import augment
    from metazoo_core.metamer.frozen import copy_model
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
    exact = copy_model(model).double()(views.double(), ["relu0"])["relu0"].reshape(4, -1)
    want64 = all_measures(exact[[v for v, _ in pairs]], exact[[w for _, w in pairs]])
    back = NullDistribution.load(null.save(tmp_path / "b.null.safetensors"))
    for m, v in want.items():
        # the null ran the views in batches of 2, this test in one batch of 4: another float32 kernel path, so
        # within 10x the measures' own error from float32 activations against float64 ones
        check(relative_error(back.values["relu0"][m], v), rounding_tolerance(relative_error(v, want64[m])), RULE, m)
