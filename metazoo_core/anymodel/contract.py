"""The contract a discovered model must pass before synthesis (`metazoo check ID`), callable by any suite:
`contract(model, oracle, oracle_stages)` on a StagedModel.

Checks (each "ok" or a one-line reason):
- fires: every stage is recorded by one forward of all stages;
- truncation: asking for one stage stops the forward there (the network's own forward never completes, except for
  `final`) and gives the same tensor bitwise as the full forward;
- shapes: the recorded per-example shapes (from the meta-device forward at resolve time) equal the real ones at
  batch 2 and batch 1;
- oracle: each tap equals the upstream library's own intermediate (timm `forward_intermediates`, torchvision FX
  `create_feature_extractor`) to REL_TOL relative, after reordering layout (NHWC, NLC tokens without prefix tokens
  → NCHW); `final` equals the network's output computed without hooks;
- determinism: two forwards are bitwise equal;
- frozen: no parameter requires or receives a gradient.
Gradient to the input from each stage (∂ Σ stage·r / ∂x finite and not all zero) decides `unusable`: a stage that
fails is marked not usable for metamers, with the reason; it does not fail the contract.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from .discover import FINAL

REL_TOL = 1e-6
"""Tap vs upstream intermediate: the same float32 kernels on the same input compute both, so they agree to
rounding of a few ops (float32 eps ≈ 1.2e-7 times a handful of reordered reductions)."""


def _as_reference_layout(tap: Tensor, ref: Tensor) -> Tensor | None:
    """`tap` in `ref`'s layout: unchanged, NHWC → NCHW, or tokens (B, L, C) → (B, C, H, W) keeping the last H·W
    tokens (prefix class/register tokens dropped); None when no such view fits."""
    if tap.shape == ref.shape:
        return tap
    if tap.dim() == 4 and ref.dim() == 4 and tap.permute(0, 3, 1, 2).shape == ref.shape:
        return tap.permute(0, 3, 1, 2)
    if tap.dim() == 3 and ref.dim() == 4:
        b, c, h, w = ref.shape
        if tap.shape[2] == c and tap.shape[1] >= h * w:
            return tap[:, tap.shape[1] - h * w:].transpose(1, 2).reshape(b, c, h, w)
    return None


def relative_error(a: Tensor, b: Tensor) -> float:
    """max |a − b| / max |b| (0 when both are zero)."""
    scale = b.abs().max().item()
    diff = (a - b).abs().max().item()
    return diff / scale if scale > 0 else diff


def _oracle_check(values: dict[str, Tensor], refs: Sequence[Tensor], stages: Sequence[str]) -> str:
    if len(refs) != len(stages):
        return f"upstream gave {len(refs)} intermediates for {len(stages)} stages"
    for name, ref in zip(stages, refs):
        tap = _as_reference_layout(values[name], ref)
        if tap is None:
            return f"stage {name}: shape {tuple(values[name].shape)} does not match upstream {tuple(ref.shape)}"
        err = relative_error(tap, ref)
        if not err <= REL_TOL:
            return f"stage {name}: relative error {err:.2e} > {REL_TOL:g} against upstream"
    return "ok"


def contract(model: Any, oracle: Callable[[Tensor], Sequence[Tensor]] | None = None,
             oracle_stages: Sequence[str] = (), batch: int = 2, seed: int = 0) -> dict[str, Any]:
    """Run the contract on a StagedModel (any metazoo model).

    oracle: normalised input (B, *input) → the upstream intermediates of `oracle_stages`, in that order (None,
        or an oracle returning None: the oracle check is skipped and says so).
    Inputs: `batch` uniform draws in the input range (seeded).
    Returns {"passed": bool, "checks": {name: "ok" | reason}, "unusable": {stage: reason}, "stages": [...]}.
    """
    spec = model.spec
    names = spec.stage_names
    gen = torch.Generator().manual_seed(seed)
    lo, hi = model.input_range
    x = lo + (hi - lo) * torch.rand(batch, *spec.input.shape, generator=gen)
    checks: dict[str, str] = {}
    with torch.no_grad():
        full = model(x)
        again = model(x)
        checks["fires"] = "ok"  # model(x) raises when a stage is never reached
        checks["determinism"] = "ok" if all(torch.equal(full[s], again[s]) for s in names) else \
            "two forwards differ: " + ", ".join(s for s in names if not torch.equal(full[s], again[s]))
        checks["truncation"] = _truncation(model, x, full)
        single = model(x[:1])
        bad = [s for s in names if tuple(full[s].shape[1:]) != tuple(spec.stage(s).shape)
               or tuple(single[s].shape[1:]) != tuple(spec.stage(s).shape)]
        checks["shapes"] = "ok" if not bad else "real shapes differ from the recorded (meta) ones: " + ", ".join(
            f"{s} {tuple(full[s].shape[1:])} vs {tuple(spec.stage(s).shape)}" for s in bad)
        z = model.preprocess(x)
        refs = oracle(z) if oracle else None
        checks["oracle"] = _oracle_check(full, refs, oracle_stages) if refs is not None else "skipped (no oracle)"
        if FINAL in names and checks["oracle"] in ("ok", "skipped (no oracle)"):
            err = relative_error(full[FINAL], model.net(z))
            checks["final"] = "ok" if err <= REL_TOL else f"final differs from the network's output by {err:.2e}"
    unusable = {s: r for s in names if (r := _gradient_problem(model, x, s, gen))}
    frozen = all(not p.requires_grad and p.grad is None for p in model.parameters())
    checks["frozen"] = "ok" if frozen else "a parameter requires or received a gradient"
    return {"passed": all(v == "ok" or v.startswith("skipped") for v in checks.values()),
            "checks": checks, "unusable": unusable, "stages": names}


def _truncation(model: Any, x: Tensor, full: dict[str, Tensor]) -> str:
    completed: list[int] = []
    handle = model.net.register_forward_hook(lambda *args: completed.append(1))
    try:
        for s in model.spec.stage_names:
            completed.clear()
            value = model(x, [s])[s]
            if s != FINAL and completed:
                return f"asking for stage {s} ran the whole network"
            if not torch.equal(value, full[s]):
                return f"stage {s} alone differs from the full forward"
    finally:
        handle.remove()
    return "ok"


def _gradient_problem(model: Any, x: Tensor, stage: str, gen: torch.Generator) -> str | None:
    """None when ∂ Σ stage·r / ∂x (r standard normal) is finite and not all zero, else the reason."""
    xg = x.clone().requires_grad_(True)
    value = model(xg, [stage])[stage]
    if not value.requires_grad:
        return "no gradient path from the input"
    r = torch.randn(value.shape, generator=gen)
    (grad,) = torch.autograd.grad((value * r).sum(), xg)
    if not torch.isfinite(grad).all():
        return "non-finite input gradient"
    if not grad.abs().max() > 0:
        return "zero input gradient"
    return None
