"""`open_clip:MODEL[/TAG]`: the visual tower of `open_clip.create_model(MODEL, pretrained=None)` (QuickGELU forced
when the tag's pretrained cfg says so, never left to upstream's warning), normalisation from the tag's cfg (else
the tower's `preprocess_cfg`), input size from the tower; stages from its named children (blocks split) plus
`final` (the projected image embedding); the oracle is the tower's `forward_intermediates`. No classifier: a CLIP
zero-shot head is not built for resolved ids yet."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..errors import UnknownModelError, suggest
from .discover import auto_subset, candidates, fired_shapes, stage_entries, stage_name
from .ids import ModelId


def _split(name: str) -> tuple[str, str | None]:
    arch, _, tag = name.partition("/")
    return arch, tag or None


def _visual(arch: str, quick_gelu: bool, device: str | None = None) -> nn.Module:
    import open_clip

    kwargs = {"device": device} if device else {}
    return open_clip.create_model(arch, pretrained=None, force_quick_gelu=quick_gelu, **kwargs).visual


def oracle_paths(visual: nn.Module) -> list[str] | None:
    """Module paths whose outputs `forward_intermediates` returns, in its order (ViT: every resblock;
    ModifiedResNet: the stem's avgpool and layer1–4); None for other towers."""
    if hasattr(visual, "transformer") and hasattr(visual.transformer, "resblocks"):
        return [f"transformer.resblocks.{i}" for i in range(len(visual.transformer.resblocks))]
    if all(hasattr(visual, a) for a in ("avgpool", "layer1", "layer4", "attnpool")):
        return ["avgpool", "layer1", "layer2", "layer3", "layer4"]
    return None


def describe(mid: ModelId) -> dict[str, Any]:
    """The raw registry entry for `mid` (validated by the caller), stages with meta-device shapes."""
    import open_clip
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME

    arch, tag = _split(mid.name)
    if arch not in open_clip.list_models():
        raise UnknownModelError(f"open_clip has no model '{arch}'{suggest(arch, open_clip.list_models())}; "
                                "`python -c 'import open_clip; print(open_clip.list_models())'` lists them")
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if tag is not None and tag not in tags:
        raise UnknownModelError(f"open_clip model '{arch}' has no pretrained tag '{tag}'{suggest(tag, tags)}; "
                                f"its tags: {', '.join(tags) or 'none'}")
    cfg = open_clip.get_pretrained_cfg(arch, tag) if tag else {}
    quick_gelu = bool(cfg.get("quick_gelu"))
    visual = _visual(arch, quick_gelu, "meta")
    size = visual.image_size if isinstance(visual.image_size, (tuple, list)) else (visual.image_size,) * 2
    shape = [3, *size]
    paths = oracle_paths(visual) or []
    fired = fired_shapes(visual, shape, [*candidates(visual), *paths, ""])
    pre = visual.preprocess_cfg
    mean, std = cfg.get("mean") or pre["mean"], cfg.get("std") or pre["std"]
    hub = cfg.get("hf_hub")
    weights = {"source": f"hf://{hub.rstrip('/')}/{HF_SAFE_WEIGHTS_NAME}" + (f"@{mid.rev}" if mid.rev else ""),
               "unverified": ["the Hub repository holds open_clip's safetensors file name"]} if hub else {
        "notes": "no Hub weights named for this tag; only --random-weights runs"}
    stages = stage_entries(fired)
    return {
        "id": f"{mid.source}:{mid.name}" + (f"@{mid.rev}" if mid.rev else ""),
        "family": "anymodel", "modality": "vision", "group": "resolved",
        "description": f"open_clip {arch}" + (f" ({tag})" if tag else "") + " visual tower (resolved"
                       + (", QuickGELU from the tag's cfg" if quick_gelu else "") + f"; {cfg.get('interpolation')}"
                       " resize upstream — metazoo's loader centre-crops and resizes bicubically)",
        "input": {"shape": shape, "range": [0.0, 1.0], "colour": "rgb"},
        "normalization": {"mean": list(mean), "std": list(std)},
        "stages": stages,
        "classifier": "none",
        "weights": weights,
        "build": {"source": "open_clip", "name": arch, "quick_gelu": quick_gelu,
                  "auto_stages": auto_subset([s["name"] for s in stages]),
                  "taps": {stage_name(p): {"module": p, "point": "output"} for p, _ in fired},
                  "oracle": [stage_name(p) for p in paths] if paths else None},
    }


def create(spec: Any) -> nn.Module:
    """The visual tower of a resolved spec, on the current default device (random weights)."""
    return _visual(spec.build["name"], spec.build["quick_gelu"])


def convert(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """A whole-CLIP checkpoint in the visual tower's keys (`visual.` prefix stripped, the text tower dropped)."""
    return {k[len("visual."):]: v for k, v in state_dict.items() if k.startswith("visual.")}


def intermediates(net: nn.Module, z: Tensor, paths: list[str]) -> list[Tensor]:
    """The tower's own intermediates for the normalised input z (NCHW, extra tokens dropped)."""
    with torch.no_grad():
        return list(net.forward_intermediates(z, intermediates_only=True)["image_intermediates"])
