"""LowpassAlexNet (the study's `alexnet_reduced_aliasing`; facts §8.2, SI Modeling Note 2).

AlexNet with every max-pooling replaced by HannPooling2d and a stride-1 first convolution. Module layout and
indices equal the study's, so its checkpoints load by key (`features.0.0.weight`, `features.2.hann_window2d`, …):

    features: 0 conv0 = [Conv2d(3, 64, 11, stride 1, padding 5), ReLU, HannPooling2d(stride 4, pool 17, padding 5)],
              1 relu0, 2 hpool0 (2, 9, 2), 3 conv1 64→192 k5 p2, 4 relu1, 5 hpool1 (2, 9, 2),
              6 conv2 192→384 k3 p1, 7 relu2, 8 conv3 384→256, 9 relu3, 10 conv4 256→256, 11 relu4, 12 hpool2 (2, 9, 2)
    avgpool: AdaptiveAvgPool(6, 6)
    classifier: 0 dropout, 1 fc0 9216→4096, 2 fc0_relu, 3 dropout, 4 fc1 4096→4096, 5 fc1_relu, 6 fctop 4096→1000

Stages (input 3×224×224, ImageNet-normalised): relu0 64×55×55, relu1 192×27×27, relu2 384×13×13,
relu3 256×13×13, relu4 256×13×13, fc0_relu 4096, fc1_relu 4096, final 1000; the relu stages are fake-ReLU copies
of their inputs (relu0's input is already non-negative: that ReLU is a no-op, facts §14).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from metazoo_core.registry import ModelSpec
from metazoo_core.stages import StageNetwork, Tap

from .hann import HannPooling2d

RELU_INDEX = {"relu0": 1, "relu1": 4, "relu2": 7, "relu3": 9, "relu4": 11}
"""Position of each stage's ReLU in `features`."""


def conv_hpool(in_ch: int, out_ch: int, kernel_size: int, pool_size: int, stride: int, padding: int) -> nn.Sequential:
    """Conv2d (stride 1, padding kernel_size//2) → ReLU → HannPooling2d(stride, pool_size, padding)."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel_size, stride=1, padding=kernel_size // 2), nn.ReLU(),
                         HannPooling2d(stride, pool_size, padding))


class LowpassAlexNet(nn.Module):
    def __init__(self, n_classes: int = 1000):
        super().__init__()
        self.features = nn.Sequential(
            conv_hpool(3, 64, kernel_size=11, pool_size=17, stride=4, padding=5), nn.ReLU(),
            HannPooling2d(2, 9, 2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(), HannPooling2d(2, 9, 2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(),
            HannPooling2d(2, 9, 2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
            nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, n_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def build(spec: ModelSpec, options: dict[str, Any]) -> StageNetwork:
    net = LowpassAlexNet(next((s.shape[0] for s in spec.stages if s.name == "final"), 1000))
    taps = {name: Tap(f"features.{i}", point="input", relu=True) for name, i in RELU_INDEX.items()}
    taps.update({
        "fc0_relu": Tap("classifier.2", point="input", relu=True),
        "fc1_relu": Tap("classifier.5", point="input", relu=True),
        "final": Tap("classifier.6"),
    })
    return StageNetwork(net=net, taps=taps)


def convert_checkpoint(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Study checkpoint (robustness layout `module.model.…`, with an `attacker.` copy and `preproc.` buffers) →
    this net's keys: the prefixes `module.` and `model.` are removed and everything else dropped."""
    for prefix in ("module.", "model."):
        if any(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return state
