"""LowpassAlexNet (the study's `alexnet_reduced_aliasing`; facts §8.2, SI Modeling Note 2).

AlexNet with every max-pooling replaced by HannPooling2d and a stride-1 first convolution:
conv0 = [Conv2d(3, 64, 11, stride 1, padding 5) → ReLU → HannPooling2d(stride 4, pool 17, padding 5)] → relu0 →
hpool0 (2, 9, 2) → conv1 64→192 k5 p2 → relu1 → hpool1 (2, 9, 2) → conv2 192→384 k3 p1 → relu2 → conv3 384→256 →
relu3 → conv4 256→256 → relu4 → hpool2 (2, 9, 2) → AdaptiveAvgPool(6, 6) → AlexNet classifier
(dropout, fc 9216→4096, ReLU, dropout, fc 4096→4096, ReLU, fc 4096→1000).

Stages (input 3×224×224, ImageNet-normalised): relu0 64×55×55, relu1 192×27×27, relu2 384×13×13,
relu3 256×13×13, relu4 256×13×13, fc0_relu 4096, fc1_relu 4096, final 1000; the relu stages are fake-ReLU copies
of their inputs (relu0's input is already non-negative: that ReLU is a no-op, facts §14).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import Tensor, nn

from metazoo_core.registry import ModelSpec
from metazoo_core.stages import StageNetwork, Tap

from .hann import HannPooling2d


class ConvHPool2d(nn.Module):
    """Conv2d → ReLU → HannPooling2d (the study's first stage)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, conv_stride: int, conv_padding: int,
                 pool_stride: int, pool_size: int, pool_padding: int):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride=conv_stride, padding=conv_padding)
        self.relu = nn.ReLU()
        self.hpool = HannPooling2d(pool_stride, pool_size, pool_padding)

    def forward(self, x: Tensor) -> Tensor:
        return self.hpool(self.relu(self.conv(x)))


class LowpassAlexNet(nn.Module):
    def __init__(self, n_classes: int = 1000):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("conv0", ConvHPool2d(3, 64, 11, 1, 5, 4, 17, 5)),
            ("relu0", nn.ReLU()),
            ("hpool0", HannPooling2d(2, 9, 2)),
            ("conv1", nn.Conv2d(64, 192, kernel_size=5, padding=2)),
            ("relu1", nn.ReLU()),
            ("hpool1", HannPooling2d(2, 9, 2)),
            ("conv2", nn.Conv2d(192, 384, kernel_size=3, padding=1)),
            ("relu2", nn.ReLU()),
            ("conv3", nn.Conv2d(384, 256, kernel_size=3, padding=1)),
            ("relu3", nn.ReLU()),
            ("conv4", nn.Conv2d(256, 256, kernel_size=3, padding=1)),
            ("relu4", nn.ReLU()),
            ("hpool2", HannPooling2d(2, 9, 2)),
        ]))
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(OrderedDict([
            ("dropout0", nn.Dropout()),
            ("fc0", nn.Linear(256 * 6 * 6, 4096)),
            ("fc0_relu", nn.ReLU()),
            ("dropout1", nn.Dropout()),
            ("fc1", nn.Linear(4096, 4096)),
            ("fc1_relu", nn.ReLU()),
            ("fctop", nn.Linear(4096, n_classes)),
        ]))

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def build(spec: ModelSpec, options: dict[str, Any]) -> StageNetwork:
    net = LowpassAlexNet(next((s.shape[0] for s in spec.stages if s.name == "final"), 1000))
    taps = {f"relu{i}": Tap(f"features.relu{i}", point="input", relu=True) for i in range(5)}
    taps.update({
        "fc0_relu": Tap("classifier.fc0_relu", point="input", relu=True),
        "fc1_relu": Tap("classifier.fc1_relu", point="input", relu=True),
        "final": Tap("classifier.fctop"),
    })
    return StageNetwork(net=net, taps=taps)


_CLASSIFIER_INDEX = {"1": "fc0", "4": "fc1", "6": "fctop"}


def convert_checkpoint(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Study checkpoint (robustness layout, `module.model.…`) → this net's keys.

    Prefixes `module.` and `model.` are removed (the `attacker.` copy and `preproc.` buffers are dropped);
    a torchvision-style `classifier.1/4/6` maps to `classifier.fc0/fc1/fctop`. Keys already in this layout pass.
    """
    for prefix in ("module.", "model."):
        if any(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    out = {}
    for k, v in state.items():
        parts = k.split(".")
        if parts[0] == "classifier" and parts[1] in _CLASSIFIER_INDEX:
            parts[1] = _CLASSIFIER_INDEX[parts[1]]
        out[".".join(parts)] = v
    return out
