"""Checkpoint-key converters shared by the vision families (state dict in → state dict in the network's keys).

Each function takes a state dict already loaded safely (`metazoo_core.weights.load_state_dict`) and returns a
new dict; none of them loads files or runs pickled code. Layouts (facts §9):

- robustness library (MadryLab, microsoft/robust-models-transfer, the study's own archive):
  `module.model.<arch>`, a duplicate `module.attacker.model.<arch>`, and the input normaliser as
  `module.normalizer.new_mean/new_std` (Madry), `module.attacker.normalize.*` or `preproc.normalize.*` (study).
- DataParallel wrappers (CORnet `module.V1…`, Stylized-ImageNet `module.conv1…` / `features.module.0…`,
  IPCL `module.conv_block_1…`): the `module.` path component is dropped wherever it appears.
- OpenSelfSup (SimCLR, MoCo v2, BYOL backbones): `backbone.<resnet>` plus a linear head `head.fc_cls`.
- fast_adversarial (locuslab): a DataParallel torchvision ResNet, `module.<arch>`, in `{'state_dict': …}`.
- dedeswim/vits-robustness-torch and timm: timm keys, sometimes under `module.` (`strip_module`), or with an
  embedded normaliser (`normalize.*` + `model.*`, `dedeswim_to_timm`). timm's ResNet names its parameters exactly
  as torchvision's, so ResNet checkpoints move between the two unchanged.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from .errors import WeightsError

_MODULE_COMPONENT = re.compile(r"(^|\.)module\.")
_NORMALISER_KEYS = ("normalizer.", "attacker.normalize.", "normalize.", "preproc.normalize.",
                    "attacker.preproc.normalize.")


def strip_module(state: Mapping[str, Any]) -> dict[str, Any]:
    """Drop every `module.` path component (DataParallel), e.g. `features.module.0.weight` → `features.0.weight`."""
    return {_MODULE_COMPONENT.sub(r"\1", k): v for k, v in state.items()}


def robustness_normaliser(state: Mapping[str, Any]) -> tuple[list[float], list[float]] | None:
    """(mean, std) per channel stored by a robustness-library checkpoint's normaliser, or None if it has none."""
    flat = strip_module(state)
    for prefix in _NORMALISER_KEYS:
        mean, std = flat.get(prefix + "new_mean"), flat.get(prefix + "new_std")
        if mean is not None and std is not None:
            return [float(v) for v in mean.reshape(-1)], [float(v) for v in std.reshape(-1)]
    return None


ATTACKER_MODEL_PARTS = ("model.", "attacker.", "preproc.", "normalizer.")
"""Top-level parts of a robustness-library `AttackerModel` state: the network, the attacker (a duplicate network
and normaliser), the study fork's `preproc` (normaliser, audio front end) and MadryLab's `normalizer`."""


def check_attacker_parts(flat: Mapping[str, Any], origin: str = "checkpoint") -> None:
    """Raise WeightsError for keys outside an AttackerModel's parts (the study's loader loaded strictly)."""
    stray = sorted(k for k in flat if not k.startswith(ATTACKER_MODEL_PARTS))
    if stray:
        raise WeightsError(
            f"{origin}: {len(stray)} keys outside the robustness layout's model/attacker/preproc/normalizer parts "
            f"(e.g. {stray[:3]}); is this the right checkpoint and format?"
        )


def robustness_to_arch(state: Mapping[str, Any]) -> dict[str, Any]:
    """Robustness-library keys → the bare architecture's keys (`module.model.X` → `X`).

    The attacker's duplicate copy and the normaliser buffers are dropped; any other top-level part raises
    WeightsError (the study's loader was strict). A dict without `model.` keys is returned with only `module.`
    removed (already bare).
    """
    flat = strip_module(state)
    if not any(k.startswith("model.") for k in flat):
        return flat
    check_attacker_parts(flat)
    return {k[len("model."):]: v for k, v in flat.items() if k.startswith("model.")}


