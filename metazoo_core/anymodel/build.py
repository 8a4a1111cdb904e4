"""The `anymodel` family's build: the source library's architecture plus the spec's recorded module taps."""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from ..errors import MetazooError
from ..stages import StageNetwork, Tap

SOURCE_MODULES = {"timm": "timm_source", "torchvision": "torchvision_source", "open_clip": "open_clip_source"}
DISTRIBUTIONS = {"timm": "timm", "torchvision": "torchvision", "open_clip": "open_clip_torch"}


def source_module(source: str) -> ModuleType:
    """The module implementing `source`; a missing library is one line saying what to install."""
    try:
        importlib.import_module(source)
    except ImportError:
        raise MetazooError(f"resolving '{source}:' ids needs the '{DISTRIBUTIONS[source]}' package; "
                           f"pip install {DISTRIBUTIONS[source]}") from None
    return importlib.import_module(f"{__package__}.{SOURCE_MODULES[source]}")


def build(spec: Any) -> StageNetwork:
    """StageNetwork of a resolved spec: `build.source`'s architecture (random weights), `build.taps` as Taps."""
    net = source_module(spec.build["source"]).create(spec)
    for module in net.modules():  # an in-place activation would overwrite a recorded stage (Hardswish after fc)
        if getattr(module, "inplace", False) is True:
            module.inplace = False
    taps = {name: Tap(t["module"], point=t["point"]) for name, t in spec.build["taps"].items()}
    return StageNetwork(net=net, taps=taps)


def convert(spec: Any, state_dict: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint in the built network's keys: the source's converter when it has one, else unchanged."""
    module = source_module(spec.build["source"])
    return module.convert(state_dict) if hasattr(module, "convert") else state_dict
