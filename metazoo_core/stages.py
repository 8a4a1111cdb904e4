"""The stage-hook interface: named activations from any network, truncated at the deepest requested stage.

A family plugin returns a `StageNetwork`: the bare network plus one `Tap` per stage, saying which module's input
or output the stage is. `StagedModel` wraps it with the model's input normalisation and answers
`model(x, ["layer1", "layer3"]) -> {"layer1": ..., "layer3": ...}`.

Truncation: persistent forward hooks record each requested stage; once every requested stage is final, the hook
raises an internal signal that stops the forward, so nothing after the deepest requested stage is computed. This
works for any `nn.Module`, traceable or not (ViTs, recurrent CORnet, hand-built HMAX), and on the meta device.

Fake ReLU (facts §3): a stage taken after a ReLU is computed from the pre-activation with `FakeReLU` (forward
ReLU, backward identity), as the study's `*_fake_relu` stages; `fake_relu=False` gives the true ReLU gradient.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Literal, Sequence

import torch
from torch import Tensor, nn

from .errors import UnknownStageError, suggest
from .registry import IMPLICIT_STAGE, ModelSpec


class FakeReLU(torch.autograd.Function):
    """Forward: max(x, 0). Backward: identity (the gradient passes as if no ReLU were there)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        return grad


def fake_relu(x: Tensor) -> Tensor:
    return FakeReLU.apply(x)


