"""PGD attacks: agreement with torchattacks, ε-ball and range properties, the exact L1 projection, fooling images,
feature adversaries, ε-grid checks and the seed's SNR values."""
import copy
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tolerance import RULE, check
from torch import nn

from metazoo_core.errors import InputError
from metazoo_core.numerics import condition_tolerance, rounding_tolerance
from metazoo_core.robustness.attacks import (check_eps, check_norm, feature_adversaries, fooling_images, log_grid,
                                             noise_images, pgd, project_l1, untargeted)
from metazoo_core.robustness.snr import snr_db, waveform_snr_db

pytestmark = pytest.mark.usefixtures("one_thread")  # per test, not at import (other files keep theirs)


def small_cnn(seed: int = 0, classes: int = 10) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                         nn.Linear(128, classes)).eval().requires_grad_(False)


def accuracy(net, x, y) -> float:
    with torch.no_grad():
        return (net(x).argmax(1) == y).float().mean().item()


# -- must-show 1: same adversarial accuracy as torchattacks ----------------------------------------------------
@pytest.mark.parametrize("norm,eps", [("linf", 12 / 255), ("linf", 16 / 255),
                                      pytest.param("l2", 1.0, marks=pytest.mark.numerics), ("l2", 1.5)])
def test_pgd_matches_torchattacks(norm, eps):
    """torchattacks PGD / PGDL2 with random_start=False and the same 64 steps of ε/4 (it keeps the last iterate,
    so ours runs with use_best=False). Tolerance: adversarial accuracy within 1/64 (one of the 64 images) and
    per-image decisions agreeing on ≥ 63 of 64; measured: identical accuracy and decisions, mean |Δpixel| < 1e-6
    (float rounding in the gradient normalisation can move one L2 image by up to 4e-3 over 64 steps)."""
    torchattacks = pytest.importorskip("torchattacks")
    net = small_cnn()
    x = torch.rand(64, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    y = net(x).argmax(1)
    cls = torchattacks.PGD if norm == "linf" else torchattacks.PGDL2
    ref = cls(net, eps=eps, alpha=eps / 4, steps=64, random_start=False)(x, y)
    ours = pgd(net, x, untargeted(y), norm=norm, eps=eps, steps=64, use_best=False)
    acc_ref, acc_ours = accuracy(net, ref, y), accuracy(net, ours, y)
    assert 0.0 < acc_ref < 1.0, "ε chosen so that the attack is neither void nor total"
    assert abs(acc_ref - acc_ours) <= 1 / 64
    with torch.no_grad():
        assert (net(ref).argmax(1) == net(ours).argmax(1)).sum() >= 63
    # Both float32: within 10x the larger of the two attacks' own float32 error (mean |Δpixel|, pixels in [0, 1])
    # against the same attack in float64.
    net64, x64 = copy.deepcopy(net).double(), x.double()
    own = max(float((ref - cls(net64, eps=eps, alpha=eps / 4, steps=64, random_start=False)(x64, y)).abs().mean()),
              float((ours - pgd(net64, x64, untargeted(y), norm=norm, eps=eps, steps=64, use_best=False)).abs().mean()))
    check(float((ref - ours).abs().mean()), rounding_tolerance(own), RULE, "mean |Δpixel|")


def test_use_best_keeps_highest_loss():
    """use_best returns, per example, an iterate whose loss is ≥ the clean loss and ≥ the last iterate's."""
    net = small_cnn(2)
    x = torch.rand(16, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    y = net(x).argmax(1)
    loss = untargeted(y)
    best = pgd(net, x, loss, norm="l2", eps=1.0, steps=16, use_best=True)
    last = pgd(net, x, loss, norm="l2", eps=1.0, steps=16, use_best=False)
    with torch.no_grad():
        assert (loss(net(best)) >= loss(net(x)) - 1e-6).all()
        assert (loss(net(best)) >= loss(net(last)) - 1e-6).all()


# -- must-show 2: every perturbation in its ε-ball, every input in range ----------------------------------------
def _dual_norm(delta: torch.Tensor, norm: str) -> torch.Tensor:
    flat = delta.flatten(1)
    return {"l1": flat.abs().sum(1), "l2": flat.norm(dim=1), "linf": flat.abs().max(1).values}[norm]


@settings(max_examples=25, deadline=None)
@given(norm=st.sampled_from(["l1", "l2", "linf"]), eps=st.floats(1e-3, 20.0), seed=st.integers(0, 10_000),
       steps=st.integers(1, 6), waveform=st.booleans(), sparsity=st.sampled_from([0.5, 0.9, 0.99]))
def test_perturbations_stay_in_ball_and_range(norm, eps, seed, steps, waveform, sparsity):
    gen = torch.Generator().manual_seed(seed)
    if waveform:  # [-1, 1] waveforms through a 1-D conv net
        bounds = (-1.0, 1.0)
        x = (torch.rand(3, 200, generator=gen) * 2 - 1)
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Unflatten(1, (1, 200)), nn.Conv1d(1, 4, 9, stride=4), nn.ReLU(), nn.Flatten(),
                            nn.Linear(4 * 48, 5))
    else:
        bounds = (0.0, 1.0)
        x = torch.rand(3, 3, 8, 8, generator=gen)
        net = small_cnn(seed, 5)
    x[0].clamp_(*bounds).mul_(0).add_(bounds[1])  # one example saturated at the upper bound
    y = torch.randint(0, 5, (3,), generator=gen)
    adv = pgd(net, x, untargeted(y), norm=norm, eps=eps, steps=steps, bounds=bounds, l1_sparsity=sparsity)
    assert adv.min() >= bounds[0] and adv.max() <= bounds[1]
    assert (_dual_norm(adv - x, norm) <= eps * (1 + 1e-5) + 1e-6).all()


@settings(max_examples=15, deadline=None)
@given(norm=st.sampled_from(["l1", "l2", "linf"]), eps=st.floats(1e-2, 5.0), seed=st.integers(0, 10_000))
def test_unbounded_space_ball_only(norm, eps, seed):
    """Cochleagram attacks have no box (a ReLU follows): only the ε-ball constrains the perturbation."""
    gen = torch.Generator().manual_seed(seed)
    c = torch.rand(2, 6, 10, generator=gen)
    torch.manual_seed(seed)
    back = nn.Sequential(nn.ReLU(), nn.Flatten(), nn.Linear(60, 3))
    adv = pgd(back, c, untargeted(torch.tensor([0, 1])), norm=norm, eps=eps, steps=4, bounds=None)
    assert (_dual_norm(adv - c, norm) <= eps * (1 + 1e-5) + 1e-6).all()


def duchi_reference(v: np.ndarray, z: float) -> np.ndarray:
    """Duchi et al. (2008) Fig. 1: sort-based Euclidean projection onto the L1 ball of radius z."""
    if np.abs(v).sum() <= z:
        return v.copy()
    u = np.sort(np.abs(v))[::-1]
    css = np.cumsum(u)
    rho = np.nonzero(u * np.arange(1, len(u) + 1) > (css - z))[0][-1]
    theta = (css[rho] - z) / (rho + 1.0)
    return np.sign(v) * np.maximum(np.abs(v) - theta, 0)


def box_reference(v: np.ndarray, z: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Projection onto {‖δ‖₁ ≤ z} ∩ [lo, hi] by bisection on the threshold λ (KKT, separable), float64."""
    a, cap = np.abs(v), np.where(v >= 0, hi, -lo)
    size = lambda lam: np.minimum(np.maximum(a - lam, 0), cap).sum()  # noqa: E731
    if size(0.0) <= z:
        return np.clip(v, lo, hi)
    low, high = 0.0, a.max()
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if size(mid) > z else (low, mid)
    return np.sign(v) * np.minimum(np.maximum(a - high, 0), cap)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 100_000), n=st.integers(1, 60), z=st.floats(1e-3, 30.0), scale=st.floats(0.01, 10.0))
def test_l1_projection_is_exact(seed, n, z, scale):
    v = np.random.default_rng(seed).normal(size=(2, n)) * scale
    out = project_l1(torch.tensor(v), z).numpy()
    ref = np.stack([duchi_reference(row, z) for row in v])
    np.testing.assert_allclose(out, ref, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 100_000), n=st.integers(1, 60), z=st.floats(1e-3, 10.0))
def test_l1_projection_with_box_is_exact(seed, n, z):
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(0, 1, size=(2, n))
    v = rng.normal(size=(2, n))
    lo, hi = -x0, 1 - x0
    out = project_l1(torch.tensor(v), z, torch.tensor(lo), torch.tensor(hi)).numpy()
    ref = np.stack([box_reference(v[i], z, lo[i], hi[i]) for i in range(2)])
    np.testing.assert_allclose(out, ref, atol=1e-9)
    assert (np.abs(out).sum(1) <= z + 1e-9).all() and (out >= lo - 1e-12).all() and (out <= hi + 1e-12).all()


@pytest.mark.numerics
def test_l1_steps_are_sparse():
    """One L1 step of size s moves only the top 1 % of gradient coordinates, with total L1 length s."""
    net = small_cnn(4)
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(5)) * 0.5 + 0.25
    y = torch.tensor([0, 1])
    adv = pgd(net, x, untargeted(y), norm="l1", eps=10.0, steps=1, step_size=0.5, use_best=False)
    moved = ((adv - x).flatten(1).abs() > 0).sum(1)
    assert (moved <= math.ceil(0.01 * 768) + 2).all() and (moved >= 1).all()
    # float32: each moved pixel (≤ 1) rounds once when the step is added (eps/2 absolute), so the L1 length 0.5 is
    # off by ≤ moved·eps/2, i.e. moved·eps relative.
    length = (adv - x).flatten(1).abs().sum(1).double()
    check(float((length - 0.5).abs().max() / 0.5), condition_tolerance(float(moved.max())),
          "10 x float32 eps x moved pixels (one rounding each)")


# -- fooling images and feature adversaries ---------------------------------------------------------------------
def test_fooling_images_reach_targets_more_with_larger_eps():
    net = small_cnn(6)
    gen = torch.Generator().manual_seed(7)
    start = noise_images(32, (3, 16, 16), generator=gen)
    assert abs(start.mean().item() - 0.5) < 0.01 and abs(start.std().item() - 0.05) < 0.01
    targets = torch.randint(0, 10, (32,), generator=gen)
    rates = []
    for eps in (0.0, 8 / 255, 0.4):
        adv = fooling_images(net, start, targets, norm="linf", eps=eps, steps=64)
        rates.append(accuracy(net, adv, targets))
    assert rates[0] <= 0.3 and rates[2] >= 0.9 and rates[1] <= rates[2]


def test_feature_adversaries_approach_target_activations():
    net = small_cnn(8)
    stage = net[:2]  # conv → ReLU
    gen = torch.Generator().manual_seed(9)
    source, target = torch.rand(8, 3, 16, 16, generator=gen), torch.rand(8, 3, 16, 16, generator=gen)
    dist = lambda a: (stage(a) - stage(target)).flatten(1).norm(dim=1)  # noqa: E731
    with torch.no_grad():
        d0 = dist(source)
        d_small = dist(feature_adversaries(stage, source, target, norm="l2", eps=0.5, steps=32))
        d_large = dist(feature_adversaries(stage, source, target, norm="l2", eps=4.0, steps=32))
    assert (d_small < d0).all() and (d_large < d_small).all()


# -- accuracy vs ε ------------------------------------------------------------------------------------------------
def test_accuracy_vs_eps_subsets_and_sem():
    """Per-subset accuracies equal a direct computation on each subset; SEM = std(ddof=1)/√subsets (numpy)."""
    from metazoo_core.robustness.evaluate import accuracy_vs_eps, draw_subsets

    net = small_cnn(10)
    x = torch.rand(40, 3, 16, 16, generator=torch.Generator().manual_seed(11))
    y = net(x).argmax(1)
    y[:5] = (y[:5] + 1) % 10  # five examples misclassified already at ε = 0
    res = accuracy_vs_eps(net, x, y, norm="l2", eps=[0.0, 1.0], subsets=4, n=20, seed=3, steps=8, batch_size=7)
    sets, _ = draw_subsets(40, 4, 20, 3)
    for row in res["results"]:
        adv = pgd(net, x, untargeted(y), norm="l2", eps=row["eps"], steps=8, step_size=row["eps"] / 4)
        ok = (net(adv).argmax(1) == y).float()
        direct = [ok[s].mean().item() for s in sets]
        assert row["per_subset"] == pytest.approx(direct)
        assert row["mean"] == pytest.approx(np.mean(direct))
        assert row["sem"] == pytest.approx(np.std(direct, ddof=1) / 2)
    assert res["results"][0]["mean"] < 1.0 and res["results"][1]["mean"] < res["results"][0]["mean"]


def test_fooling_and_feature_evaluations():
    from metazoo_core.robustness.evaluate import feature_adversaries_vs_eps, fooling_vs_eps

    net = small_cnn(12)
    fool = fooling_vs_eps(net, (3, 16, 16), 10, norm="linf", eps=[0.0, 0.4], subsets=2, n=16, steps=32)
    assert fool["results"][0]["mean"] <= 0.3 and fool["results"][1]["mean"] >= 0.9
    pool = torch.rand(200, 3, 16, 16, generator=torch.Generator().manual_seed(13))
    with torch.no_grad():
        pred = net(pool).argmax(1)
    first = [int((pred == c).nonzero()[0]) for c in pred.unique()[:4]]  # four inputs of four different classes
    x, y = pool[first], pred[first]
    feat = feature_adversaries_vs_eps(net, net, x, y, norm="l2", eps=[0.0, 8.0], subsets=2, n=8, steps=128)
    assert feat["results"][0]["mean"] == 0.0  # unperturbed sources keep their own (different) class
    assert feat["results"][1]["mean"] >= 0.9
    with pytest.raises(InputError):
        feature_adversaries_vs_eps(net, net, x[:1], y[:1], norm="l2", eps=[1.0])


# -- arguments --------------------------------------------------------------------------------------------------
def test_eps_grid_checks():
    grid, notices = check_eps([0, 1, 0.5])
    assert grid == [0.0, 0.5, 1.0] and len(notices) == 1
    grid, notices = check_eps([1.0, 0.5, 0.5])
    assert grid == [0.5, 1.0] and "sorted" in notices[0]
    assert check_eps([0, 0.5])[1] == []
    for bad in ([-0.1], [float("nan")], []):
        with pytest.raises(InputError):
            check_eps(bad)
    with pytest.raises(InputError, match="l1, l2 or linf"):
        check_norm("l3")
    assert check_norm("Linf") == "linf" and check_norm("L∞") == "linf"
    assert log_grid(1e-3, 1e2) == pytest.approx([0.0] + [10 ** (k / 2) for k in range(-6, 5)])


# -- must-show 4: the seed's SNR values -------------------------------------------------------------------------
def test_snr_reproduces_seed_values():
    assert round(waveform_snr_db("l2", 0.5), 2) == 32.04
    assert round(waveform_snr_db("l2", 1.0), 2) == 26.02
    assert round(waveform_snr_db("linf", 0.002), 2) == 33.98
    assert round(snr_db(40.65, 0.5), 2) == 38.20  # cochleagram perturbations (seed)
    assert round(snr_db(40.65, 1.0), 2) == 32.18
    with pytest.raises(InputError):
        snr_db(1.0, 0.0)
