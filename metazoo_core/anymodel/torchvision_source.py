"""`torchvision:NAME[@WEIGHTS]`: a classification builder from `torchvision.models.get_model` (weights=None;
the checkpoint comes through metazoo's loader from the weights enum's URL), normalisation and input size from the
weights' transforms, stages from the named children (a Sequential of ≥ 3 blocks contributes one stage per block)
plus `final`; the oracle is FX `create_feature_extractor` on the same module paths."""
from __future__ import annotations

import re
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import UnknownModelError, suggest
from .discover import auto_subset, candidates, fired_shapes, stage_entries, stage_name
from .ids import ModelId

def _classification_models() -> list[str]:
    import torchvision

    return torchvision.models.list_models(module=torchvision.models)


def _weights_member(mid: ModelId) -> Any:
    """The weights-enum member named by the id's @REV (default: the enum's DEFAULT, recorded by its own name)."""
    from torchvision.models import get_model_weights

    enum = get_model_weights(mid.name)
    members = [m for m in enum.__members__ if m != "DEFAULT"]
    if mid.rev is None:
        return enum.DEFAULT
    if mid.rev not in enum.__members__:
        raise UnknownModelError(f"torchvision model '{mid.name}' has no weights '{mid.rev}'"
                                f"{suggest(mid.rev, members)}; its weights: {', '.join(members)}")
    return enum[mid.rev]


def graph_visible(net: nn.Module, paths: list[str]) -> list[str]:
    """The paths FX feature extraction can return (a node of the eval graph, or a module holding such nodes);
    modules inside torchvision.ops modules (leaves of its tracer, e.g. RegNet's `stem.0`) are not."""
    from torchvision.models.feature_extraction import get_graph_node_names

    nodes = get_graph_node_names(net)[1]
    return [p for p in paths if any(n == p or n.startswith(p + ".") for n in nodes)]


def describe(mid: ModelId) -> dict[str, Any]:
    """The raw registry entry for `mid` (validated by the caller), stages with meta-device shapes."""
    from torchvision.models import get_model

    names = _classification_models()
    if mid.name not in names:
        raise UnknownModelError(f"torchvision has no classification model '{mid.name}'{suggest(mid.name, names)}; "
                                "`python -c 'import torchvision; print(torchvision.models.list_models())'` lists them")
    weights = _weights_member(mid)
    preset = weights.transforms()
    crop = preset.crop_size[0]
    try:
        with torch.device("meta"):
            net = get_model(mid.name, weights=None)
        device = "meta"
    except NotImplementedError:  # a builder that reads tensor values while constructing (RegNet's widths)
        net, device = get_model(mid.name, weights=None), "cpu"
    fired = fired_shapes(net, [3, crop, crop], [*candidates(net), ""], device=device)
    stages = stage_entries(fired)
    categories = weights.meta.get("categories") or []
    prefix = re.search(r"-([0-9a-f]{8,63})\.pth$", weights.url)
    return {
        "id": f"{mid.source}:{mid.name}" + (f"@{mid.rev}" if mid.rev else ""),
        "family": "anymodel", "modality": "vision", "group": "resolved",
        "description": f"torchvision {mid.name} with {type(weights).__name__}.{weights.name} (resolved; resize "
                       f"{preset.resize_size}, crop {crop}, {preset.interpolation.value} upstream — metazoo's "
                       "loader centre-crops and resizes bicubically)",
        "input": {"shape": [3, crop, crop], "range": [0.0, 1.0], "colour": "rgb"},
        "normalization": {"mean": list(preset.mean), "std": list(preset.std)},
        "stages": stages,
        "classifier": "imagenet1000" if len(categories) == 1000 else "none",
        "weights": {"source": weights.url, "sha256_prefix": prefix.group(1) if prefix else None},
        "provenance": {"url": weights.meta.get("recipe"),
                       "top1": weights.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1"),
                       "top5": weights.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@5")},
        "build": {"source": "torchvision", "name": mid.name, "weights_enum": f"{type(weights).__name__}."
                  f"{weights.name}", "auto_stages": auto_subset([s["name"] for s in stages]),
                  "taps": {stage_name(p): {"module": p, "point": "output"} for p, _ in fired},
                  "oracle": [stage_name(p) for p in graph_visible(net, [p for p, _ in fired if p])]},
    }


def create(spec: Any) -> nn.Module:
    """The architecture of a resolved spec, on the current default device (random weights)."""
    from torchvision.models import get_model

    return get_model(spec.build["name"], weights=None)


def intermediates(net: nn.Module, z: Tensor, paths: list[str]) -> list[Tensor]:
    """The outputs of the modules at `paths` for the normalised input z, from torchvision's FX feature extractor
    (an independent graph of the same modules)."""
    from torchvision.models.feature_extraction import create_feature_extractor

    out = create_feature_extractor(net, return_nodes=paths)(z)
    return [out[p] for p in paths]
