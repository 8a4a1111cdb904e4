"""CochResNet50: torchvision's ResNet-50 (v1.5: stride on the 3×3 conv) with a 1-channel stem on the cochleagram.

Per example: cochleagram (1, 211, 390) → conv1 7×7/2 + bn1 → conv1_relu1 (64, 106, 195) → maxpool 3/2 →
layer1 (256, 53, 98) → layer2 (512, 27, 49) → layer3 (1024, 14, 25) → layer4 (2048, 7, 13) → avgpool
(2048, 1, 1) → fc → final (794). The study's checkpoint keys equal torchvision's (`conv1`, `layer1.0.conv1`, `fc`).
Stage taps: `metazoo_core.stagemaps.resnet_taps` (fake-ReLU on the last block's final ReLU of each layer).
"""
from __future__ import annotations

from torch import nn
from torchvision.models import resnet50

from metazoo_core.audio.network import CochleagramNet
from metazoo_core.registry import ModelSpec
from metazoo_core.stagemaps import resnet_taps
from metazoo_core.stages import StageNetwork, Tap


def cochresnet50_backbone(n_classes: int = 794) -> nn.Module:
    net = resnet50(num_classes=n_classes)
    net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    return net


def build(spec: ModelSpec) -> StageNetwork:
    backbone = cochresnet50_backbone(spec.stages[-1].shape[0])
    net = CochleagramNet(backbone)
    taps = {"cochleagram": Tap("cochleagram")}
    for name, tap in resnet_taps(backbone, avgpool_shape=(2048, 1, 1)).items():
        done = None if tap.done is None else f"backbone.{tap.done}"
        taps[name] = Tap(f"backbone.{tap.module}", point=tap.point, relu=tap.relu, call=tap.call,
                         transform=tap.transform, done=done)
    return StageNetwork(net=net, taps=taps, parts=net.parts())
