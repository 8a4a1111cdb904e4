"""CochCNN9 (the study's `kell2018`): a 9-stage CNN on the cochleagram (SI, Modeling Note 2 table).

Per example: cochleagram (1, 211, 390) → BatchNorm(1) → conv0 [7×14]/3 → relu0 (96, 71, 130) → maxpool [2×5]/2 →
BN → conv1 [4×8]/2 → relu1 (256, 18, 33) → maxpool → BN → conv2 [2×5] → relu2 (512, 9, 17) → conv3 → relu3
(1024, 9, 17) → conv4 → relu4 (512, 9, 17) → avgpool [2×5]/2 (512, 5, 9) → fc 23040 → 4096 → relu5 → dropout →
final (794). Convolutions and pools use TensorFlow 'SAME' padding (pad total max((⌈n/s⌉−1)·s + k − n, 0), the
smaller half first; max pools pad with −inf, the average pool with zeros counted in the mean). Module names
follow the study's checkpoint (`conv0`, `batchnorm0`, `fullyconnected`, `classification`, …).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from metazoo_core.audio.network import CochleagramNet
from metazoo_core.registry import ModelSpec
from metazoo_core.stages import StageNetwork, Tap


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'SAME' padding (before, after) along one axis of length `size`."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int], value: float = 0.0) -> Tensor:
    ph = same_padding(x.shape[-2], kernel[0], stride[0])
    pw = same_padding(x.shape[-1], kernel[1], stride[1])
    return nn.functional.pad(x, [pw[0], pw[1], ph[0], ph[1]], value=value)


class Conv2dSame(nn.Conv2d):
    """Conv2d with TF 'SAME' padding computed from the input size."""

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return super().forward(_pad_same(x, self.kernel_size, self.stride))


class MaxPool2dSame(nn.MaxPool2d):
    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return super().forward(_pad_same(x, self.kernel_size, self.stride, value=-math.inf))


class AvgPool2dSame(nn.AvgPool2d):
    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return super().forward(_pad_same(x, self.kernel_size, self.stride))


class CochCNN9(nn.Module):
    """cochleagram (B, 1, 211, 390) → logits (B, n_classes)."""

    def __init__(self, n_classes: int = 794):
        super().__init__()
        self.batchnorm0 = nn.BatchNorm2d(1)
        self.conv0 = Conv2dSame(1, 96, kernel_size=(7, 14), stride=(3, 3))
        self.relu0 = nn.ReLU()
        self.maxpool0 = MaxPool2dSame(kernel_size=(2, 5), stride=(2, 2))
        self.batchnorm1 = nn.BatchNorm2d(96)
        self.conv1 = Conv2dSame(96, 256, kernel_size=(4, 8), stride=(2, 2))
        self.relu1 = nn.ReLU()
        self.maxpool1 = MaxPool2dSame(kernel_size=(2, 5), stride=(2, 2))
        self.batchnorm2 = nn.BatchNorm2d(256)
        self.conv2 = Conv2dSame(256, 512, kernel_size=(2, 5), stride=(1, 1))
        self.relu2 = nn.ReLU()
        self.conv3 = Conv2dSame(512, 1024, kernel_size=(2, 5), stride=(1, 1))
        self.relu3 = nn.ReLU()
        self.conv4 = Conv2dSame(1024, 512, kernel_size=(2, 5), stride=(1, 1))
        self.relu4 = nn.ReLU()
        self.avgpool = AvgPool2dSame(kernel_size=(2, 5), stride=(2, 2))
        self.fullyconnected = nn.Linear(512 * 5 * 9, 4096)
        self.relufc = nn.ReLU()
        self.dropout = nn.Dropout(0.5)
        self.classification = nn.Linear(4096, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool0(self.relu0(self.conv0(self.batchnorm0(x))))
        x = self.maxpool1(self.relu1(self.conv1(self.batchnorm1(x))))
        x = self.relu2(self.conv2(self.batchnorm2(x)))
        x = self.relu4(self.conv4(self.relu3(self.conv3(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.classification(self.dropout(self.relufc(self.fullyconnected(x))))


def build(spec: ModelSpec) -> StageNetwork:
    net = CochleagramNet(CochCNN9(spec.stages[-1].shape[0]))
    taps = {"cochleagram": Tap("cochleagram"), "avgpool": Tap("backbone.avgpool"),
            "relu5": Tap("backbone.relufc", point="input", relu=True), "final": Tap("backbone.classification")}
    taps.update({f"relu{i}": Tap(f"backbone.relu{i}", point="input", relu=True) for i in range(5)})
    return StageNetwork(net=net, taps=taps, parts=net.parts())
