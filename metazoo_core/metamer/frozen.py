"""Frozen-model optimisations: a faster copy of a `StagedModel` for metamer synthesis, whose weights never change.

Three optimisations, each applied to a copy of the network (the caller's model is untouched) and each checked
against the unoptimised model before it is used:

- ``fold-bn``: an eval-mode BatchNorm that directly consumes a convolution's output is folded into that
  convolution (w' = w·γ/√(σ²+ε) per output channel, b' = (b − μ)·γ/√(σ²+ε) + β, computed in float64) and replaced
  by `nn.Identity`, so module paths — and the stage hooks on them — stay. "Directly" is observed, not assumed: a
  probe forward records which tensor each `nn.Conv1d/2d/3d` returns and which tensor each `nn.BatchNorm1d/2d/3d`
  receives (exact types only; subclasses such as timm's BatchNormAct2d, which add an activation, are left alone).
  A convolution whose output is a stage, and a BatchNorm whose input is a stage, are kept.
- ``channels-last``: network and normalised input in `torch.channels_last` (4-D inputs only).
- ``compile``: the truncated forward (and with it the backward) through `torch.compile`, one compiled function per
  stage set, kept in this process's cache; inductor's own cache lives in `$METAZOO_CACHE/inductor`.

Check: on a probe input (uniform in the input range, fixed seed) the stage activations and the input gradient of
⟨stage, r⟩ for a fixed random r must agree with the unoptimised model within `TOLERANCE`, or within
`ROUNDING_MARGIN` × that model's own float32 rounding error (against float64, at the probe and at its one-ulp
neighbours; `metazoo_core.numerics`), whichever is larger (see `TOLERANCE`);
an optimisation that fails it, does not apply (no conv→BatchNorm pair, a sound input for channels-last) or raises is
dropped with a notice, and synthesis runs eagerly as before. `benchmarks/metamer_step.py` measures each option;
docs/performance.md ("Frozen-model optimisations") has the figures and the reasons for the default.
"""
from __future__ import annotations

import copy
import os
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from ..options import DEFAULT_OPTIMISATIONS, OPTIMISATIONS, parse_optimisations  # noqa: F401 (re-exported)
from ..numerics import (FLOOR, ROUNDING_MARGIN, input_roundings, relative_error, relative_norm_error,
                        rounding_tolerance)
from ..stages import RangeClamp, StagedModel

TOLERANCE = FLOOR
"""Accepted relative error of the optimised model on the probe (max |Δ| ÷ max |ref| for the activations, ‖Δ‖ ÷ ‖ref‖
for the input gradient) — or, where larger, ROUNDING_MARGIN × the unoptimised float32 model's own error against the
same computation in float64 (`metazoo_core.numerics.rounding_tolerance`, the rule the tests use too). The input
gradient past a few layers moves by 1e-3–2e-2 under any change of summation order (measured on random-weight
ResNet50 `layer2`/`layer4` and AlexNet `fc1_relu`: 2 threads instead of 1, channels-last, folding, and float32
against float64), because ReLU and max-pool decisions at near-ties flip, so a fixed 1e-5 would reject every
reordering; measured against float64, a wrong transformation (an error of order 1) still fails."""
FALLBACK_GRADIENT_TOLERANCE = 2e-2
"""The input gradient's bound (‖Δ‖ ÷ ‖ref‖) on devices without float64 (MPS), where the model's own rounding cannot
be measured."""

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_CACHE_SIZE = 4


@dataclass
class Frozen:
    """What `freeze` returns. model: what to step with (the caller's model when nothing applied; else a copy, or
    a `CompiledModel` around one) — called as `model(x, stages, in_range=...)` like `StagedModel`. applied: the
    optimisations in use. notices: one line per optimisation asked for and not used, and why."""

    model: object
    applied: tuple[str, ...]
    notices: list[str] = field(default_factory=list)


_cache: "OrderedDict[tuple, tuple[weakref.ref, Frozen]]" = OrderedDict()


