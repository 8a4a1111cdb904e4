"""metazoo from Python: one import, about 25 names, no torch until a name that needs it is used.

    import metazoo as mz
    mz.list_models(available=True)                  # registered models that run offline here (no torch)
    model = mz.load_model("efficientnet_lite0")     # a StagedModel: model(x, stages) -> {stage: tensor}
    run = mz.generate(model, "builtin:chelsea", stages=["blocks_1", "final"], iterations=4, blocks=8, init_step=8)
    run                                             # in a notebook: originals beside metamers, measures, verdicts

Every function is the twin of a CLI command (`metazoo generate` ↔ `metazoo.generate`) with the same argument
names and defaults. Names are imported on first use (PEP 562 module `__getattr__`), so `import metazoo` and
`metazoo.list_models()` never import torch.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    # registry and models
    "list_models": "metazoo._models",
    "get_spec": "metazoo._models",
    "load_model": "metazoo._models",
    "add_plugin": "metazoo._models",
    # inputs, activations, predictions
    "load_input": "metazoo._models",
    "load_inputs": "metazoo._models",
    "activations": "metazoo._models",
    "predict": "metazoo._models",
    "sound": "metazoo._sounds",
    "Sound": "metazoo._sounds",
    # metamers and nulls
    "generate": "metazoo._metamers",
    "build_null": "metazoo._metamers",
    "read_run": "metazoo._metamers",
    "MetamerRun": "metazoo._metamers",
    "MetamerResult": "metazoo._metamers",
    "NullDistribution": "metazoo._metamers",
    "Recipe": "metazoo._metamers",
    # robustness, readout, OOD
    "robustness": "metazoo._robustness",
    "Adversarial": "metazoo._robustness",
    "adversarial": "metazoo._robustness",
    "RobustnessResult": "metazoo._robustness",
    "readout": "metazoo._other",
    "imagenet_c": "metazoo._other",
    # recognition, pages, human data
    "recognise": "metazoo._analysis",
    "Recognition": "metazoo._analysis",
    "build_report": "metazoo._analysis",
    "build_profiles": "metazoo._other",
    "human_study": "metazoo._analysis",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'metazoo' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
