"""Projected gradient attacks under L1, L2 and L∞ with one signature, for images, waveforms and cochleagrams.

Every attack works on a `forward: Callable[[Tensor], Tensor]` that maps a batch x (B, ...) to an output (logits or
stage activations) and an `objective(output) -> (B,)` that the attack MAXIMISES. Inputs live in `bounds`
(the model's input range: [0, 1] images, [-1, 1] waveforms; None = unbounded, e.g. a cochleagram followed by a
ReLU as in the seed). Normalisation belongs inside `forward` (StagedModel does it).

PGD as the study's robustness library (facts §10): no random start by default, steps of size `step_size`,
each step followed by a projection onto the ε-ball around the clean input and the box `bounds`; `use_best`
returns, per example, the iterate with the highest objective (the clean input included).
    L∞: x ← x + s·sign(g); δ ← clamp(δ, −ε, ε); x ← clamp(x₀ + δ, lo, hi).
    L2: x ← x + s·g/‖g‖₂; δ ← δ·min(1, ε/‖δ‖₂); x ← clamp(x₀ + δ, lo, hi).
    L1 (not in the study's code; our choice, docs/fidelity.md, "Robustness"): sparse steps as Tramèr & Boneh's
        SparseL1Descent — only coordinates whose |g| reaches the `l1_sparsity` quantile (default 0.99) move, by
        s·sign(g)/(number moved), so each step has L1 length s; coordinates at a bound that the gradient pushes
        outward are left out. Then the exact Euclidean projection onto {δ: ‖δ‖₁ ≤ ε} ∩ [lo − x₀, hi − x₀].
Clamping to the box after an L∞ or L2 projection only shrinks each |δᵢ|, so the result stays in the ε-ball.
"""
from __future__ import annotations

import math
from typing import Callable, Literal, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .grids import NORMS, check_eps, check_norm, log_grid  # noqa: F401  (re-exported: one import for callers)

Norm = Literal["l1", "l2", "linf"]
Bounds = tuple[float, float] | None
Forward = Callable[[Tensor], Tensor]
Objective = Callable[[Tensor], Tensor]


# -- objectives ------------------------------------------------------------------------------------------------
def untargeted(labels: Tensor) -> Objective:
    """Cross-entropy with the true labels (B,), to maximise: push the prediction away from the label."""
    return lambda logits: F.cross_entropy(logits, labels, reduction="none")


def targeted(targets: Tensor) -> Objective:
    """Negative cross-entropy with target labels (B,), to maximise: pull the prediction toward the target."""
    return lambda logits: -F.cross_entropy(logits, targets, reduction="none")


def feature_match(target: Tensor) -> Objective:
    """Negative L2 distance to target activations (B, ...), to maximise (feature adversaries, seed)."""
    flat = target.detach().flatten(1)
    return lambda acts: -(acts.flatten(1) - flat).norm(dim=1)


# -- geometry --------------------------------------------------------------------------------------------------
def _per_example(v: Tensor, like: Tensor) -> Tensor:
    return v.reshape(-1, *([1] * (like.dim() - 1)))


def clamp_box(x: Tensor, bounds: Bounds) -> Tensor:
    return x if bounds is None else x.clamp(*bounds)