def freeze(model: StagedModel, stages: Sequence[str], optimisations: Sequence[str],
           notify: Callable[[str], None] | None = None) -> Frozen:
    """The optimised model for synthesis at `stages`, checked against `model` (see the module docstring).

    Cached in this process per (model object, its weights, stages, optimisations, device), so a sweep or a
    multi-stage run builds, checks and compiles once. `notify` receives each notice (also kept in `.notices`).
    """
    wanted = tuple(n for n in OPTIMISATIONS if n in optimisations)
    if not wanted:
        return Frozen(model, ())
    device = next(iter(model.net.parameters()), torch.empty(0)).device
    key = (id(model), model.weights_sha256, tuple(stages), wanted, str(device))
    hit = _cache.get(key)
    if hit is not None and hit[0]() is model:
        _cache.move_to_end(key)
        for line in hit[1].notices if notify is not None else ():
            notify(line)
        return hit[1]
    frozen = _build(model, list(stages), wanted, device, notify or (lambda _: None))
    _cache[key] = (weakref.ref(model, lambda _ref: _cache.pop(key, None)), frozen)  # gone with the model
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return frozen


def _build(model: StagedModel, stages: list[str], wanted: tuple[str, ...], device: torch.device,
           notify: Callable[[str], None]) -> Frozen:
    notices: list[str] = []

    def drop(name: str, why: str) -> None:
        notices.append(f"--optimise {name} not used for '{model.spec.id}' ({', '.join(stages)}): {why}; "
                       "running eagerly without it")
        notify(notices[-1])

    probes: list[_Probe] = []

    def probe() -> _Probe:  # built on first need: nothing to check when nothing applies
        if not probes:
            probes.append(_probe(model, stages, device))
        return probes[0]

    applied: list[str] = []
    current = model
    for name in ("fold-bn", "channels-last"):
        if name not in wanted:
            continue
        try:
            candidate, why = (_fold_copy if name == "fold-bn" else _channels_last_copy)(current, stages)
            if candidate is not None:
                why = probe().disagreement(candidate)
        except Exception as e:  # a plugin's network this does not know: keep the eager path
            candidate, why = None, f"{type(e).__name__}: {e}"
        if candidate is None or why is not None:
            drop(name, why)
            continue
        current = candidate
        applied.append(name)
    if "compile" in wanted:
        compiled = CompiledModel(current, stages, probe(), drop)
        if compiled.ready:
            applied.append("compile")
            return Frozen(compiled, tuple(applied), notices)
    return Frozen(current, tuple(applied), notices)


class _Probe:
    """The unoptimised model's stage activations and input gradient on one fixed input: what every optimised
    model must reproduce within TOLERANCE."""

    def __init__(self, model: StagedModel, stages: list[str], x: Tensor):
        self.stages, self.x = stages, x
        g = torch.Generator().manual_seed(1)
        self.acts, self.grad = self.run(model, None)
        self.seeds = {s: torch.randn(a.shape, generator=g).to(a.device) for s, a in self.acts.items()}
        self.acts, self.grad = self.run(model, self.seeds)
        self.bounds = self._bounds(model)

    def _bounds(self, model: StagedModel) -> dict[str, float]:
        """Per stage and for the gradient: `rounding_tolerance` of the float32 model's error against float64, the
        largest over the probe input and its one-ulp neighbours (`input_roundings`)."""
        try:
            exact = copy_model(model).double()
            acts, grad = _Probe.run(self, exact, {k: v.double() for k, v in self.seeds.items()}, torch.float64)
        except (RuntimeError, TypeError):  # no float64 on this device
            return {**{s: TOLERANCE for s in self.stages}, "gradient": FALLBACK_GRADIENT_TOLERANCE}
        own = dict.fromkeys([*self.stages, "gradient"], 0.0)
        for x in input_roundings(self.x):
            got, got_grad = (self.acts, self.grad) if x is self.x else _Probe.run(self, model, self.seeds, x=x)
            for s in self.stages:
                own[s] = max(own[s], relative_error(got[s].double(), acts[s]))
            own["gradient"] = max(own["gradient"], relative_norm_error(got_grad.double(), grad))
        return {k: rounding_tolerance(v, TOLERANCE, ROUNDING_MARGIN) for k, v in own.items()}

    def run(self, model, seeds: dict[str, Tensor] | None, dtype: torch.dtype = torch.float32,
            x: Tensor | None = None) -> tuple[dict[str, Tensor], Tensor | None]:
        """Stage activations and (with `seeds`) the input gradient of Σ⟨stage, seed⟩ at `x` (the probe's input
        when None), computed in `dtype`."""
        x = (self.x if x is None else x).to(dtype, copy=True).requires_grad_(True)
        with torch.enable_grad():
            acts = model(x, self.stages)
            if seeds is None:
                return {s: a.detach() for s, a in acts.items()}, None
            total = sum((a * seeds[s]).sum() for s, a in acts.items())
            (grad,) = torch.autograd.grad(total, x)
        return {s: a.detach().contiguous() for s, a in acts.items()}, grad

    def disagreement(self, model) -> str | None:
        """None when `model` matches; else one line saying where and by how much."""
        acts, grad = self.run(model, self.seeds)
        errors = {s: relative_error(acts[s], self.acts[s]) for s in self.stages}
        errors["gradient"] = relative_norm_error(grad, self.grad)
        for what, err in errors.items():
            if not err <= self.bounds[what]:
                name = "the input gradient" if what == "gradient" else f"stage '{what}'"
                return (f"{name} differs by {err:.2g} relative on a probe input (tolerance {self.bounds[what]:.2g}, "
                        "from the model's own float32 rounding)")
        return None


