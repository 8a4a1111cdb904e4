"""Principal distortions (Feather, Lipshutz, Harvey, Williams & Simoncelli, ICLR 2025): the pair of input
distortions (ε₁, ε₂) whose log sensitivity ratios differ most across a set of model–stage pairs.

For pair n with Fisher matrix Fₙ = JₙᵀJₙ at input x, tₙ²(ε) = εᵀFₙε and rₙ = log tₙ²(ε₁) − log tₙ²(ε₂); the
objective (the authors' `compute_diff_objective`) is the variance mean_n (rₙ − r̄)². Each pair's log sensitivity
ratio log(dₙ(ε₁)/dₙ(ε₂)) = rₙ/2, dₙ(ε) = √(εᵀFₙε).

- "generalized" (two pairs): the variance is ¼(r₁ − r₂)² with r₁ − r₂ = log R(ε₁) − log R(ε₂), R(ε) =
  εᵀF₁ε / εᵀ(F₂ + δI)ε, so the optimum is the pair of generalized eigenvectors of (F₁, F₂ + δI) with the largest and
  smallest eigenvalue. Solved by LOBPCG (`scipy.sparse.linalg.lobpcg`) on Fisher-matrix products, never forming F.
- "ascent" (any number of pairs): the authors' projected, normalised gradient ascent (`optimal_perturbations`, as
  read in docs/fidelity.md): update_a = Σₙ(rₙ − r̄)(uₙᵃ − ūᵃ), uₙ = Fₙε/(εᵀFₙε), update_b the same with ε₂ and the
  opposite sign; updates clamped to [−1, 1], rescaled to `norm` when their mean norm (before the clamp) exceeds it;
  ε ← ε + lr·update, renormalised to `norm`, then clamped so that x + ε/clamp_scale stays in the input range.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..errors import InputError
from ..options import check_count, check_positive, check_seed
from .fisher import FisherOperator
from .plots import show
from .records import read_result, write_result

SCHEMA = "metazoo.principal_distortions/1"
METHODS = ("auto", "generalized", "ascent")


@dataclass(frozen=True)
class PrincipalOptions:
    """method: "generalized" (two pairs only), "ascent", or "auto" (generalized for two pairs, else ascent);
    delta: δ added to F₂'s diagonal (generalized; 0 needs F₂ positive definite); tol/max_iter: LOBPCG's residual
    tolerance and iterations; steps, lr_from, lr_to: ascent steps and its learning rates logspace(lr_from → lr_to)
    (the authors' DNN defaults 100, 0, −2); norm: ‖ε‖ (authors 0.1); clamp_scale: c in the pixel clamp (authors
    0.001); seed: the initial ε (the authors' code sets none)."""

    method: str = "auto"
    delta: float = 0.0
    tol: float = 1e-10
    max_iter: int = 2000
    steps: int = 100
    lr_from: float = 0.0
    lr_to: float = -2.0
    norm: float = 0.1
    clamp_scale: float = 0.001
    seed: int = 0

    def __post_init__(self):
        if self.method not in METHODS:
            raise InputError(f"--method {self.method!r}: choose one of {', '.join(METHODS)}")
        if not (self.delta >= 0 and math.isfinite(self.delta)):
            raise InputError(f"--delta {self.delta!r}: give a finite number ≥ 0")
        check_positive(self.tol, "--tol")
        check_count(self.max_iter, "--max-iter")
        check_count(self.steps, "--steps")
        for name, v in (("--lr", self.lr_from), ("--lr", self.lr_to)):
            if not math.isfinite(v):
                raise InputError(f"{name} {v!r}: give finite log10 learning rates, e.g. 0:-2")
        check_positive(self.norm, "--norm")
        check_positive(self.clamp_scale, "--clamp-scale")
        check_seed(self.seed)


@dataclass
class PrincipalResult:
    """One input's principal distortions.

    distortions: (2, *input shape) ε₁ (most discriminating one way) and ε₂, each of norm `options.norm` (before the
    ascent's clamp); sensitivities: (P, 2) tₙ²(ε₁), tₙ²(ε₂) per pair; log_ratios: (P,) log(dₙ(ε₁)/dₙ(ε₂));
    objective: (S,) the variance after each step (ascent) or (1,) at the solution (generalized).
    """

    original: Tensor
    distortions: Tensor
    sensitivities: Tensor
    log_ratios: Tensor
    objective: Tensor
    record: dict

    def save(self, folder: Path | str) -> Path:
        tensors = {"original": self.original, "distortions": self.distortions, "sensitivities": self.sensitivities,
                   "log_ratios": self.log_ratios, "objective": self.objective}
        return write_result(folder, SCHEMA, tensors, {**self.record, "log_ratios": self.log_ratios.tolist()})

    @classmethod
    def read(cls, folder: Path | str) -> "PrincipalResult":
        t, record = read_result(folder, SCHEMA)
        return cls(t["original"], t["distortions"], t["sensitivities"], t["log_ratios"], t["objective"], record)

    def plot(self):
        """A figure: ε₁ and ε₂, each pair's log sensitivity ratio, and the objective curve."""
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt

        fig, axes = plt.subplots(1, 4, figsize=(11, 2.8))
        for ax, eps, name in zip(axes[:2], self.distortions, ("ε₁", "ε₂")):
            show(ax, eps, name)
        labels = [f"{m}:{s}" for m, s in self.record["pairs"]]
        axes[2].barh(range(len(labels)), self.log_ratios.numpy())
        axes[2].set_yticks(range(len(labels)), labels, fontsize=7)
        axes[2].set_xlabel("log d(ε₁)/d(ε₂)")
        axes[3].plot(self.objective.numpy(), marker="." if self.objective.numel() == 1 else None)
        axes[3].set_xlabel("step")
        axes[3].set_ylabel("variance of log ratios")
        fig.tight_layout()
        return fig


def _sensitivities(ops: list[FisherOperator], eps: Tensor) -> tuple[Tensor, Tensor]:
    """(B, 2, n) → (F products (P, B, 2, n), t² (P, B, 2))."""
    fv, t2 = zip(*(op.fvp(eps) for op in ops))
    return torch.stack(fv), torch.stack(t2)


def _variance(t2: Tensor) -> Tensor:
    """(P, B, 2) → (B,) mean_n (rₙ − r̄)², rₙ = log tₙ²(ε₁) − log tₙ²(ε₂)."""
    r = t2[..., 0].log() - t2[..., 1].log()
    return (r - r.mean(0)).square().mean(0)


def _ascent(ops: list[FisherOperator], x: Tensor, lo: float, hi: float, opts: PrincipalOptions,
            generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """The authors' gradient ascent, batched over inputs: ((B, 2, n) ε, (B, steps) objective after each step)."""
    b, n = x.shape[0], x[0].numel()
    eps = torch.randn(b, 2, n, generator=generator, dtype=torch.float64).to(x)
    eps = eps * (opts.norm / eps.norm(dim=-1, keepdim=True))
    flat = x.reshape(b, 1, n)
    low, high = opts.clamp_scale * (lo - flat), opts.clamp_scale * (hi - flat)
    lrs = torch.logspace(opts.lr_from, opts.lr_to, opts.steps, dtype=torch.float64).tolist()
    curve = torch.empty(b, opts.steps, dtype=x.dtype, device=x.device)
    sign = torch.tensor([1.0, -1.0], dtype=x.dtype, device=x.device).view(1, 2, 1)
    fv, t2 = _sensitivities(ops, eps)
    for step, lr in enumerate(lrs):
        r = t2[..., 0].log() - t2[..., 1].log()  # (P, B)
        u = fv / t2.unsqueeze(-1)  # (P, B, 2, n)
        dev = (r - r.mean(0)).view(*r.shape, 1, 1)
        update = sign * (dev * (u - u.mean(0))).sum(0)  # (B, 2, n)
        norms = update.norm(dim=-1, keepdim=True)
        update = update.clamp(-1.0, 1.0)
        too_big = norms.mean(dim=1, keepdim=True) > opts.norm
        update = torch.where(too_big, update * (opts.norm / norms), update)
        eps = eps + lr * update
        eps = eps * (opts.norm / eps.norm(dim=-1, keepdim=True))
        eps = torch.maximum(torch.minimum(eps, high), low)
        fv, t2 = _sensitivities(ops, eps)
        curve[:, step] = _variance(t2)
    return eps, curve


def _generalized(op1: FisherOperator, op2: FisherOperator, opts: PrincipalOptions,
                 generator: torch.Generator) -> Tensor:
    """The generalized eigenvectors of (F₁, F₂ + δI) with the largest and smallest eigenvalue, for one-input
    operators: (2, n)."""
    import numpy as np
    from scipy.sparse.linalg import LinearOperator, lobpcg

    n, dtype, device = op1.n, op1.response.dtype, op1.response.device

    def product(op: FisherOperator, delta: float):
        def matmat(v):
            v = torch.as_tensor(np.asarray(v).reshape(n, -1).T, dtype=dtype, device=device)
            out = torch.stack([op.fvp(col.view(1, 1, n))[0].view(n) for col in v])
            return (out + delta * v).double().cpu().numpy().T
        return LinearOperator((n, n), matvec=matmat, matmat=matmat, dtype=np.float64)

    a, m = product(op1, 0.0), product(op2, opts.delta)
    vecs = []
    for largest in (True, False):
        x0 = torch.randn(n, 1, generator=generator, dtype=torch.float64).numpy()
        _, v = lobpcg(a, x0, B=m, largest=largest, tol=opts.tol, maxiter=opts.max_iter)
        vecs.append(torch.as_tensor(v[:, 0], dtype=dtype, device=device))
    return torch.stack(vecs)


def principal_distortions(pairs: list[tuple[object, str]], x: Tensor,
                          options: PrincipalOptions = PrincipalOptions(),
                          names: list[str] | None = None) -> list[PrincipalResult]:
    """Principal distortions of `pairs` ((StagedModel, stage), at least 2, all with the input shape of x) at each
    input x: (B, *input shape) in the input range (load models with fake_relu=False). One result per input."""
    if len(pairs) < 2:
        raise InputError(f"--pair given {len(pairs)} time(s): principal distortions compare at least 2 "
                         "model–stage pairs")
    shapes = {tuple(m.spec.input.shape) for m, _ in pairs}
    if len(shapes) > 1:
        raise InputError(f"the pairs' models take different inputs ({', '.join(map(str, sorted(shapes)))}); "
                         "give models with one input shape")
    for m, s in pairs:
        m.check_stages([s])
    method = options.method if options.method != "auto" else ("generalized" if len(pairs) == 2 else "ascent")
    if method == "generalized" and len(pairs) != 2:
        raise InputError(f"--method generalized solves two pairs exactly; {len(pairs)} were given (use ascent)")
    generator = torch.Generator().manual_seed(options.seed)
    b = x.shape[0]
    lo, hi = pairs[0][0].input_range
    ops = [FisherOperator(m, s, x, copies=2) for m, s in pairs]
    if method == "ascent":
        eps, curve = _ascent(ops, x, lo, hi, options, generator)
    else:
        (m1, s1), (m2, s2) = pairs
        eps = torch.stack([_generalized(FisherOperator(m1, s1, x[i:i + 1]), FisherOperator(m2, s2, x[i:i + 1]),
                                        options, generator) for i in range(b)])
        eps = eps * (options.norm / eps.norm(dim=-1, keepdim=True))
    _, t2 = _sensitivities(ops, eps)  # (P, B, 2)
    if method == "generalized":
        curve = _variance(t2).unsqueeze(1)
    log_ratio = 0.5 * (t2[..., 0].log() - t2[..., 1].log())  # (P, B)
    out = []
    for i in range(b):
        record = {"method": "principal_distortions", "solver": method,
                  "pairs": [[m.spec.id, s] for m, s in pairs], "input": names[i] if names else str(i),
                  "options": asdict(options), "objective_final": float(curve[i, -1]),
                  "fake_relu": [bool(getattr(m, "fake_relu", False)) for m, _ in pairs],
                  "random_weights": [bool(getattr(m, "random_weights", False)) for m, _ in pairs],
                  "dtype": str(x.dtype).replace("torch.", "")}
        out.append(PrincipalResult(x[i].detach().cpu(), eps[i].reshape(2, *x.shape[1:]).detach().cpu(),
                                   t2[:, i].detach().cpu(), log_ratio[:, i].detach().cpu(),
                                   curve[i].detach().cpu(), record))
    return out
