"""Which models can run on this machine now, without a network: their checkpoint is cached (or a configured local
file), shipped in an installed package, or not needed (hand-built models; stages no learned weight reaches).
Torch-free and network-free, so `metazoo list --available` stays instant."""
from __future__ import annotations

import os
from dataclasses import dataclass

from .models import declares_weights, random_without_checkpoint
from .registry import ModelSpec


@dataclass(frozen=True)
class Availability:
    """`runs`: every stage can run offline here; `stages`: the stages that can (all of them when `runs`);
    `why`: 'cached', 'no weights needed', 'RANDOM weights: none declared', 'weights-free stages only' or
    'weights not here'."""
    runs: bool
    stages: tuple[str, ...]
    why: str


def availability(spec: ModelSpec) -> Availability:
    """What of `spec` runs offline here (no network, no package code run; see `weights.is_cached`)."""
    from . import weights

    everything = tuple(spec.stage_names)
    if random_without_checkpoint(spec):
        return Availability(True, everything, "RANDOM weights: none declared")
    if not declares_weights(spec):
        return Availability(True, everything, "no weights needed")
    if weights.is_cached(spec):
        return Availability(True, everything, "cached")
    free = tuple(s.name for s in spec.stages if not s.needs_weights)
    if free:
        return Availability(False, free, "weights-free stages only")
    return Availability(False, (), "weights not here")


def offline_mode() -> bool:
    """Whether HF_HUB_OFFLINE asks for no network at all (then nothing missing can be downloaded)."""
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}
