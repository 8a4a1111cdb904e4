"""The metamer engine: the study's optimisation, its acceptance criteria, null distributions and run folders.

    from metazoo_core.metamer import generate_metamers, build_null, NullDistribution, RECIPES

Names are imported lazily, so `import metazoo_core.metamer.schedules` (used by plugins) stays torch-free.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "generate_metamers": "generate",
    "initial_noise": "generate",
    "MetamerResult": "generate",
    "MetamerRun": "generate",
    "build_null": "null",
    "NullDistribution": "null",
    "RECIPES": "recipes",
    "Recipe": "recipes",
    "get_recipe": "recipes",
    "ProgressEvent": "optimise",
    "UnitSchedule": "schedules",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
