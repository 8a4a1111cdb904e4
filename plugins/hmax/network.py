"""Build the HMAX `StageNetwork` for a spec: patch set → network → stage taps."""
from __future__ import annotations

from typing import Any

from metazoo_core.errors import MetazooError
from metazoo_core.registry import ModelSpec
from metazoo_core.stages import StageNetwork, Tap

from . import layout, patches
from .model import HMAX


def build(spec: ModelSpec, options: dict[str, Any]) -> StageNetwork:
    """The network with constructed S1/S2 filters and a random readout; stages s1, c1, s2, c2, final."""
    size = spec.input.shape[-1]
    if list(spec.input.shape) != [1, size, size]:
        raise MetazooError(f"HMAX model '{spec.id}' needs a square greyscale input [1, N, N], got {spec.input.shape}")
    patch_set, origin = patches.for_spec(spec, meta=options.get("device") == "meta")
    n_classes = next((s.shape[0] for s in spec.stages if s.name == "final"), 1000)
    net = HMAX(patch_set, image_size=size, n_classes=n_classes)
    expected = layout.stage_shapes(net.s2.patch_sizes, size, int(patch_set[0].shape[0]), n_classes)
    wrong = {s.name: (s.shape, expected[s.name]) for s in spec.stages
             if s.name in expected and s.shape != expected[s.name]}
    if wrong:
        detail = "; ".join(f"{k}: registry {a}, network {b}" for k, (a, b) in wrong.items())
        raise MetazooError(f"HMAX model '{spec.id}': stage shapes do not match its patch set ({origin}): {detail}; "
                           "fix the registry entry's stages")
    taps = {name: Tap(name) for name in ("s1", "c1", "s2", "c2")}
    taps["final"] = Tap("fc")
    return StageNetwork(net=net, taps=taps)
