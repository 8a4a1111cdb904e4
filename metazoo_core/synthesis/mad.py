"""Maximum differentiation (MAD) competition (Wang & Simoncelli 2008), with plenoptic's objective
(`MADCompetition._closure`, plenoptic 2.1.1; docs/fidelity.md):

    loss = s·d_opt(x₀, x) + λ·(d_ref(x₀, x_init) − d_ref(x₀, x))² + λ_pen·range_penalty(x)

s = +1 to minimise the optimised metric and −1 to maximise it; the reference metric is held softly at its value at
the noisy start x_init = x₀ + σ·n, n ~ N(0, I). The four directions (min/max of model A's metric holding B's, and
the reverse) of every input run as one batch: each item's loss is its own, summed, so every item gets exactly its
own gradient, and Adam (amsgrad, as plenoptic's default optimiser) is elementwise. The metrics are distances
between the stage responses to x₀ (computed once) and to x.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..errors import InputError
from ..metamer.optimise import range_penalty
from ..options import check_count, check_positive, check_seed
from .plots import show
from .records import read_result, write_result

SCHEMA = "metazoo.mad/1"
DIRECTIONS = ("min_a", "max_a", "min_b", "max_b")
"""min_a: minimise model A's metric while holding B's; max_b: maximise B's while holding A's; and so on."""
METRICS = ("rmse", "relative_l2")
RMSE_EPS = 1e-10
"""Added under the square root of the RMSE, as plenoptic's `model_metric_factory` ("stabilizing the gradient around
zero"). It makes that metric 1e-5 on identical inputs, which plenoptic's own `validate_metric` refuses (it asks for
≤ 5e-7), so plenoptic's `MADCompetition` cannot take it; metazoo's default is the relative L2."""


def stage_distance(kind: str, r0: Tensor, r: Tensor) -> Tensor:
    """(N, m) reference and current responses → (N,) distance: "rmse" √(mean (r − r₀)² + 1e-10) (plenoptic's
    `model_metric_factory`) or "relative_l2" ‖r − r₀‖₂/‖r₀‖₂ (the study's metamer distance)."""
    d = r - r0
    if kind == "rmse":
        return (d.square().mean(dim=1) + RMSE_EPS).sqrt()
    return d.norm(dim=1) / r0.norm(dim=1)


@dataclass(frozen=True)
class MADOptions:
    """iterations: Adam steps (plenoptic's `synthesize` default 100); lr: Adam's learning rate (plenoptic 0.01);
    initial_noise: σ of the start's Gaussian noise (plenoptic 0.1); tradeoff: λ, or None for plenoptic's rule
    10^round(log10(d_opt(x₀, u)/d_ref(x₀, u))) with u uniform noise (drawn from `seed`); penalty_lambda: weight of
    the range penalty (plenoptic 0.1); metric_a/metric_b: the distance at each model's stage (`stage_distance`);
    directions: which of `DIRECTIONS`; seed: the start noise and u."""

    iterations: int = 100
    lr: float = 0.01
    initial_noise: float = 0.1
    tradeoff: float | None = None
    penalty_lambda: float = 0.1
    metric_a: str = "relative_l2"
    metric_b: str = "relative_l2"
    directions: tuple[str, ...] = DIRECTIONS
    seed: int = 0

    def __post_init__(self):
        check_count(self.iterations, "--iterations")
        check_positive(self.lr, "--lr")
        check_positive(self.initial_noise, "--initial-noise")
        if self.tradeoff is not None:
            check_positive(self.tradeoff, "--tradeoff")
        if self.penalty_lambda < 0 or not math.isfinite(self.penalty_lambda):
            raise InputError(f"--penalty-lambda {self.penalty_lambda!r}: give a finite number ≥ 0")
        for name, kind in (("--metric-a", self.metric_a), ("--metric-b", self.metric_b)):
            if kind not in METRICS:
                raise InputError(f"{name} {kind!r}: choose one of {', '.join(METRICS)}")
        bad = [d for d in self.directions if d not in DIRECTIONS]
        if bad or not self.directions or len(set(self.directions)) != len(self.directions):
            raise InputError(f"--direction {','.join(self.directions)!r}: give distinct values from "
                             f"{', '.join(DIRECTIONS)}")
        check_seed(self.seed)


@dataclass
class MADResult:
    """One input's MAD images.

    images: (D, *input shape) one per direction; start: (*input shape) the shared noisy start; losses: (D, T) the
    loss at each step before its update (as plenoptic's `losses`); metric_a/metric_b: (D, T + 1) both metrics
    before each step and after the last; record: directions, tradeoffs, targets, final values, options, versions.
    """

    original: Tensor
    start: Tensor
    images: Tensor
    losses: Tensor
    metric_a: Tensor
    metric_b: Tensor
    record: dict

    def save(self, folder: Path | str) -> Path:
        tensors = {"original": self.original, "start": self.start, "images": self.images, "losses": self.losses,
                   "metric_a": self.metric_a, "metric_b": self.metric_b}
        return write_result(folder, SCHEMA, tensors, self.record)

    @classmethod
    def read(cls, folder: Path | str) -> "MADResult":
        t, record = read_result(folder, SCHEMA)
        return cls(t["original"], t["start"], t["images"], t["losses"], t["metric_a"], t["metric_b"], record)

    def plot(self):
        """A figure: each direction's image (top) and both metrics over the steps (bottom)."""
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt

        dirs = self.record["directions"]
        fig, axes = plt.subplots(2, len(dirs), figsize=(2.6 * len(dirs), 5), squeeze=False)
        for j, d in enumerate(dirs):
            show(axes[0, j], self.images[j].clamp(*self.record["input_range"]), d)
            axes[1, j].plot(self.metric_a[j].numpy(), label=f"A {self.record['model_a']}")
            axes[1, j].plot(self.metric_b[j].numpy(), label=f"B {self.record['model_b']}")
            axes[1, j].set_xlabel("step")
        axes[1, 0].legend(fontsize=7)
        fig.tight_layout()
        return fig


def _responses(model, stage: str, x: Tensor) -> Tensor:
    return model(x, [stage])[stage].reshape(x.shape[0], -1)


def mad(model_a, stage_a: str, model_b, stage_b: str, x: Tensor, options: MADOptions = MADOptions(),
        names: list[str] | None = None) -> list[MADResult]:
    """MAD images of every input for the requested directions, all inputs and directions as one batch.

    model_a/model_b: `StagedModel`s with the same input (load with fake_relu=False for true gradients); x:
    (B, *input shape) in the input range. Returns one result per input.
    """
    model_a.check_stages([stage_a])
    model_b.check_stages([stage_b])
    if tuple(model_a.spec.input.shape) != tuple(model_b.spec.input.shape):
        raise InputError(f"models '{model_a.spec.id}' and '{model_b.spec.id}' take different inputs "
                         f"({model_a.spec.input.shape} vs {model_b.spec.input.shape}); MAD needs one input for both")
    b, dirs = x.shape[0], list(options.directions)
    d = len(dirs)
    lo, hi = model_a.input_range
    generator = torch.Generator().manual_seed(options.seed)
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    start = x.detach() + options.initial_noise * noise
    with torch.no_grad():
        r0a, r0b = _responses(model_a, stage_a, x), _responses(model_b, stage_b, x)
        da0 = stage_distance(options.metric_a, r0a, _responses(model_a, stage_a, start))
        db0 = stage_distance(options.metric_b, r0b, _responses(model_b, stage_b, start))
        for which, kind, r0, model, stage in (("a", options.metric_a, r0a, model_a, stage_a),
                                              ("b", options.metric_b, r0b, model_b, stage_b)):
            if kind == "relative_l2" and bool((r0.norm(dim=1) == 0).any()):
                raise InputError(f"stage '{stage}' of '{model.spec.id}' responds with all zeros to an input, so "
                                 f"its relative L2 is undefined; use --metric-{which} rmse or another stage")
        if options.tradeoff is None:
            u = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
            ua = stage_distance(options.metric_a, r0a, _responses(model_a, stage_a, u))
            ub = stage_distance(options.metric_b, r0b, _responses(model_b, stage_b, u))
    on_a = torch.tensor([dd.endswith("_a") for dd in dirs], device=x.device).repeat(b)  # (B·D,) optimises A
    sign = torch.tensor([1.0 if dd.startswith("min") else -1.0 for dd in dirs], dtype=x.dtype,
                        device=x.device).repeat(b)
    target = torch.where(on_a, db0.repeat_interleave(d), da0.repeat_interleave(d))
    if options.tradeoff is None:
        ratio = torch.where(on_a, (ua / ub).repeat_interleave(d), (ub / ua).repeat_interleave(d))
        tradeoff = torch.pow(10.0, torch.round(torch.log10(ratio)))
    else:
        tradeoff = torch.full_like(target, options.tradeoff)
    r0a, r0b = r0a.repeat_interleave(d, dim=0), r0b.repeat_interleave(d, dim=0)
    xs = start.repeat_interleave(d, dim=0).requires_grad_(True)
    opt = torch.optim.Adam([xs], lr=options.lr, amsgrad=True)
    t = options.iterations
    losses = torch.empty(b * d, t, dtype=x.dtype, device=x.device)
    ma = torch.empty(b * d, t + 1, dtype=x.dtype, device=x.device)
    mb = torch.empty_like(ma)
    for step in range(t + 1):
        with torch.set_grad_enabled(step < t):
            da = stage_distance(options.metric_a, r0a, _responses(model_a, stage_a, xs))
            db = stage_distance(options.metric_b, r0b, _responses(model_b, stage_b, xs))
        ma[:, step], mb[:, step] = da.detach(), db.detach()
        if step == t:
            break
        optimised, held = torch.where(on_a, da, db), torch.where(on_a, db, da)
        loss = sign * optimised + tradeoff * (target - held).square()
        if options.penalty_lambda:
            loss = loss + options.penalty_lambda * range_penalty(xs, lo, hi)
        losses[:, step] = loss.detach()
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
    return _results(model_a, stage_a, model_b, stage_b, x, start, xs.detach(), losses, ma, mb, target, tradeoff,
                    options, names)


def _results(model_a, stage_a, model_b, stage_b, x, start, xs, losses, ma, mb, target, tradeoff,
             options: MADOptions, names) -> list[MADResult]:
    b, d = x.shape[0], len(options.directions)
    out = []
    for i in range(b):
        rows = slice(i * d, (i + 1) * d)
        held_final = [float(mb[r, -1] if dd.endswith("_a") else ma[r, -1])
                      for r, dd in zip(range(rows.start, rows.stop), options.directions)]
        record = {"method": "mad", "model_a": model_a.spec.id, "stage_a": stage_a, "model_b": model_b.spec.id,
                  "stage_b": stage_b, "input": names[i] if names else str(i), "options": asdict(options),
                  "directions": list(options.directions), "input_range": list(model_a.input_range),
                  "tradeoff": tradeoff[rows].tolist(), "reference_target": target[rows].tolist(),
                  "reference_final": held_final,
                  "reference_held_relative": [abs(h - g) / g for h, g in zip(held_final, target[rows].tolist())],
                  "metric_a_final": ma[rows, -1].tolist(), "metric_b_final": mb[rows, -1].tolist(),
                  "fake_relu": [bool(getattr(model_a, "fake_relu", False)), bool(getattr(model_b, "fake_relu", False))],
                  "random_weights": [bool(getattr(model_a, "random_weights", False)),
                                     bool(getattr(model_b, "random_weights", False))],
                  "dtype": str(x.dtype).replace("torch.", "")}
        out.append(MADResult(x[i].detach().cpu(), start[i].detach().cpu(), xs[rows].cpu(), losses[rows].cpu(),
                             ma[rows].cpu(), mb[rows].cpu(), record))
    return out