class RangeClamp(torch.autograd.Function):
    """The study's input clamp (`InputNormalize`, PyTorch 1.5): forward clamp to [lo, hi]; backward passes the
    gradient where lo ≤ x ≤ hi — subgradient 1 at the bounds (PyTorch ≥ 2.x gives 0 there, so a pixel clamped
    to exactly 0 or 1 would never receive a gradient again) — and 0 outside."""

    @staticmethod
    def forward(ctx, x: Tensor, lo: float, hi: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.bounds = (lo, hi)
        return x.clamp(lo, hi)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        lo, hi = ctx.bounds
        return grad.masked_fill((x < lo).logical_or_(x > hi), 0.0), None, None


@dataclass(frozen=True)
class Tap:
    """Where a stage lives in the network.

    module: dotted path of a submodule of `StageNetwork.net` ("" = the network itself).
    point: "output" records the module's output, "input" its first positional input (use "input" on a ReLU
        module with relu=True to get the pre-activation, hence fake-ReLU gradients).
    relu: the stage is ReLU(recorded tensor); fake-ReLU or true ReLU per the wrapper's `fake_relu` switch.
    call: for a module called several times in one forward (torchvision's Bottleneck reuses `relu` 3 times),
        keep the "first" or the "last" call.
    transform: applied to the recorded tensor (after the ReLU), e.g. a reshape or a readout; must be torch ops.
    done: the module whose forward end makes the stage final (default: `module`); set it to an enclosing
        module when call="last", so truncation waits for the last call.
    """

    module: str
    point: Literal["output", "input"] = "output"
    relu: bool = False
    call: Literal["first", "last"] = "last"
    transform: Callable[[Tensor], Tensor] | None = None
    done: str | None = None

    @property
    def done_module(self) -> str:
        return self.module if self.done is None else self.done


@dataclass
class StageNetwork:
    """What a family plugin builds: the network and its stage taps.

    net: maps the normalised input (B, *input.shape) to the model's output; its forward must call the tapped
        modules (truncation stops it as soon as the requested stages are final).
    taps: one per spec stage; may add "logits" (the classifier output used for predictions when it differs
        from the "final" stage, e.g. CLIP's zero-shot head).
    parts: optional named sub-networks for perturbations at an intermediate representation (audio models give
        "front": waveform → cochleagram and "back": cochleagram → logits).
    """

    net: nn.Module
    taps: dict[str, Tap]
    parts: dict[str, nn.Module] = field(default_factory=dict)


class _StopForward(Exception):
    """Raised inside a hook once every requested stage is recorded."""


@dataclass
class _Capture:
    wanted: set[str]
    values: dict[str, Tensor] = field(default_factory=dict)
    final: set[str] = field(default_factory=set)


class StagedModel(nn.Module):
    """A model of the registry: input in the spec's range → named stage activations.

    `model(x, stages)` takes x of shape (B, *spec.input.shape) in spec.input.range and returns a dict
    stage → tensor of shape (B, *stage shape). The input is clamped to the range and normalised
    ((x − mean)/std per channel) inside the graph, as the study's `InputNormalize`. Parameters are frozen.
    """

    def __init__(self, spec: ModelSpec, network: StageNetwork, fake_relu: bool = True, truncate: bool = True):
        super().__init__()
        missing = [s for s in spec.stage_names if s not in network.taps]
        if missing:
            raise ValueError(f"family '{spec.family}' built no tap for stage(s) {missing} of '{spec.id}'")
        self.spec = spec
        self.net = network.net
        self.taps = dict(network.taps)
        self.parts = nn.ModuleDict(network.parts)
        self.fake_relu = fake_relu
        self.truncate = truncate
        self.weights_sha256: str | None = None
        self.weights_source: str | None = None
        self.weights_notice: str | None = None
        self.random_weights = False
        """True when the registry names a checkpoint but it was not loaded (`--random-weights`): results from
        an untrained network, which every output says."""
        lo, hi = spec.input.range
        self.input_range = (float(lo), float(hi))
        if spec.normalization is not None:
            shape = (1, -1) + (1,) * (len(spec.input.shape) - 1)
            self.register_buffer("mean", torch.tensor(spec.normalization.mean).reshape(shape), persistent=False)
            self.register_buffer("std", torch.tensor(spec.normalization.std).reshape(shape), persistent=False)
        else:
            self.mean = self.std = None
        for m in self.net.modules():  # in-place ReLUs would overwrite recorded pre-activations
            if isinstance(m, nn.ReLU):
                m.inplace = False
        self.memory_format: torch.memory_format | None = None
        """Layout the normalised input is given to the network in (`torch.channels_last` for a network converted
        to channels-last by metamer/frozen.py); None keeps the caller's."""
        self.requires_grad_(False)
        self.eval()
        self._capture: _Capture | None = None
        self._hook_handles: list = []
        self._install_hooks()

    # -- hooks ---------------------------------------------------------------------------------------------
    def _install_hooks(self) -> None:
        """Hook every tapped module (by its path in `net`); `_remove_hooks` undoes it (a copy of the network, made
        without them, gets its own)."""
        modules = dict(self.net.named_modules())
        by_module: dict[str, list[str]] = {}
        for stage, tap in self.taps.items():
            for path in {tap.module, tap.done_module}:
                if path not in modules:
                    raise ValueError(f"tap for stage '{stage}' names missing module '{path}'")
                by_module.setdefault(path, [])
            by_module[tap.module].append(stage)
        for path in by_module:
            module = modules[path]
            recorded_here = [s for s in by_module[path]]
            finals_here = [s for s, t in self.taps.items() if t.done_module == path]
            pre = [s for s in recorded_here if self.taps[s].point == "input"]
            post = [s for s in recorded_here if self.taps[s].point == "output"]
            if pre:
                self._hook_handles.append(module.register_forward_pre_hook(self._make_pre_hook(pre)))
            self._hook_handles.append(module.register_forward_hook(self._make_post_hook(post, finals_here)))

    def _remove_hooks(self) -> None:
        for handle in self._hook_handles:
            handle.remove()
        self._hook_handles = []

    def _record(self, stage: str, value: Tensor) -> None:
        cap = self._capture
        tap = self.taps[stage]
        if tap.call == "first" and stage in cap.values:
            return
        if tap.relu:
            value = fake_relu(value) if self.fake_relu else torch.relu(value)
        if tap.transform is not None:
            value = tap.transform(value)
        cap.values[stage] = value

    def _make_pre_hook(self, stages: list[str]):
        def hook(module, args):
            cap = self._capture
            if cap is None:
                return None
            for s in stages:
                if s in cap.wanted and s not in cap.final:
                    self._record(s, args[0])
            return None

        return hook

    def _make_post_hook(self, recorded: list[str], finals: list[str]):
        def hook(module, args, output):
            cap = self._capture
            if cap is None:
                return None
            for s in recorded:
                if s in cap.wanted and s not in cap.final:
                    self._record(s, output)
            for s in finals:
                if s in cap.wanted:
                    cap.final.add(s)
            if self.truncate and cap.final >= cap.wanted:
                raise _StopForward
            return None

        return hook

    # -- public API ----------------------------------------------------------------------------------------
    @property
    def stage_names(self) -> list[str]:
        return self.spec.stage_names

    @property
    def checkpoint_skipped(self) -> bool:
        """True when the registry names a checkpoint that was neither loaded nor replaced (`--weights`,
        `--random-weights`): only weights-free stages were asked for (`models.weights_free_notice`), so only
        the stages no learned weight reaches are meaningful (`meaningful_stages`)."""
        from .models import declares_weights

        return self.weights_sha256 is None and not self.random_weights and declares_weights(self.spec)

    def meaningful_stages(self) -> list[str]:
        """`input_after_preproc` and every stage, in order; only the weights-free ones when the checkpoint was
        skipped (`checkpoint_skipped`)."""
        names = [IMPLICIT_STAGE, *self.spec.stage_names]
        return [n for n in names if n == IMPLICIT_STAGE or not (self.checkpoint_skipped and
                                                               self.spec.stage(n).needs_weights)]

    def preprocess(self, x: Tensor, clamp: bool = True) -> Tensor:
        """Clamp to the input range, then normalise: the `input_after_preproc` stage. clamp=False is for callers
        that guarantee x is already in the range (the clamp is then the identity, forward and backward)."""
        if clamp:
            x = RangeClamp.apply(x, *self.input_range)
        if self.mean is not None:
            x = (x - self.mean) / self.std
        if self.memory_format is not None:
            x = x.contiguous(memory_format=self.memory_format)
        return x

    def check_stages(self, stages: Iterable[str]) -> list[str]:
        names = list(stages)
        for s in names:
            if s != IMPLICIT_STAGE and s not in self.taps:
                valid = [*self.spec.stage_names, IMPLICIT_STAGE]
                raise UnknownStageError(
                    f"model '{self.spec.id}' has no stage '{s}'{suggest(s, valid)}; valid stages: {', '.join(valid)}"
                )
        return names

    def forward(self, x: Tensor, stages: Sequence[str] | None = None, *,  # type: ignore[override]
                in_range: bool = False) -> dict[str, Tensor]:
        """x: (B, *input.shape) in the input range → {stage: (B, *stage shape)}; default: every spec stage.
        in_range=True promises lo ≤ x ≤ hi (the metamer engine after its own clamp) and skips the in-graph clamp,
        whose backward costs four elementwise passes over the input; the result is the same."""
        names = self.check_stages(self.spec.stage_names if stages is None else stages)
        z = self.preprocess(x, clamp=not in_range)
        out: dict[str, Tensor] = {}
        if IMPLICIT_STAGE in names:
            out[IMPLICIT_STAGE] = z
        net_stages = [s for s in names if s != IMPLICIT_STAGE]
        if net_stages:
            self._capture = _Capture(wanted=set(net_stages))
            try:
                self.net(z)
            except _StopForward:
                pass
            finally:
                cap, self._capture = self._capture, None
            lost = [s for s in net_stages if s not in cap.values]
            if lost:
                raise RuntimeError(f"the forward of '{self.spec.id}' never reached stage(s) {lost} (plugin bug)")
            out.update((s, cap.values[s]) for s in net_stages)
        return out

    def logits(self, x: Tensor) -> Tensor:
        """Classifier output (B, n_classes) used for predictions: the "logits" tap if any, else "final"."""
        name = "logits" if "logits" in self.taps else "final"
        return self(x, [name])[name]

    def input_shape(self, batch: int = 1) -> tuple[int, ...]:
        return (batch, *self.spec.input.shape)


def stage_shapes(model: StagedModel, stages: Sequence[str] | None = None) -> dict[str, tuple[int, ...]]:
    """Per-example shapes of the stages, from one forward on the model's current device (meta works)."""
    device = next(iter(model.net.parameters()), torch.empty(0)).device
    lo, hi = model.input_range
    x = torch.full(model.input_shape(1), (lo + hi) / 2, device=device)
    with torch.no_grad():
        out = model(x, stages)
    return {k: tuple(v.shape[1:]) for k, v in out.items()}


def n_features(shape: Sequence[int]) -> int:
    return math.prod(shape)