def _probe(model: StagedModel, stages: list[str], device: torch.device) -> _Probe:
    lo, hi = model.input_range
    g = torch.Generator().manual_seed(0)
    u = torch.rand(model.input_shape(1), generator=g)
    x = lo + (hi - lo) * u if torch.isfinite(torch.tensor([lo, hi])).all() else u - 0.5
    return _Probe(model, stages, x.to(device))


def copy_model(model: StagedModel) -> StagedModel:
    """A deep copy of `model` with its own stage hooks (the original's are not copied: they refer to it)."""
    model._remove_hooks()
    try:
        clone = copy.deepcopy(model)
    finally:
        model._install_hooks()
    clone._install_hooks()
    return clone


# -- fold-bn -------------------------------------------------------------------------------------------------
def conv_bn_pairs(model: StagedModel, stages: Sequence[str]) -> list[tuple[str, str]]:
    """(convolution path, BatchNorm path) pairs of `model.net` where, in a probe forward to `stages`, the
    BatchNorm (exact type, eval mode, running statistics) received the very tensor the convolution (exact type)
    returned, at every call of either; convolutions whose output and BatchNorms whose input is a stage are left
    out."""
    taps = model.taps.values()
    stage_outputs = {t.module for t in taps if t.point == "output"}
    stage_inputs = {t.module for t in taps if t.point == "input"}
    modules = dict(model.net.named_modules())
    convs = {p: m for p, m in modules.items() if type(m) in _CONVS and p not in stage_outputs}
    norms = {p: m for p, m in modules.items() if type(m) in _NORMS and p not in stage_inputs and not m.training
             and m.running_mean is not None and m.running_var is not None}
    produced: dict[int, tuple[str, Tensor]] = {}
    calls: dict[str, int] = {}
    seen: dict[tuple[str, str], int] = {}

    def after_conv(path):
        def hook(module, args, output):
            calls[path] = calls.get(path, 0) + 1
            produced[id(output)] = (path, output)
        return hook

    def before_norm(path):
        def hook(module, args):
            calls[path] = calls.get(path, 0) + 1
            src = produced.get(id(args[0]))
            if src is not None and src[1] is args[0]:
                seen[(src[0], path)] = seen.get((src[0], path), 0) + 1
        return hook

    handles = [m.register_forward_hook(after_conv(p)) for p, m in convs.items()]
    handles += [m.register_forward_pre_hook(before_norm(p)) for p, m in norms.items()]
    try:
        lo, hi = model.input_range
        device = next(iter(model.net.parameters()), torch.empty(0)).device
        with torch.no_grad():
            model(torch.full(model.input_shape(1), (lo + hi) / 2 if lo > -1e30 and hi < 1e30 else 0.0,
                             device=device), list(stages))
    finally:
        for h in handles:
            h.remove()
    conv_used = [c for c, _ in seen]
    norm_used = [n for _, n in seen]
    return [(c, n) for (c, n), k in seen.items()
            if k == calls[c] == calls[n] and conv_used.count(c) == 1 and norm_used.count(n) == 1]


