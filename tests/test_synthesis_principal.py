"""Principal distortions on two digit CNNs (different random weights and stages) in float64: the two-pair solution
against the exact generalized eigenproblem scipy.linalg.eigh(F₁, F₂ + δI) built from independently computed
Jacobians, the authors' ascent for three pairs, and the result round trip."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from synthesis_models import digit, exact_fisher

from metazoo_core.synthesis.principal import PrincipalOptions, PrincipalResult, principal_distortions


@pytest.fixture(scope="module")
def pairs():
    return [(digit(0), "relu1"), (digit(1), "relu0")]


@pytest.fixture(scope="module")
def image():
    g = torch.Generator().manual_seed(5)
    return (0.1 + 0.8 * torch.rand(1, 1, 16, 16, generator=g)).double()


@pytest.mark.parametrize("delta", [0.0, 1e-3])
def test_two_pairs_reach_the_exact_generalized_eigenproblem(pairs, image, delta):
    f1, f2 = (exact_fisher(m, s, image[0]) for m, s in pairs)
    lam = scipy.linalg.eigh(f1, f2 + delta * np.eye(f1.shape[0]), eigvals_only=True)
    want = np.log(lam[-1]) - np.log(lam[0])
    (res,) = principal_distortions(pairs, image, PrincipalOptions(delta=delta))
    e1, e2 = (res.distortions[i].reshape(-1).numpy() for i in range(2))
    ratio = lambda e: (e @ f1 @ e) / (e @ (f2 + delta * np.eye(len(e))) @ e)  # noqa: E731
    got = np.log(ratio(e1)) - np.log(ratio(e2))
    assert abs(got - want) <= 1e-3
    if delta == 0.0:  # the reported log sensitivity ratios are the same quantity: r₁ − r₂ = 2(ρ₁ − ρ₂)
        assert abs(2 * float(res.log_ratios[0] - res.log_ratios[1]) - want) <= 1e-3
        assert res.objective[-1] == pytest.approx(float(res.log_ratios[0] - res.log_ratios[1]) ** 2, rel=1e-9)
    assert np.allclose(res.distortions.reshape(2, -1).norm(dim=1).numpy(), 0.1)


def test_ascent_stays_below_the_two_pair_optimum_and_climbs(pairs, image):
    f1, f2 = (exact_fisher(m, s, image[0]) for m, s in pairs)
    lam = scipy.linalg.eigh(f1, f2, eigvals_only=True)
    bound = (0.5 * (np.log(lam[-1]) - np.log(lam[0]))) ** 2  # the variance of 2 log ratios is ¼(r₁ − r₂)²
    # the authors' clamp scale 0.001 is sized for 224×224×3 images (‖ε‖ = 0.1 spread over 150,528 pixels); on 256
    # pixels it would bind every pixel, so the test uses c = 1 (x + ε stays in [0, 1])
    (res,) = principal_distortions(pairs, image, PrincipalOptions(method="ascent", steps=60, seed=3,
                                                                  clamp_scale=1.0))
    curve = res.objective.numpy()
    assert curve.max() <= bound * (1 + 1e-9)
    assert curve[-1] >= 0.8 * bound and curve[-1] > 4 * curve[0]  # a wrong gradient sign or term would not climb
    assert (image[0] + res.distortions).min() >= -1e-12 and (image[0] + res.distortions).max() <= 1 + 1e-12


def test_three_pairs_seeded_and_saved(pairs, image, tmp_path):
    three = [*pairs, (pairs[0][0], "relu2")]
    opts = PrincipalOptions(steps=10, seed=11)
    (a,) = principal_distortions(three, image, opts, names=["digit"])
    (b,) = principal_distortions(three, image, opts, names=["digit"])
    assert a.record["solver"] == "ascent" and torch.equal(a.distortions, b.distortions)
    a.save(tmp_path / "pd")
    back = PrincipalResult.read(tmp_path / "pd")
    assert torch.equal(back.log_ratios, a.log_ratios) and back.record["options"]["seed"] == 11
    assert back.record["pairs"][2] == ["digits0", "relu2"]
    assert len(back.plot().axes) == 4


def test_one_pair_is_refused(pairs, image):
    from metazoo_core.errors import InputError

    with pytest.raises(InputError, match="at least 2"):
        principal_distortions(pairs[:1], image)
