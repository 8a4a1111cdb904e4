"""Eigendistortions (Berardino et al. 2017): the input directions a stage is most and least sensitive to.

They are the top and bottom eigenvectors of the Fisher matrix F = JᵀJ of the stage's response at an input. Three
solvers, all on Fisher-matrix products (`fisher.FisherOperator`) except "exact":

- "power": orthogonal (block) power iteration with a Rayleigh–Ritz step per iteration, batched over inputs and the
  k vectors; the bottom k by the same iteration on λ₁·I − F (as plenoptic's `_synthesize_power`). Stops when every
  vector's eigen-residual ‖Fv − λv‖ ≤ tol·λ₁, or after `max_iter` iterations.
- "lanczos": implicitly restarted Lanczos (ARPACK, `scipy.sparse.linalg.eigsh`, which="LA" and "SA") on a
  LinearOperator v ↦ Fv, one input at a time; `tol` is eigsh's relative eigenvalue accuracy.
- "exact": J built from n Jacobian–vector products, then `torch.linalg.eigh(JᵀJ)` (small inputs only).

Every eigenvalue is reported as λ = ‖Jv‖² of the final unit vector, with its residual ‖Fv − λv‖.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from ..errors import InputError
from ..options import check_count, check_positive, check_seed
from .fisher import FisherOperator, jacobian
from .plots import show
from .records import read_result, write_result

SCHEMA = "metazoo.eigendistortion/1"
METHODS = ("power", "lanczos", "exact")
EXACT_MAX_INPUT = 10_000
"""Largest input (elements) for method "exact": F alone is n² numbers (0.8 GB in float64 at this size); plenoptic
warns above the same size (its `_jacobian`)."""


@dataclass(frozen=True)
class EigendistortionOptions:
    """k: eigenvectors from each end of the spectrum; method: see the module docstring; max_iter: power iterations
    (per end) or Lanczos restarts; tol: relative residual (power) or eigenvalue accuracy (lanczos); seed: the start
    vectors; display_rms: RMS per element of α·v in the saved x ± α·v, as a fraction of the input range (a
    display choice of metazoo's)."""

    k: int = 1
    method: Literal["power", "lanczos", "exact"] = "power"
    max_iter: int = 1000
    tol: float = 1e-7
    seed: int = 0
    display_rms: float = 0.05

    def __post_init__(self):
        check_count(self.k, "--k")
        check_count(self.max_iter, "--max-iter")
        check_positive(self.tol, "--tol")
        check_seed(self.seed)
        check_positive(self.display_rms, "--display-rms")
        if self.method not in METHODS:
            raise InputError(f"--method {self.method!r}: choose one of {', '.join(METHODS)}")


@dataclass
class EigendistortionResult:
    """One input's eigendistortions at one stage.

    eigenvalues: (2k,) descending (top k, then bottom k); eigenindex: (2k,) their ranks in [0, n); distortions:
    (2k, *input shape) unit L2 norm, in input units; residuals: (2k,) ‖Fv − λv‖; record: method, options, the
    same numbers as lists, and "iterations" per end (power iterations, ARPACK matrix–vector products, or 0 for exact).
    """

    original: Tensor
    eigenvalues: Tensor
    eigenindex: Tensor
    distortions: Tensor
    residuals: Tensor
    record: dict

    def alpha(self, input_range: tuple[float, float]) -> float:
        """The display scale α: RMS of α·v = display_rms × the input range (v has unit norm)."""
        lo, hi = input_range
        return self.record["options"]["display_rms"] * (hi - lo) * self.distortions[0].numel() ** 0.5

    def save(self, folder: Path | str) -> Path:
        tensors = {"original": self.original, "eigenvalues": self.eigenvalues, "eigenindex": self.eigenindex,
                   "distortions": self.distortions, "residuals": self.residuals}
        return write_result(folder, SCHEMA, tensors, self.record)

    @classmethod
    def read(cls, folder: Path | str) -> "EigendistortionResult":
        t, record = read_result(folder, SCHEMA)
        return cls(t["original"], t["eigenvalues"], t["eigenindex"], t["distortions"], t["residuals"], record)

    def plot(self):
        """A figure: the distortions (images: first channel or RGB rescaled; sounds: waveforms) above the
        eigenvalue of each."""
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt

        n = self.distortions.shape[0]
        fig, axes = plt.subplots(1, n, figsize=(2.2 * n, 2.4), squeeze=False)
        for ax, v, lam, idx in zip(axes[0], self.distortions, self.eigenvalues, self.eigenindex):
            show(ax, v, f"#{int(idx)}  λ={float(lam):.3g}")
        fig.suptitle(f"eigendistortions of {self.record.get('model')} / {self.record.get('stage')}", fontsize=9)
        fig.tight_layout()
        return fig


def _orthonormal(v: Tensor) -> Tensor:
    """(B, k, n) → rows orthonormalised per input (QR of the transpose)."""
    return torch.linalg.qr(v.transpose(1, 2)).Q.transpose(1, 2)


def _power(op: FisherOperator, v: Tensor, opts: EigendistortionOptions,
           shift: Tensor | None) -> tuple[Tensor, Tensor, int]:
    """Orthogonal iteration on F (shift None) or shift·I − F ((B,) shift), with Rayleigh–Ritz each iteration;
    returns (B, k, n) orthonormal vectors, their (B, k) Rayleigh quotients (before the last update) and the
    iterations run."""
    v = _orthonormal(v)
    it = 0
    while it < opts.max_iter:
        it += 1
        fv, _ = op.fvp(v)
        h = v @ fv.transpose(1, 2)  # (B, k, k) Rayleigh–Ritz on the block
        lam, rot = torch.linalg.eigh((h + h.transpose(1, 2)) / 2)
        rot = rot.flip(-1) if shift is None else rot  # top: largest λ first; bottom: smallest first
        lam = lam.flip(-1) if shift is None else lam
        v, fv = rot.transpose(1, 2) @ v, rot.transpose(1, 2) @ fv
        scale = (lam[:, :1] if shift is None else shift[:, None]).abs().clamp_min(torch.finfo(v.dtype).tiny)
        residual = (fv - lam.unsqueeze(-1) * v).norm(dim=-1) / scale
        if bool((residual <= opts.tol).all()):
            break
        v = _orthonormal(fv if shift is None else shift[:, None, None] * v - fv)
    return v, lam, it


def _lanczos(op: FisherOperator, opts: EigendistortionOptions, which: str,
             generator: torch.Generator) -> tuple[Tensor, int]:
    """The k extreme eigenvectors of a one-input operator by ARPACK ("LA" top, "SA" bottom), descending: (k, n),
    and the matrix–vector products used."""
    import numpy as np
    from scipy.sparse.linalg import LinearOperator, eigsh

    dtype, device = op.response.dtype, op.response.device
    count = [0]

    def matvec(u):
        count[0] += 1
        v = torch.as_tensor(np.asarray(u).reshape(1, 1, -1), dtype=dtype, device=device)
        return op.fvp(v)[0].reshape(-1).double().cpu().numpy()

    lin = LinearOperator((op.n, op.n), matvec=matvec, dtype=np.float64)
    v0 = torch.randn(op.n, generator=generator, dtype=torch.float64).numpy()
    _, vecs = eigsh(lin, k=opts.k, which=which, v0=v0, tol=opts.tol, maxiter=opts.max_iter * op.n)
    return torch.as_tensor(vecs.T[::-1].copy(), dtype=dtype, device=device), count[0]  # eigsh: ascending


def _exact(model, stage: str, x: Tensor, k: int) -> Tensor:
    """(B, 2k, n): top k then bottom k eigenvectors of JᵀJ by `torch.linalg.eigh`, descending."""
    j = jacobian(model, stage, x)
    _, vecs = torch.linalg.eigh(j.transpose(1, 2) @ j)
    vecs = vecs.flip(-1).transpose(1, 2)  # (B, n, n) rows by descending eigenvalue
    return torch.cat([vecs[:, :k], vecs[:, -k:]], dim=1)


def eigendistort(model, stage: str, x: Tensor, options: EigendistortionOptions = EigendistortionOptions(),
                 names: list[str] | None = None) -> list[EigendistortionResult]:
    """The top and bottom `options.k` eigendistortions of `stage` at each input.

    model: a `StagedModel` (load it with fake_relu=False for the true Fisher matrix); x: (B, *input shape) in the
    model's input range, any float dtype (float64 for exactness checks). Returns one result per input.
    """
    model.check_stages([stage])
    k, n = options.k, x[0].numel()
    if 2 * k > n:
        raise InputError(f"--k {k}: the input has {n} elements, so at most {n // 2} eigenvectors from each end")
    if options.method == "exact" and n > EXACT_MAX_INPUT:
        raise InputError(f"--method exact: the input has {n} elements (limit {EXACT_MAX_INPUT}); use power or lanczos")
    generator = torch.Generator().manual_seed(options.seed)
    b = x.shape[0]
    iterations = [0, 0]
    if options.method == "exact":
        vecs = _exact(model, stage, x, k)
    else:
        if options.method == "power":
            op = FisherOperator(model, stage, x, copies=k)
            start = torch.randn(b, 2, k, n, generator=generator, dtype=torch.float64).to(x)
            top, lam_top, iterations[0] = _power(op, start[:, 0], options, None)
            bottom, _, iterations[1] = _power(op, start[:, 1], options, lam_top[:, 0])
            vecs = torch.cat([top, bottom.flip(1)], dim=1)
        else:
            ops = [FisherOperator(model, stage, x[i:i + 1]) for i in range(b)]
            parts = [[_lanczos(op, options, which, generator) for op in ops] for which in ("LA", "SA")]
            iterations = [sum(c for _, c in p) for p in parts]
            vecs = torch.cat([torch.stack([v for v, _ in p]) for p in parts], dim=1)
    return _results(model, stage, x, vecs, options, iterations, names)


def _results(model, stage: str, x: Tensor, vecs: Tensor, options: EigendistortionOptions, iterations: list[int],
             names: list[str] | None) -> list[EigendistortionResult]:
    """Eigenvalues ‖Jv‖² and residuals ‖Fv − λv‖ of the (B, 2k, n) unit vectors, one operator pass."""
    b, two_k, n = vecs.shape
    vecs = vecs / vecs.norm(dim=-1, keepdim=True)
    op = FisherOperator(model, stage, x, copies=two_k)
    fv, lam = op.fvp(vecs)
    residual = (fv - lam.unsqueeze(-1) * vecs).norm(dim=-1)
    k = two_k // 2
    index = torch.cat([torch.arange(k), torch.arange(n - k, n)])
    out = []
    for i in range(b):
        record = {"method": "eigendistortion", "model": model.spec.id, "stage": stage,
                  "input": names[i] if names else str(i), "options": asdict(options),
                  "fake_relu": bool(getattr(model, "fake_relu", False)), "dtype": str(x.dtype).replace("torch.", ""),
                  "random_weights": bool(getattr(model, "random_weights", False)),
                  "eigenvalues": lam[i].tolist(), "eigenindex": index.tolist(), "residuals": residual[i].tolist(),
                  "max_relative_residual": float(residual[i].max() / lam[i].max().clamp_min(1e-300)),
                  "iterations": list(iterations)}
        out.append(EigendistortionResult(x[i].detach().cpu(), lam[i].detach().cpu(), index.clone(),
                                         vecs[i].reshape(two_k, *x.shape[1:]).detach().cpu(),
                                         residual[i].detach().cpu(), record))
    return out