def fold_into(conv: nn.Module, norm: nn.Module) -> None:
    """Fold eval-mode `norm` into `conv`'s weight and bias in place (float64 arithmetic, stored in conv's dtype)."""
    with torch.no_grad():
        w = conv.weight
        scale = (norm.running_var.double() + norm.eps).rsqrt()
        shift = -norm.running_mean.double()
        if conv.bias is not None:
            shift = shift + conv.bias.double()
        if norm.affine:
            scale = scale * norm.weight.double()
        bias = shift * scale + (norm.bias.double() if norm.affine else 0.0)
        w.copy_((w.double() * scale.reshape(-1, *([1] * (w.dim() - 1)))).to(w.dtype))
        conv.bias = nn.Parameter(bias.to(w.dtype), requires_grad=False)


def _set_module(root: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, name, module)


def _fold_copy(model: StagedModel, stages: list[str]) -> tuple[StagedModel | None, str | None]:
    has_norm = any(type(m) in _NORMS for m in model.net.modules())
    pairs = conv_bn_pairs(model, stages) if has_norm else []
    if not pairs:
        return None, "no BatchNorm directly after a convolution before the stage"
    clone = copy_model(model)
    clone._remove_hooks()
    for conv, norm in pairs:
        fold_into(clone.net.get_submodule(conv), clone.net.get_submodule(norm))
        _set_module(clone.net, norm, nn.Identity())
    clone._install_hooks()
    return clone, None


# -- channels-last -------------------------------------------------------------------------------------------
def _channels_last_copy(model: StagedModel, stages: list[str]) -> tuple[StagedModel | None, str | None]:
    if len(model.spec.input.shape) != 3:
        return None, f"the input has {len(model.spec.input.shape)} dimensions (channels-last needs images)"
    clone = copy_model(model)
    clone.to(memory_format=torch.channels_last)
    clone.memory_format = torch.channels_last
    return clone, None


# -- compile -------------------------------------------------------------------------------------------------
def _inductor_cache() -> None:
    """Point inductor's on-disk cache into metazoo's cache, unless the user chose another directory. (Importing
    torch's compiler stack writes inductor's default, a per-user folder in the temporary directory, into
    TORCHINDUCTOR_CACHE_DIR, so that value counts as unset.)"""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    current = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if current is None or os.path.abspath(current) == os.path.abspath(default_cache_dir()):
        from ..weights import cache_dir

        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache_dir() / "inductor")


class CompiledModel:
    """`model(x, stages, in_range=...)` with the truncated forward compiled by `torch.compile` (its backward
    compiled with it). The input clamp stays outside the compiled function, so one graph serves the first step
    (clamp) and the rest (in range); calls without gradients (targets) and for other stages run eagerly. Built
    and checked on the probe at construction; `ready` is False (and `drop` was told why) when compiling fails or
    disagrees."""

    def __init__(self, model: StagedModel, stages: list[str], probe: _Probe, drop: Callable[[str, str], None]):
        self.model, self.stages = model, list(stages)
        self.ready = False
        try:
            _inductor_cache()
            # dynamo keeps at most `recompile_limit` graphs per code object, shared by every CompiledModel (8 by
            # default; a sweep over models and stages needs more), and past it runs eagerly without saying so
            torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 256)
            self._fn = torch.compile(self._forward)
            why = probe.disagreement(self)
        except Exception as e:  # noqa: BLE001 — any compiler failure means: run eagerly
            why = f"torch.compile failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        if why is not None:
            drop("compile", why)
            return
        self.ready = True

    def _forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.model(x, self.stages, in_range=True)

    def __getattr__(self, name):
        return getattr(self.model, name)

    def __call__(self, x: Tensor, stages: Sequence[str] | None = None, *, in_range: bool = False
                 ) -> dict[str, Tensor]:
        names = list(stages) if stages is not None else None
        if not torch.is_grad_enabled() or (names is not None and not set(names) <= set(self.stages)):
            return self.model(x, names, in_range=in_range)
        if not in_range:
            x = RangeClamp.apply(x, *self.model.input_range)
        out = self._fn(x)
        return out if names is None else {s: out[s] for s in names}
