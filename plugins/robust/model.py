"""Robust ImageNet classifiers: (B, 3, 224, 224) in [0, 1], normalised as the entry says (ImageNet mean/std,
none for the raw-pixel dedeswim XCiT/ConvNeXt) → final (B, 1000) logits, the only stage.

Architectures come from timm (`build.timm_arch`) or torchvision (`build.torchvision_arch`). Three are not in
today's libraries under those names and are built here as their releases define them:
XCiT-M12 (embed 512, 8 heads) and XCiT-L12 (embed 768, 16 heads), both depth 12, eta 1, tokens_norm
(dedeswim/vits-robustness-torch); GELU-ResNet50 (timm ResNet, Bottleneck [3, 4, 6, 3], GELU activations; dedeswim);
Wide-ResNet-50-4 (torchvision ResNet with width_per_group 256, robustness library).
"""
from __future__ import annotations

import re
from typing import Any, Callable

import timm
from timm.layers import GELU
import torchvision
from timm.models.resnet import Bottleneck as TimmBottleneck
from timm.models.resnet import ResNet as TimmResNet
from timm.models.xcit import Xcit
from torch import Tensor, nn
from torchvision.models.resnet import Bottleneck, ResNet

from metazoo_core.converters import check_normaliser, dedeswim_to_timm, robustness_to_arch, strip_module
from metazoo_core.errors import WeightsError
from metazoo_core.registry import ModelSpec
from metazoo_core.stages import StageNetwork, Tap

_XCIT_12 = dict(patch_size=16, depth=12, eta=1.0, tokens_norm=True)
_CUSTOM: dict[str, Callable[[int], nn.Module]] = {
    "xcit_medium_12_p16_224": lambda n: Xcit(embed_dim=512, num_heads=8, num_classes=n, **_XCIT_12),
    "xcit_large_12_p16_224": lambda n: Xcit(embed_dim=768, num_heads=16, num_classes=n, **_XCIT_12),
    "resnet50_gelu": lambda n: TimmResNet(block=TimmBottleneck, layers=(3, 4, 6, 3), act_layer=GELU,
                                          num_classes=n),
    "wide_resnet50_4": lambda n: ResNet(Bottleneck, [3, 4, 6, 3], width_per_group=64 * 4, num_classes=n),
}
# torchvision's own rule for old DenseNet checkpoints: `denselayer1.norm.1.weight` → `denselayer1.norm1.weight`.
_DENSENET_OLD = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\."
                           r"((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$")


def architecture(spec: ModelSpec) -> nn.Module:
    n_classes = spec.stages[-1].shape[0]
    name = spec.build.get("timm_arch") or spec.build.get("torchvision_arch")
    if name in _CUSTOM:
        return _CUSTOM[name](n_classes)
    if "timm_arch" in spec.build:
        return timm.create_model(name, pretrained=False, num_classes=n_classes)
    if "torchvision_arch" in spec.build:
        return getattr(torchvision.models, name)(weights=None, num_classes=n_classes)
    raise ValueError(f"registry entry '{spec.id}' needs build.timm_arch or build.torchvision_arch")


def build(spec: ModelSpec) -> StageNetwork:
    return StageNetwork(net=architecture(spec), taps={"final": Tap("")})


def _densenet_keys(state: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in state.items():
        m = _DENSENET_OLD.match(k)
        out[m.group(1) + m.group(2) if m else k] = v
    return out


def convert(spec: ModelSpec, state: dict[str, Any]) -> dict[str, Tensor]:
    """Checkpoint → architecture keys by `spec.weights.format`: robustness, timm or fast_adversarial."""
    fmt = spec.weights.format
    if fmt == "robustness":
        norm = spec.normalization
        check_normaliser(state, norm.mean if norm else None, norm.std if norm else None, spec.id)
        return _densenet_keys(robustness_to_arch(state))
    if fmt == "timm":
        norm = spec.normalization
        return dedeswim_to_timm(state, norm.mean if norm else None, norm.std if norm else None, spec.id)
    if fmt == "fast_adversarial":
        return strip_module(state)
    raise WeightsError(f"'{spec.id}': unknown checkpoint format '{fmt}' for family robust; "
                       "use robustness, timm or fast_adversarial")