def dedeswim_to_timm(state: Mapping[str, Any], mean: list[float] | None, std: list[float] | None,
                     model_id: str, atol: float = 1e-4) -> dict[str, Any]:
    """dedeswim/vits-robustness-torch checkpoint → timm keys.

    Released files are the training state's `model` entry: plain timm keys, or, for a model trained with
    `--normalize-model`, `normalize.mean`/`normalize.std` plus `model.<timm keys>` (its `normalize_model`
    wrapper). The embedded normaliser must equal the registry's normalisation (WeightsError otherwise) and is
    dropped; `module.` components are removed.
    """
    flat = strip_module(state)
    if "normalize.mean" not in flat:
        return flat
    got_mean = [float(v) for v in flat["normalize.mean"].reshape(-1)]
    got_std = [float(v) for v in flat["normalize.std"].reshape(-1)]
    if mean is None or std is None or len(got_mean) != len(mean) or any(
            abs(a - b) > atol for a, b in zip(got_mean + got_std, mean + std)):
        raise WeightsError(
            f"checkpoint for '{model_id}' embeds input mean {got_mean} / std {got_std}, but the registry "
            f"normalises with {mean} / {std}; fix the entry's normalization or use the right checkpoint"
        )
    stray = sorted(k for k in flat if not k.startswith(("model.", "normalize.")))
    if stray:
        raise WeightsError(f"checkpoint for '{model_id}': keys outside model./normalize. (e.g. {stray[:3]})")
    return {k[len("model."):]: v for k, v in flat.items() if k.startswith("model.")}


def check_normaliser(state: Mapping[str, Any], mean: list[float] | None, std: list[float] | None,
                     model_id: str, atol: float = 1e-4) -> None:
    """Raise WeightsError when the checkpoint's stored normaliser differs from the registry's normalisation."""
    stored = robustness_normaliser(state)
    if stored is None or mean is None or std is None:
        return
    got_mean, got_std = stored
    if len(got_mean) != len(mean) or any(abs(a - b) > atol for a, b in zip(got_mean + got_std, mean + std)):
        raise WeightsError(
            f"checkpoint for '{model_id}' was trained with input mean {got_mean} / std {got_std}, but the registry "
            f"normalises with mean {mean} / std {std}; fix the entry's normalization or use the right checkpoint"
        )


def openselfsup_to_torchvision(state: Mapping[str, Any]) -> dict[str, Any]:
    """OpenSelfSup ResNet50 (`backbone.X`, linear head `head.fc_cls.*`) → torchvision ResNet keys (`X`, `fc.*`).

    Projection necks (`neck.*`, `projector.*`, `predictor.*`, BYOL's `target_net.*`) are dropped. Keys already in
    torchvision layout pass through.
    """
    flat = strip_module(state)
    if not any(k.startswith("backbone.") for k in flat):
        return flat
    out = {}
    for k, v in flat.items():
        if k.startswith("backbone."):
            out[k[len("backbone."):]] = v
        elif k.startswith("head.fc_cls."):
            out["fc." + k[len("head.fc_cls."):]] = v
    return out


def ipcl_to_study(state: Mapping[str, Any], readout: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """open_ipcl AlexNetGN (`module.conv_block_1.0.weight`, …, `fc8.0.*`) → the study's layout.

    The study's layout has the same parameter paths (its max-pools moved out of the blocks hold no parameters);
    `readout` (the study's linear readout on fc7, `classifier.weight/bias`, as saved by open_ipcl's
    main_lincls_onecycle.py) becomes `fc_final.*`.
    """
    out = strip_module(state)
    if readout is not None:
        head = strip_module(readout)
        for name in ("weight", "bias"):
            key = next((k for k in (f"classifier.{name}", f"fc_final.{name}", f"fc.{name}") if k in head), None)
            if key is None:
                raise WeightsError(f"IPCL readout checkpoint has no linear layer (keys {sorted(head)[:4]})")
            out[f"fc_final.{name}"] = head[key]
    return out
