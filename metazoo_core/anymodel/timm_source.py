"""`timm:NAME[.TAG][@REV]`: an architecture from `timm.create_model` (pretrained=False; weights come through
metazoo's own loader from the tag's Hub file), normalisation and input size from its `pretrained_cfg`, one stage
per `feature_info` entry, one per block inside it, plus `final` (the classifier output); the oracle is
`forward_intermediates`."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..errors import UnknownModelError, suggest
from .discover import auto_subset, fired_shapes, stage_entries, stage_name
from .ids import ModelId


def _create(name: str) -> nn.Module:
    import timm

    return timm.create_model(name, pretrained=False)


def _checked_create(mid: ModelId) -> nn.Module:
    """The architecture on the meta device; an unknown model or tag is one line with suggestions."""
    import timm
    from timm.models import split_model_name_tag

    arch, tag = split_model_name_tag(mid.name)
    if not timm.is_model(arch):
        raise UnknownModelError(f"timm has no model '{arch}'{suggest(arch, timm.list_models())}; "
                                "`python -c 'import timm; print(timm.list_models())'` lists them")
    try:
        with torch.device("meta"):
            return _create(mid.name)
    except RuntimeError as e:
        if "Invalid pretrained tag" not in str(e):
            raise
        tags = [n.partition(".")[2] for n in timm.list_pretrained(f"{arch}.*")]
        raise UnknownModelError(f"timm model '{arch}' has no pretrained tag '{tag}'{suggest(tag, tags)}; "
                                f"its tags: {', '.join(tags) or 'none'}") from None


def _weights(cfg: dict[str, Any], rev: str | None) -> dict[str, Any]:
    """The weights entry: timm's Hub file (`hf_hub_id` + timm's safetensors file name) or the cfg's URL."""
    from timm.models._hub import HF_SAFE_WEIGHTS_NAME

    if cfg.get("hf_hub_id"):
        file = cfg.get("hf_hub_filename") or HF_SAFE_WEIGHTS_NAME
        return {"source": f"hf://{cfg['hf_hub_id']}/{file}" + (f"@{rev}" if rev else ""),
                "unverified": ["the Hub repository holds this file name (timm prefers it when present)"]}
    if cfg.get("url"):
        return {"source": cfg["url"]}
    return {"notes": "timm names no pretrained weights for this tag; only --random-weights runs"}


def blocks(net: nn.Module, stage_paths: list[str]) -> list[str]:
    """The blocks inside each feature_info stage, so every block is available by name: the children of a stage
    that is a Sequential/ModuleList, or of its `blocks` (else longest Sequential) child (ConvNeXt
    `stages.0.blocks`), except the last (whose output is the stage's own)."""
    modules = dict(net.named_modules())
    out = []
    for path in stage_paths:
        module = modules[path]
        inner = [(path, module)] if isinstance(module, (nn.Sequential, nn.ModuleList)) else sorted(
            ((f"{path}.{n}", c) for n, c in module.named_children() if isinstance(c, (nn.Sequential, nn.ModuleList))),
            key=lambda item: (not item[0].endswith(".blocks"), -len(item[1])))
        for prefix, container in inner[:1]:
            out += [f"{prefix}.{n}" for n, _ in list(container.named_children())[:-1]]
    return out


def describe(mid: ModelId) -> dict[str, Any]:
    """The raw registry entry for `mid` (validated by the caller), stages with meta-device shapes."""
    net = _checked_create(mid)
    cfg = dict(net.pretrained_cfg)
    info = list(net.feature_info)
    points = {d["module"]: ("input" if d.get("hook_type") == "forward_pre" else "output") for d in info}
    shape = list(cfg["input_size"])
    fired = fired_shapes(net, shape, [*blocks(net, list(points)), *points, ""], points)
    stages = stage_entries(fired)
    names = [stage_name(p) for p, _ in fired if p in points or not p]  # feature_info stages and final
    name = f"{cfg['architecture']}.{cfg['tag']}" if cfg.get("tag") else cfg["architecture"]
    return {
        "id": f"{mid.source}:{mid.name}" + (f"@{mid.rev}" if mid.rev else ""),
        "family": "anymodel", "modality": "vision", "group": "resolved",
        "description": f"timm {name} (resolved; crop_pct {cfg.get('crop_pct')}, {cfg.get('interpolation')} "
                       "resize upstream — metazoo's loader centre-crops and resizes bicubically)",
        "input": {"shape": shape, "range": [0.0, 1.0], "colour": "rgb"},
        "normalization": {"mean": list(cfg["mean"]), "std": list(cfg["std"])},
        "stages": stages,
        "classifier": "imagenet1000" if cfg.get("num_classes") == 1000 else "none",
        "weights": _weights(cfg, mid.rev),
        "provenance": {"license": cfg.get("license"), "url": cfg.get("origin_url"),
                       "paper": cfg.get("paper_ids")},
        "build": {"source": "timm", "name": name, "auto_stages": auto_subset(names),
                  "taps": {stage_name(p): {"module": p, "point": points.get(p, "output")} for p, _ in fired},
                  "oracle": _oracle_stages(info, fired)},
    }


def _oracle_stages(info: list[dict[str, Any]], fired: list[tuple[str, Any]]) -> list[str] | None:
    """Stage names aligned with `forward_intermediates`' list, or None (no oracle) when a `feature_info` module
    gives no tensor (e.g. PiT's transformer stages return a tuple) and so is not a stage."""
    tapped = {p for p, _ in fired}
    if not all(d["module"] in tapped for d in info):
        return None
    return [stage_name(d["module"]) for d in info]


def create(spec: Any) -> nn.Module:
    """The architecture of a resolved spec, on the current default device (random weights)."""
    return _create(spec.build["name"])


def intermediates(net: nn.Module, z: Tensor, paths: list[str]) -> list[Tensor] | None:
    """timm's own intermediates for the normalised input z, in `feature_info` order (`paths` is implied by the
    model); None without the API."""
    if not hasattr(net, "forward_intermediates"):
        return None
    return list(net.forward_intermediates(z, indices=None, intermediates_only=True))
