"""Float32 agreement from an error model, one rule for the engine's checks and for the tests (docs/fidelity.md,
"Numerical tolerances").

A float32 result is compared with a reference, and the accepted error is not a number seen on one CPU but one of:

- `rounding_tolerance`: ``max(FLOOR, ROUNDING_MARGIN × e₃₂)``, where e₃₂ is the float32 computation's own error
  against the same computation in float64, measured in the same check (the engine's frozen-model check and every
  `numerics` test) — the largest over the input itself and `ROUNDINGS` copies of it known only to float32
  precision (`input_roundings`: each element moved by −1, 0 or +1 ulp). A change of kernel path (vector width,
  oneDNN ISA, thread count, memory format) reorders sums and flips near-tie ReLU / max-pool decisions, which moves
  a float32 result by about as much as a one-ulp change of its input does; one float32-vs-float64 comparison alone
  can miss the flips (measured: ResNet50 probe gradient 1.2e-6 at x, 0.9e-3–1.9e-3 at six one-ulp neighbours,
  3.4e-3 after BatchNorm folding). Ten times that still rejects a wrong computation, whose error is of order 1.
- `condition_tolerance`: ``ROUNDING_MARGIN × FLOAT32_EPS × κ`` for a computation whose condition number κ is
  measured (e.g. Σ|xᵢ| ÷ |Σxᵢ| for a sum of n terms, times n) rather than re-run in float64.

Errors are relative: `relative_error` (max |Δ| ÷ max |ref|) and `relative_norm_error` (‖Δ‖₂ ÷ ‖ref‖₂).
"""
from __future__ import annotations

from typing import Any

import numpy as np

FLOAT32_EPS = 2.0 ** -23
"""float32 machine epsilon (the spacing of floats at 1; `torch.finfo(torch.float32).eps`)."""
FLOAT64_EPS = 2.0 ** -52
"""float64 machine epsilon."""
FLOOR = 1e-5
"""The smallest tolerance any float32 check uses (≈ 84 float32 eps): below it the float64 measurement of a well
conditioned computation (e₃₂ ≈ 1e-7) would turn a tolerance into a bitwise comparison."""
ROUNDING_MARGIN = 10.0
"""How many times its own float32 rounding error (against float64) a float32 result may move under another
kernel path."""
ROUNDINGS = 2
"""How many one-ulp neighbours of the input `input_roundings` adds to the input itself."""


def rounding_tolerance(own_error: float, floor: float = FLOOR, margin: float = ROUNDING_MARGIN) -> float:
    """max(floor, margin × own_error): the bound for a float32 result whose own error against float64 is
    `own_error` (relative, ≥ 0)."""
    return max(floor, margin * own_error)


def condition_tolerance(condition: float, margin: float = ROUNDING_MARGIN, eps: float = FLOAT32_EPS) -> float:
    """margin × eps × condition: the bound for a computation with measured condition number `condition` (≥ 1)."""
    return margin * eps * condition


def sum_condition(terms: Any, axis: int | None = None) -> float:
    """The condition number of summing `terms` (array-like): n × Σ|xᵢ| ÷ |Σxᵢ| (the worst case of recursive
    summation, Higham 2002 §4.2), the largest over `axis`' other entries; inf where a sum is 0."""
    t = np.asarray(terms, dtype=np.float64)
    n = t.size if axis is None else t.shape[axis]
    with np.errstate(divide="ignore", invalid="ignore"):
        k = n * np.abs(t).sum(axis=axis) / np.abs(t.sum(axis=axis))
    return float(np.max(np.where(np.isnan(k), np.inf, k)))


def input_roundings(x, n: int = ROUNDINGS, seed: int = 0) -> list:
    """`x` (a float32 tensor) and `n` copies in which every element is independently moved to its lower or upper
    float32 neighbour or kept (probability ⅓ each; fixed `seed`): the inputs a float32 computation cannot tell
    from `x`. Same shape, dtype and device as `x`."""
    import torch

    g = torch.Generator().manual_seed(seed)
    out = [x]
    for _ in range(n):
        step = torch.randint(-1, 2, x.shape, generator=g).to(x.device)
        toward = torch.where(step > 0, torch.full_like(x, torch.inf), torch.full_like(x, -torch.inf))
        out.append(torch.where(step == 0, x, torch.nextafter(x, toward)))
    return out


def relative_error(got, ref) -> float:
    """max |got − ref| ÷ max |ref| (absolute when ref is all zero); inf on a shape mismatch. Torch tensors or
    NumPy arrays."""
    if tuple(got.shape) != tuple(ref.shape):
        return float("inf")
    if not _numel(ref):
        return 0.0
    scale = float(abs(ref).max())
    diff = float(abs(got - ref).max())
    return diff / scale if scale > 0 else diff


def relative_norm_error(got, ref) -> float:
    """‖got − ref‖₂ ÷ ‖ref‖₂ (absolute when ref is zero); inf on a shape mismatch. Torch tensors or NumPy arrays."""
    if tuple(got.shape) != tuple(ref.shape):
        return float("inf")
    scale = _norm(ref)
    diff = _norm(got - ref)
    return diff / scale if scale > 0 else diff


def _numel(t) -> int:
    return int(t.numel()) if hasattr(t, "numel") else int(t.size)


def _norm(t) -> float:
    if hasattr(t, "norm"):
        return float(t.norm())
    return float(np.linalg.norm(np.asarray(t, dtype=np.float64).ravel()))
