"""Eigendistortions on the Experiment B digit CNN (n = 256 input elements) in float64: every solver against the
exact Fisher matrix built independently (torch.autograd.functional.jacobian + numpy.linalg.eigh), plenoptic's
`Eigendistortion(..., method="exact")` on the same model and image, and the saved result round trip."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from synthesis_models import digit, exact_fisher

from metazoo_core.synthesis.eigen import EigendistortionOptions, EigendistortionResult, eigendistort

STAGE = "relu1"  # 2,048 units ≥ 256 inputs: F is full rank, so the bottom eigenvalues are distinct from 0
EPS = np.finfo(np.float64).eps


@pytest.fixture(scope="module")
def model():
    return digit(0)


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(1)
    return (0.1 + 0.8 * torch.rand(2, 1, 16, 16, generator=g)).double()


def _exact_spectrum(model, x):
    """numpy.linalg.eigh of JᵀJ, J from torch.autograd.functional.jacobian (independent of metazoo's products)."""
    lam, vec = np.linalg.eigh(exact_fisher(model, STAGE, x))
    return lam[::-1], vec[:, ::-1]


@pytest.fixture(scope="module")
def exact(model, images):
    return [_exact_spectrum(model, x) for x in images]


K = 3


@pytest.mark.parametrize("method", ["exact", "lanczos"])
def test_eigenvalues_equal_the_exact_fisher_matrix(model, images, exact, method):
    tol = 1e-12
    opts = EigendistortionOptions(k=K, method=method, tol=tol, max_iter=20000)
    results = eigendistort(model, STAGE, images, opts)
    for res, (lam, vec) in zip(results, exact):
        want = np.concatenate([lam[:K], lam[-K:]])
        got = res.eigenvalues.numpy()
        # error model: eigh's backward error ~ n·eps·λ₁ and, for the iterative solvers, the stopping residual
        # (Bauer–Fike for symmetric F: some eigenvalue lies within ‖Fv − λv‖ of the Rayleigh quotient)
        bound = lam[0] * (256 * EPS + tol) + res.residuals.numpy().max()
        assert np.abs(got - want).max() <= bound
        assert np.abs(got - want).max() / lam[0] <= 1e-6  # the requirement, relative to λ₁
        # eigenvectors up to sign: |cos| → 1 with error ~ (residual/gap)²
        cos = np.abs(np.einsum("kn,nk->k", res.distortions.reshape(2 * K, -1).numpy(),
                               np.concatenate([vec[:, :K], vec[:, -K:]], axis=1)))
        assert cos.min() > 1 - 1e-6
        assert np.allclose(res.distortions.reshape(2 * K, -1).norm(dim=1).numpy(), 1.0, atol=1e-12)
        assert res.eigenindex.tolist() == [0, 1, 2, 253, 254, 255]


def test_power_iteration_within_its_residual_bound(model, images, exact):
    """Power iteration stopped early: each reported value lies within its residual ‖Fv − λv‖ of some exact
    eigenvalue (Bauer–Fike, symmetric F); the Ritz values interlace (top ones ≤ the exact top, bottom ones ≥ the
    exact bottom, Cauchy); and the top ones, which converge fast, reach the 1e-6 relative accuracy."""
    (res,) = eigendistort(model, STAGE, images[:1], EigendistortionOptions(k=K, method="power", tol=1e-10,
                                                                           max_iter=300))
    lam, _ = exact[0]
    want = np.concatenate([lam[:K], lam[-K:]])
    got = res.eigenvalues.numpy()
    err = np.abs(got - want)
    slack = 256 * EPS * lam[0]
    nearest = np.abs(got[:, None] - lam[None, :]).min(axis=1)
    assert np.all(nearest <= res.residuals.numpy() + slack)
    assert np.all(got[:K] <= want[:K] + slack) and np.all(got[K:] >= want[K:] - slack)
    assert err[:K].max() / lam[0] <= 1e-6


def test_matches_plenoptic_exact(model, images):
    po = pytest.importorskip("plenoptic")

    class Stage(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = model

        def forward(self, x):
            return self.m(x, [STAGE])[STAGE]

    x = images[:1]
    ed = po.Eigendistortion(x, Stage().eval())
    ed.synthesize(method="exact")
    theirs_lam = ed.eigenvalues.detach().numpy()
    theirs_vec = ed.eigendistortions.detach().reshape(256, -1).numpy()
    (ours,) = eigendistort(model, STAGE, x, EigendistortionOptions(k=128, method="exact"))
    lam = ours.eigenvalues.numpy()
    # both are eigh of JᵀJ for the same J (built in different orders): equal to eigh's n·eps·λ₁ rounding
    assert np.abs(lam - theirs_lam).max() <= 256 * EPS * lam[0]
    gaps = np.abs(np.diff(theirs_lam))
    gap = np.minimum(np.r_[gaps, np.inf], np.r_[np.inf, gaps])  # distance to the nearest other eigenvalue
    cos = np.abs(np.einsum("kn,kn->k", ours.distortions.reshape(256, -1).numpy(), theirs_vec))
    # Davis–Kahan: sin∠ ≤ ‖ΔF‖/gap with ‖ΔF‖ ≲ n·eps·λ₁, and 1 − |cos| ≈ sin²/2
    assert np.all(1 - cos <= (256 * EPS * lam[0] / gap) ** 2 + 64 * EPS)


def test_batch_equals_single_runs(model, images):
    opts = EigendistortionOptions(k=2, method="exact")
    both = eigendistort(model, STAGE, images, opts)
    one = eigendistort(model, STAGE, images[1:], opts)[0]
    lam1 = float(both[1].eigenvalues[0])
    assert torch.allclose(both[1].eigenvalues, one.eigenvalues, rtol=0, atol=256 * EPS * lam1)


def test_save_read_plot(model, images, tmp_path):
    (res,) = eigendistort(model, STAGE, images[:1], EigendistortionOptions(k=1, method="exact"), names=["digit"])
    res.save(tmp_path / "r")
    back = EigendistortionResult.read(tmp_path / "r")
    assert torch.equal(back.distortions, res.distortions) and torch.equal(back.eigenvalues, res.eigenvalues)
    assert back.record["versions"]["torch"] == torch.__version__ and back.record["options"]["seed"] == 0
    assert back.record["input"] == "digit" and back.record["fake_relu"] is False
    fig = back.plot()
    assert len(fig.axes) == 2


def test_bad_options_are_one_line():
    from metazoo_core.errors import InputError

    with pytest.raises(InputError, match="--method"):
        EigendistortionOptions(method="svd")
    with pytest.raises(InputError, match="--k"):
        EigendistortionOptions(k=0)