def project_l1(v: Tensor, eps: float, lower: Tensor | None = None, upper: Tensor | None = None) -> Tensor:
    """Exact Euclidean projection of each example of v (B, ...) onto {δ: ‖δ‖₁ ≤ ε, lower ≤ δ ≤ upper}.

    lower ≤ 0 ≤ upper (elementwise, same shape as v; None = unbounded). The solution is
    δᵢ = sign(vᵢ)·min(max(|vᵢ| − λ, 0), capᵢ) with cap the bound on vᵢ's side and λ ≥ 0 the smallest value with
    ‖δ‖₁ ≤ ε; ‖δ(λ)‖₁ is piecewise linear in λ with breakpoints |vᵢ| − capᵢ and |vᵢ|, so λ is found exactly by
    sorting the breakpoints (Duchi et al. 2008 when there is no box). Computed in float64.
    """
    shape, dtype = v.shape, v.dtype
    flat = v.detach().reshape(shape[0], -1).double()
    a = flat.abs()
    if lower is None:
        cap = torch.full_like(a, math.inf)
    else:
        cap = torch.where(flat >= 0, upper.reshape(shape[0], -1).double(), -lower.reshape(shape[0], -1).double())
        cap = cap.clamp_min(0)
    if eps <= 0:
        return torch.zeros_like(v)
    total = torch.minimum(a, cap).sum(dim=1)
    start = (a - cap).clamp_min(0)
    events = torch.cat([start, a], dim=1)
    change = torch.cat([-torch.ones_like(a), torch.ones_like(a)], dim=1)
    events, order = events.sort(dim=1)
    slope = change.gather(1, order).cumsum(dim=1)  # d‖δ‖₁/dλ on [events[k], events[k+1]]
    drop = (slope[:, :-1] * events.diff(dim=1)).cumsum(dim=1)
    at_event = torch.cat([total[:, None], total[:, None] + drop], dim=1)  # ‖δ(events[k])‖₁
    k = ((at_event > eps).sum(dim=1) - 1).clamp_min(0)
    kk = k[:, None]
    lam = events.gather(1, kk) + (at_event.gather(1, kk) - eps) / (-slope.gather(1, kk)).clamp_min(1e-300)
    lam = torch.where((total > eps)[:, None], lam, torch.zeros_like(lam))
    out = flat.sign() * torch.minimum((a - lam).clamp_min(0), cap)
    return out.reshape(shape).to(dtype)


def project(x: Tensor, x0: Tensor, norm: str, eps: float, bounds: Bounds) -> Tensor:
    """x projected onto the ε-ball of `norm` around x0, inside `bounds`."""
    delta = x - x0
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    elif norm == "l2":
        size = delta.flatten(1).norm(dim=1)
        delta = delta * _per_example((eps / size.clamp_min(1e-12)).clamp(max=1.0), delta)
    else:
        lower, upper = (None, None) if bounds is None else (bounds[0] - x0, bounds[1] - x0)
        delta = project_l1(delta, eps, lower, upper)
    return clamp_box(x0 + delta, bounds)


def step(x: Tensor, grad: Tensor, norm: str, size: float, bounds: Bounds, l1_sparsity: float = 0.99) -> Tensor:
    """One ascent step of L-`norm` length `size` along the steepest direction for `grad` (see module doc)."""
    if norm == "linf":
        return x + size * grad.sign()
    flat = grad.flatten(1)
    if norm == "l2":
        return x + size * grad / _per_example(flat.norm(dim=1) + 1e-10, grad)
    movable = torch.ones_like(flat, dtype=torch.bool)
    if bounds is not None:
        xf = x.flatten(1)
        movable = ~(((xf <= bounds[0]) & (flat < 0)) | ((xf >= bounds[1]) & (flat > 0)))
    mag = flat.abs() * movable
    threshold = mag.kthvalue(max(1, math.ceil(l1_sparsity * mag.shape[1])), dim=1, keepdim=True).values
    chosen = (mag >= threshold) & (mag > 0)
    direction = flat.sign() * chosen
    direction = direction / direction.abs().sum(dim=1, keepdim=True).clamp_min(1)
    return x + size * direction.reshape(grad.shape)


def random_l2_sphere(x: Tensor, eps: float, bounds: Bounds = (0.0, 1.0),
                     generator: torch.Generator | None = None) -> Tensor:
    """x plus a random direction scaled to L2 norm exactly ε per example (seed's random L2 training), clamped."""
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    noise = noise / _per_example(noise.flatten(1).norm(dim=1).clamp_min(1e-12), noise)
    return clamp_box(x + eps * noise, bounds)


def random_linf_corners(x: Tensor, eps: float, bounds: Bounds = (0.0, 1.0),
                        generator: torch.Generator | None = None) -> Tensor:
    """x ± ε on every value with independent random signs (seed's random L∞ corner training), clamped."""
    signs = torch.randint(0, 2, x.shape, generator=generator).to(x.device, x.dtype) * 2 - 1
    return clamp_box(x + eps * signs, bounds)


def random_start(x: Tensor, norm: str, eps: float, bounds: Bounds, generator: torch.Generator | None = None) -> Tensor:
    """A random starting point in the ε-ball (robustness library: U(−ε, ε) for L∞, the ε-sphere for L2)."""
    if norm == "linf":
        u = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return clamp_box(x + eps * (2 * u - 1), bounds)
    if norm == "l2":
        return random_l2_sphere(x, eps, bounds, generator)
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    noise = noise / _per_example(noise.flatten(1).abs().sum(dim=1).clamp_min(1e-12), noise)
    return project(x + eps * noise, x, "l1", eps, bounds)


