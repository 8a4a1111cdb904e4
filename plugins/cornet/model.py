"""CORnet-S: V1 (two convolutions) → V2, V4, IT (recurrent CORblock_S) → decoder (avgpool, linear 512→1000).

Parameter names follow the CORnet release so its checkpoints load strictly; 53,416,616 parameters (facts §14).
Stages (per example, 224 px input): V1 64×56×56, V2 128×28×28, V4 256×14×14, IT 512×7×7 — each the fake-ReLU of
the area's last ReLU (for V2/V4/IT, the output ReLU of the last time step) — and final 1000.
"""
from __future__ import annotations

from collections import OrderedDict

import torch.nn.functional as F
from torch import Tensor, nn

from metazoo_core.registry import ModelSpec
from metazoo_core.stages import StageNetwork, Tap


class CORblockS(nn.Module):
    """CORblock_S(channels, scale=4, times): (B, in, H, W) → (B, channels, H/2, W/2).

    A 1×1 input convolution, then `times` passes of a bottleneck (1×1 → 3×3 → 1×1) whose convolutions are
    shared across passes and whose BatchNorms are per pass (`norm{1,2,3}_{t}`). Pass 0 strides the 3×3
    convolution by 2 and takes its skip through a strided 1×1 convolution + BatchNorm; later passes stride 1
    with an identity skip. Each pass ends with skip addition and a ReLU (`nonlin3`).
    """

    scale = 4

    def __init__(self, in_channels: int, out_channels: int, times: int):
        super().__init__()
        wide = out_channels * self.scale
        self.times = times
        self.conv_input = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.skip = nn.Conv2d(out_channels, out_channels, kernel_size=1, stride=2, bias=False)
        self.norm_skip = nn.BatchNorm2d(out_channels)
        self.conv1 = nn.Conv2d(out_channels, wide, kernel_size=1, bias=False)
        self.nonlin1 = nn.ReLU()
        self.conv2 = nn.Conv2d(wide, wide, kernel_size=3, stride=2, padding=1, bias=False)
        self.nonlin2 = nn.ReLU()
        self.conv3 = nn.Conv2d(wide, out_channels, kernel_size=1, bias=False)
        self.nonlin3 = nn.ReLU()
        for t in range(times):
            setattr(self, f"norm1_{t}", nn.BatchNorm2d(wide))
            setattr(self, f"norm2_{t}", nn.BatchNorm2d(wide))
            setattr(self, f"norm3_{t}", nn.BatchNorm2d(out_channels))

    def forward(self, inp: Tensor) -> Tensor:
        x = self.conv_input(inp)
        for t in range(self.times):
            skip = self.norm_skip(self.skip(x)) if t == 0 else x
            x = self.nonlin1(getattr(self, f"norm1_{t}")(self.conv1(x)))
            x = F.conv2d(x, self.conv2.weight, stride=2 if t == 0 else 1, padding=1)
            x = self.nonlin2(getattr(self, f"norm2_{t}")(x))
            x = getattr(self, f"norm3_{t}")(self.conv3(x))
            x = self.nonlin3(x + skip)
        return x


def cornet_s(n_classes: int = 1000) -> nn.Sequential:
    """CORnet-S with the release's module names (V1, V2, V4, IT, decoder)."""
    v1 = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)),
        ("norm1", nn.BatchNorm2d(64)),
        ("nonlin1", nn.ReLU()),
        ("pool", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
        ("conv2", nn.Conv2d(64, 64, kernel_size=3, stride=1, padding=1, bias=False)),
        ("norm2", nn.BatchNorm2d(64)),
        ("nonlin2", nn.ReLU()),
    ]))
    decoder = nn.Sequential(OrderedDict([
        ("avgpool", nn.AdaptiveAvgPool2d(1)),
        ("flatten", nn.Flatten()),
        ("linear", nn.Linear(512, n_classes)),
    ]))
    return nn.Sequential(OrderedDict([
        ("V1", v1), ("V2", CORblockS(64, 128, times=2)), ("V4", CORblockS(128, 256, times=4)),
        ("IT", CORblockS(256, 512, times=2)), ("decoder", decoder),
    ]))


def build(spec: ModelSpec) -> StageNetwork:
    net = cornet_s(spec.stages[-1].shape[0])
    taps = {"V1": Tap("V1.nonlin2", point="input", relu=True)}
    taps.update({area: Tap(f"{area}.nonlin3", point="input", relu=True, call="last", done=area)
                 for area in ("V2", "V4", "IT")})
    taps["final"] = Tap("decoder.linear")
    return StageNetwork(net=net, taps=taps)
