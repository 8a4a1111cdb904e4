"""AlexNetGN (open_ipcl `alexnet_gn`, with the study's max-pools moved out of the conv blocks).

Input: ImageNet-normalised image (B, 3, 224, 224). Stages (per example): conv_block_1 96×55×55,
conv_block_2 256×27×27, conv_block_3 384×13×13, conv_block_4 384×13×13, conv_block_5 256×13×13 (each the
fake-ReLU ending its block, before any max-pool), avgpool 256×6×6, fc6 4096, fc7 4096 (fake-ReLU after
BatchNorm1d), final 1000: `fc_final` (Linear 4096→1000 on fc7, the study's readout) when `build.readout` is
"fc7", else fc8 (the supervised model's 1000-way layer, no L2 normalisation). The IPCL embedding layer fc8
(4096→128) is kept so the release checkpoint loads strictly, but is not on the path to `final`.
"""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from metazoo_core import weights
from metazoo_core.converters import ipcl_to_study
from metazoo_core.registry import ModelSpec, WeightsSpec
from metazoo_core.stages import StageNetwork, Tap


def _conv_block(c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False), nn.GroupNorm(32, c_out),
                         nn.ReLU())


def _fc_block(n_in: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.ReLU())


class AlexNetGN(nn.Module):
    """AlexNet with GroupNorm(32) after each conv and BatchNorm1d after fc6/fc7; → (B, n_classes)."""

    def __init__(self, out_dim: int = 128, readout_classes: int | None = 1000):
        super().__init__()
        self.conv_block_1 = _conv_block(3, 96, 11, 4, 2)
        self.maxpool_block_1 = nn.MaxPool2d(3, 2)
        self.conv_block_2 = _conv_block(96, 256, 5, 1, 2)
        self.maxpool_block_2 = nn.MaxPool2d(3, 2)
        self.conv_block_3 = _conv_block(256, 384, 3, 1, 1)
        self.conv_block_4 = _conv_block(384, 384, 3, 1, 1)
        self.conv_block_5 = _conv_block(384, 256, 3, 1, 1)
        self.maxpool_block_5 = nn.MaxPool2d(3, 2)
        self.ave_pool = nn.AdaptiveAvgPool2d((6, 6))
        self.fc6 = _fc_block(256 * 6 * 6, 4096)
        self.fc7 = _fc_block(4096, 4096)
        self.fc8 = nn.Sequential(nn.Linear(4096, out_dim))
        self.fc_final = nn.Linear(4096, readout_classes) if readout_classes else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool_block_1(self.conv_block_1(x))
        x = self.maxpool_block_2(self.conv_block_2(x))
        x = self.conv_block_4(self.conv_block_3(x))
        x = self.ave_pool(self.maxpool_block_5(self.conv_block_5(x)))
        x = self.fc7(self.fc6(x.flatten(1)))
        return self.fc_final(x) if self.fc_final is not None else self.fc8(x)


def build(spec: ModelSpec) -> StageNetwork:
    n_classes = spec.stages[-1].shape[0]
    readout = spec.build.get("readout") == "fc7"
    net = AlexNetGN(out_dim=int(spec.build.get("out_dim", n_classes)), readout_classes=n_classes if readout else None)
    taps = {f"conv_block_{k}": Tap(f"conv_block_{k}.2", point="input", relu=True) for k in range(1, 6)}
    taps.update({"avgpool": Tap("ave_pool"), "fc6": Tap("fc6.2", point="input", relu=True),
                 "fc7": Tap("fc7.2", point="input", relu=True),
                 "final": Tap("fc_final" if readout else "fc8.0")})
    return StageNetwork(net=net, taps=taps)


def convert(spec: ModelSpec, state: dict[str, Any]) -> dict[str, Tensor]:
    """Release checkpoint (+ the study's readout file from `build.readout_weights`, if the state lacks it)."""
    extra = spec.build.get("readout_weights")
    has_readout = any(k.endswith(("fc_final.weight", "classifier.weight")) for k in state)
    if spec.build.get("readout") != "fc7" or has_readout or not extra:
        return ipcl_to_study(state)
    readout_spec = spec.model_copy(update={"id": f"{spec.id}.readout", "weights": WeightsSpec(**extra)})
    path, _ = weights.resolve(readout_spec)
    return ipcl_to_study(state, weights.load_state_dict(path))