# -- the attack ------------------------------------------------------------------------------------------------
def pgd(forward: Forward, x: Tensor, objective: Objective, *, norm: str, eps: float, steps: int = 64,
        step_size: float | None = None, bounds: Bounds = (0.0, 1.0), use_best: bool = True,
        start_random: bool = False, l1_sparsity: float = 0.99, generator: torch.Generator | None = None) -> Tensor:
    """Projected gradient ascent on `objective(forward(x'))` over x' in the ε-ball around x (B, ...) and `bounds`.

    step_size defaults to ε/4 (seed: 64 steps of ε/4). Returns x' (B, ...) detached, same dtype and device.
    ε = 0 or steps = 0 returns x unchanged. Gradients of `forward`'s parameters are not touched.
    """
    norm = check_norm(norm)
    x0 = x.detach()
    if eps <= 0 or steps <= 0:
        return x0.clone()
    size = eps / 4 if step_size is None else step_size
    adv = random_start(x0, norm, eps, bounds, generator) if start_random else x0.clone()
    best, best_score = adv.clone(), None
    for i in range(steps + 1):
        adv = adv.detach().requires_grad_(True)
        with torch.enable_grad():
            score = objective(forward(adv))
            grad = torch.autograd.grad(score.sum(), adv)[0] if i < steps else None
        score = score.detach()
        if use_best:
            if best_score is None:
                best, best_score = adv.detach().clone(), score
            else:
                better = score > best_score
                best = torch.where(_per_example(better, best), adv.detach(), best)
                best_score = torch.where(better, score, best_score)
        if grad is None:
            break
        with torch.no_grad():
            adv = project(step(adv.detach(), grad, norm, size, bounds, l1_sparsity), x0, norm, eps, bounds)
    return (best if use_best else adv).detach()


def adversarial_examples(forward: Forward, x: Tensor, labels: Tensor, *, norm: str, eps: Sequence[float],
                         steps: int = 64, step_ratio: float = 0.25, bounds: Bounds = (0.0, 1.0),
                         use_best: bool = True, l1_sparsity: float = 0.99) -> dict[float, Tensor]:
    """Untargeted PGD for each ε of the grid (steps of ε·step_ratio): {ε: adversarial batch (B, ...)}."""
    grid, _ = check_eps(eps)
    return {e: pgd(forward, x, untargeted(labels), norm=norm, eps=e, steps=steps, step_size=e * step_ratio,
                   bounds=bounds, use_best=use_best, l1_sparsity=l1_sparsity) for e in grid}


def noise_images(n: int, shape: Sequence[int], mean: float = 0.5, std: float = 0.05, bounds: Bounds = (0.0, 1.0),
                 generator: torch.Generator | None = None) -> Tensor:
    """(n, *shape) samples of N(mean, std²) clipped to bounds: the seed's fooling-image starting points."""
    return clamp_box(mean + std * torch.randn((n, *shape), generator=generator), bounds)


def fooling_images(forward: Forward, start: Tensor, targets: Tensor, *, norm: str, eps: float, steps: int = 64,
                   step_ratio: float = 0.25, bounds: Bounds = (0.0, 1.0), l1_sparsity: float = 0.99) -> Tensor:
    """Targeted PGD from noise `start` (B, ...) toward class `targets` (B,) (seed: 64 steps of ε/4).

    Success = the model predicts the target on the returned images.
    """
    return pgd(forward, start, targeted(targets), norm=norm, eps=eps, steps=steps, step_size=eps * step_ratio,
               bounds=bounds, l1_sparsity=l1_sparsity)


def feature_adversaries(stage_forward: Forward, source: Tensor, target: Tensor, *, norm: str, eps: float,
                        steps: int = 128, step_ratio: float = 1 / 16, bounds: Bounds = (0.0, 1.0),
                        l1_sparsity: float = 0.99) -> Tensor:
    """Perturb `source` (B, ...) within ε so its stage activations approach those of `target` (B, ...) in L2.

    stage_forward maps inputs to one stage's activations. Seed: 128 steps of ε/16; success = the perturbed source
    gets the target image's label.
    """
    with torch.no_grad():
        goal = stage_forward(target)
    return pgd(stage_forward, source, feature_match(goal), norm=norm, eps=eps, steps=steps,
               step_size=eps * step_ratio, bounds=bounds, l1_sparsity=l1_sparsity)
