"""torchvision networks with the study's stage taps (SI Modeling Note 2; facts §3).

Stages (per example, 224 px input):
- AlexNet: relu0 64×55×55, relu1 192×27×27, relu2 384×13×13, relu3/relu4 256×13×13 (pre-pool), fc0_relu and
  fc1_relu 4096, final 1000.
- VGG-19: conv_relu_0_1 64×224², conv_relu_1_1 128×112², conv_relu_2_3 256×56², conv_relu_3_3 512×28²,
  conv_relu_4_3 512×14² (the last ReLU of each block, pre-pool), avgpool 512×7×7, fc_relu_0/1 4096, final 1000.
- ResNet50/101: conv1_relu1 64×112², layer1…layer4, avgpool 2048×1×1, final 1000 (`resnet_taps`).
Every `relu*` stage is the fake-ReLU of the pre-activation (forward ReLU, backward identity).
"""
from __future__ import annotations

from typing import Any

import torchvision
from torch import Tensor, nn

from metazoo_core.converters import check_normaliser, openselfsup_to_torchvision, robustness_to_arch, strip_module
from metazoo_core.errors import WeightsError
from metazoo_core.registry import ModelSpec
from metazoo_core.stagemaps import resnet_taps
from metazoo_core.stages import StageNetwork, Tap

# AlexNet: ReLU modules of `features` (conv blocks) and `classifier` (fc layers), as the study's names.
_ALEXNET_RELUS = {"relu0": "features.1", "relu1": "features.4", "relu2": "features.7", "relu3": "features.9",
                  "relu4": "features.11", "fc0_relu": "classifier.2", "fc1_relu": "classifier.5"}
# VGG-19: the last ReLU of each of the five conv blocks, then the two fc ReLUs.
_VGG19_RELUS = {"conv_relu_0_1": "features.3", "conv_relu_1_1": "features.8", "conv_relu_2_3": "features.17",
                "conv_relu_3_3": "features.26", "conv_relu_4_3": "features.35", "fc_relu_0": "classifier.1",
                "fc_relu_1": "classifier.4"}


def _relu_taps(table: dict[str, str]) -> dict[str, Tap]:
    return {stage: Tap(module, point="input", relu=True) for stage, module in table.items()}


def taps_for(arch: str, net: nn.Module) -> dict[str, Tap]:
    """The study's stage taps for a torchvision `arch` (alexnet, vgg19, resnet50, resnet101)."""
    if arch == "alexnet":
        return {**_relu_taps(_ALEXNET_RELUS), "final": Tap("classifier.6")}
    if arch == "vgg19":
        return {**_relu_taps(_VGG19_RELUS), "avgpool": Tap("avgpool"), "final": Tap("classifier.6")}
    if arch.startswith("resnet"):
        return resnet_taps(net, avgpool_shape=(net.fc.in_features, 1, 1))
    raise ValueError(f"no stage map for torchvision architecture '{arch}'")


def build(spec: ModelSpec) -> StageNetwork:
    arch = spec.build.get("arch", spec.id)
    net = getattr(torchvision.models, arch)(weights=None, num_classes=spec.stages[-1].shape[0])
    return StageNetwork(net=net, taps=taps_for(arch, net))


def convert(spec: ModelSpec, state: dict[str, Any]) -> dict[str, Tensor]:
    """Checkpoint → torchvision keys, by `spec.weights.format` (torchvision, robustness, stylized, openselfsup)."""
    fmt = spec.weights.format or "torchvision"
    if fmt == "robustness":
        norm = spec.normalization
        check_normaliser(state, norm.mean if norm else None, norm.std if norm else None, spec.id)
        return robustness_to_arch(state)
    if fmt in ("torchvision", "stylized"):
        return strip_module(state)
    if fmt == "openselfsup":
        return openselfsup_to_torchvision(state)
    raise WeightsError(f"'{spec.id}': unknown checkpoint format '{fmt}' for family torchvision; "
                       "use torchvision, robustness, stylized or openselfsup")
