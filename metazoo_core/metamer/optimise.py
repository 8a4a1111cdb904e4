"""The batched metamer optimisation loop for one stage: per-item steps, truncated forwards, no per-step host sync.

Every item of a batch optimises its own input towards its own target at the same stage. The loss is computed per
item and summed, so each item's gradient is exactly its own (items never interact); the normalised step divides by
each item's own gradient norm. The forward stops at the stage (`StagedModel` truncation) and parameters are frozen,
so a step costs one truncated forward and one backward to the input.

For the normalised-gradient recipes the backward starts from d = m⊙(a − t) itself (the gradient of ½‖d‖²): per
item that is a positive multiple c = ‖d‖·‖m⊙t‖ of the relative loss's gradient, so g/‖g‖ — the step — is the same,
and the only work beyond the bare forward and backward is forming d and the update (the loss value itself is
computed on logged steps only). The 1e-10 added to ‖g‖ thus acts as 1e-10/c (docs/fidelity.md).

Losses are written into a device tensor every `log_every` steps and read back (one host sync) only then; items whose
loss falls below `stop_loss` leave the batch at those points. `on_checkpoint` receives the current states every
`checkpoint_every` steps so the caller can save them (resume).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from .recipes import Recipe
from .schedules import UnitSchedule

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


@dataclass
class ItemState:
    """Progress of one (input, stage) item.

    x: (*input shape) current input, in the model's input range (CPU or device).
    step: global steps taken (block = step // iterations); the loss curve holds [step, loss] pairs,
        loss = ‖a(x) − a(x₀)‖₂/‖a(x₀)‖₂ of x after `step` updates.
    adam: first/second moments (and amsgrad's running max) for the Adam recipes, same shape as x.
    """

    x: Tensor
    step: int = 0
    losses: list[list[float]] = field(default_factory=list)
    adam: dict[str, Tensor] = field(default_factory=dict)
    wall_time_s: float = 0.0
    stopped_early: bool = False


@dataclass
class ProgressEvent:
    """What a progress display needs: stage, the batch's input names, steps done of total, the mean of the
    items' latest logged losses."""

    stage: str
    inputs: list[str]
    step: int
    total: int
    loss: float | None
    kind: str = "step"  # "start" | "step" | "done"


def flat_mask(raw, stage_shape: tuple[int, ...], device: torch.device) -> Tensor | None:
    """A schedule's unit mask (broadcastable to the stage shape, or None for all units) as a flat float tensor
    (N,), or None."""
    if raw is None:
        return None
    return torch.as_tensor(raw, device=device).expand(stage_shape).reshape(-1).to(torch.float32)


class _RelativeDistance(torch.autograd.Function):
    """‖m⊙(a − t)‖₂ / ‖m⊙t‖₂ per row with a hand-written backward: d = m⊙(a − t) is formed once in the forward and
    scaled in the backward, ∂/∂a = m⊙d / (‖d‖·‖m⊙t‖). Three elementwise passes in all without a mask, where
    autograd's graph for the same expression needs five or more."""

    @staticmethod
    def forward(ctx, acts: Tensor, target: Tensor, mask: Tensor | None, target_norm: Tensor) -> Tensor:
        d = acts - target
        if mask is not None:
            d.mul_(mask)
        d_norm = torch.linalg.vector_norm(d, dim=1)
        ctx.save_for_backward(d, d_norm, target_norm, mask)
        return d_norm / target_norm

    @staticmethod
    def backward(ctx, grad: Tensor):
        d, d_norm, target_norm, mask = ctx.saved_tensors
        scale = (grad / (d_norm * target_norm)).nan_to_num_(0.0, 0.0, 0.0).unsqueeze(1)  # d = 0 → gradient 0
        g = d * scale
        if mask is not None:
            g.mul_(mask)  # ∂/∂a of ‖m⊙(a − t)‖ is m⊙d/‖d‖ (also for weighted masks)
        return g, None, None, None


def _masked_norm(v: Tensor, mask: Tensor | None, known: Tensor | None = None) -> Tensor:
    """(B, N) → (B,) ‖m⊙v‖₂ per row; `known` is returned as is when there is no mask (the unmasked norm)."""
    if mask is None:
        return known if known is not None else torch.linalg.vector_norm(v, dim=1)
    return torch.linalg.vector_norm(v * mask, dim=1)


def relative_loss(acts: Tensor, target: Tensor, mask: Tensor | None = None,
                  target_norm: Tensor | None = None) -> Tensor:
    """(B, N) activations and targets → (B,) ‖m⊙(a − t)‖₂ / ‖m⊙t‖₂ (m = 1 without a mask), differentiable in
    `acts`. target_norm: (B,) unmasked ‖t‖₂ when already known (the engine computes it once per stage). A row
    whose activations equal its target gets gradient 0 (the norm's subgradient), not NaN."""
    return _RelativeDistance.apply(acts, target, mask, _masked_norm(target, mask, target_norm))


def range_penalty(x: Tensor, lo: float, hi: float) -> Tensor:
    """plenoptic's `penalize_range` per item: Σ min(x − lo, 0)² + Σ max(x − hi, 0)² → (B,)."""
    flat = x.reshape(x.shape[0], -1)
    return (flat - lo).clamp(max=0).square().sum(dim=1) + (flat - hi).clamp(min=0).square().sum(dim=1)


def optimise_stage(model, stage: str, targets: Tensor, states: list[ItemState], recipe: Recipe,
                   schedule: UnitSchedule | None = None, names: list[str] | None = None,
                   log_every: int = 50, gather_every: int = 50, checkpoint_every: int = 200,
                   stop_loss: float | None = None,
                   on_checkpoint: Callable[[list[int], list[ItemState]], None] | None = None,
                   progress: Callable[[ProgressEvent], None] | None = None) -> list[ItemState]:
    """Optimise the items' inputs so that their `stage` activations match `targets`.

    targets: (B, *stage shape) activations of the originals (no grad). states: B items, all at the same `step`.
    log_every: loss-curve resolution in steps (the first step of every block is logged too); gather_every: steps
    between host reads of the losses (progress, early stop); checkpoint_every: steps between `on_checkpoint` calls.
    Returns the states (updated in place) with x on the model's device.
    """
    device = targets.device
    total = recipe.total_steps
    names = names or [str(i) for i in range(len(states))]
    start = states[0].step
    if any(s.step != start for s in states):
        raise ValueError("all items of a batch must be at the same step")
    lo, hi = model.input_range
    stage_shape = tuple(targets.shape[1:])
    active = list(range(len(states)))
    x = torch.stack([s.x for s in states]).to(device).requires_grad_(True)
    target = targets.reshape(targets.shape[0], -1)
    target_norm = target.norm(dim=1)
    adam = recipe.method == "adam"
    scale_free = recipe.method == "normalized_gradient" and not recipe.range_penalty
    if adam:
        keys = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if recipe.amsgrad else ())
        moments = {k: torch.stack([s.adam.get(k, torch.zeros_like(s.x)) for s in states]).to(device) for k in keys}
    view = (-1,) + (1,) * (x.dim() - 1)
    capacity = gather_every // log_every + 2
    pending = torch.zeros(len(states), capacity, device=device)  # losses logged since the last gather
    pending_steps: list[int] = []
    t_last = time.perf_counter()

    steps_done = start

    def gather(final: bool = False) -> None:
        nonlocal pending_steps, t_last, active, x, target, target_norm, pending
        if not pending_steps:
            return
        values = pending[:, : len(pending_steps)].cpu().tolist()
        now = time.perf_counter()
        for row, i in enumerate(active):
            states[i].losses.extend([float(g), v] for g, v in zip(pending_steps, values[row]))
            states[i].wall_time_s += now - t_last
        t_last = now
        last = [values[row][-1] for row in range(len(active))]
        if progress is not None:
            progress(ProgressEvent(stage, [names[i] for i in active], steps_done, total, sum(last) / len(last)))
        pending_steps = []
        if stop_loss is not None and not final:
            keep = [row for row, v in enumerate(last) if not v < stop_loss]
            if len(keep) < len(active):
                for row, i in enumerate(active):
                    if row not in keep:
                        states[i].x = x[row].detach().clone()
                        states[i].step = step + 1
                        states[i].stopped_early = True
                        if adam:
                            states[i].adam = {k: v[row].clone() for k, v in moments.items()}
                idx = torch.tensor(keep, dtype=torch.long, device=device)
                active = [active[row] for row in keep]
                x = x.detach()[idx].requires_grad_(True)
                target, target_norm, pending = target[idx], target_norm[idx], pending[idx]
                if adam:
                    for k in moments:
                        moments[k] = moments[k][idx]

    def sync_states() -> None:
        for row, i in enumerate(active):
            states[i].x = x[row].detach().clone()
            states[i].step = step + 1
            if adam:
                states[i].adam = {k: v[row].clone() for k, v in moments.items()}

    if progress is not None:
        progress(ProgressEvent(stage, names, start, total, None, kind="start"))
    step = start - 1
    clamped = False
    last_raw, mask = None, None
    for step in range(start, total):
        if not active:
            break
        block, within = divmod(step, recipe.iterations)
        raw = schedule.mask(block, within) if schedule is not None else None
        if raw is not last_raw:  # a new unit set: expand it once, not at every step (HMAX s2: 42 M units)
            last_raw, mask = raw, flat_mask(raw, stage_shape, device)
        acts = model(x, [stage], in_range=clamped)[stage].reshape(x.shape[0], -1)
        logged = step % log_every == 0 or within == 0
        if scale_free:
            # ∇ of ½‖m⊙(a − t)‖² is, per item, ‖m⊙(a − t)‖·‖m⊙t‖ times ∇ of the relative loss: the same normalised
            # step, without the loss's norm, division and scaling passes (the loss is computed on logged steps)
            with torch.no_grad():
                d = acts.detach() - target
                if mask is not None:
                    d.mul_(mask)
                loss = _masked_norm(d, None) / _masked_norm(target, mask, target_norm) if logged else None
            (grad,) = torch.autograd.grad(acts, x, d if mask is None else d * mask)
        else:
            loss = relative_loss(acts, target, mask, target_norm)
            objective = loss
            if recipe.range_penalty:
                objective = loss + recipe.range_penalty * range_penalty(x, lo, hi)
            (grad,) = torch.autograd.grad(objective.sum(), x)
        if logged:
            if len(pending_steps) == capacity:
                gather(final=True)  # before the update: read losses, but nobody leaves the batch here
            pending[: loss.shape[0], len(pending_steps)] = loss.detach()
            pending_steps.append(step)
        with torch.no_grad():
            if adam:
                _adam_update(x, grad, moments, step + 1, recipe)
            else:
                norm = grad.reshape(grad.shape[0], -1).norm(dim=1).add_(recipe.grad_eps).reshape(view)
                x.addcdiv_(grad, norm, value=-recipe.step_size(block))
            if recipe.clamp:
                x.clamp_(lo, hi)
                clamped = True  # the model's own clamp can be skipped from now on
        steps_done = step + 1
        if (step + 1) % gather_every == 0:
            gather()
        if on_checkpoint is not None and (step + 1) % checkpoint_every == 0 and step + 1 < total:
            gather()
            sync_states()
            on_checkpoint(active, states)
    gather(final=True)
    if active:
        sync_states()
        for i in active:
            states[i].step = total
    return states


def _adam_update(x: Tensor, grad: Tensor, moments: dict[str, Tensor], t: int, recipe: Recipe) -> None:
    """torch.optim.Adam's update (elementwise, so per item), with the recipe's step-decayed learning rate."""
    b1, b2 = ADAM_BETAS
    lr = recipe.lr
    if recipe.lr_decay_every:
        periods = (t - 1) // recipe.lr_decay_every if recipe.lr_staircase else (t - 1) / recipe.lr_decay_every
        lr *= recipe.lr_gamma ** periods
    m, v = moments["exp_avg"], moments["exp_avg_sq"]
    m.lerp_(grad, 1 - b1)
    v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
    if "max_exp_avg_sq" in moments:
        torch.maximum(moments["max_exp_avg_sq"], v, out=moments["max_exp_avg_sq"])
        v = moments["max_exp_avg_sq"]
    bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
    denom = (v.sqrt() / math.sqrt(bc2)).add_(ADAM_EPS)
    x.addcdiv_(m, denom, value=-lr / bc1)
