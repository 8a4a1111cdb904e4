"""VOneAlexNet (Dapello et al. 2020, the study's Gaussian-noise variant; facts §8.1) and its checkpoint converter.

Stages (per example, input 3×224×224): v1_output 512×56×56 (the block's true ReLU output, noise included),
relu1 192×28×28, relu2 384×14×14, relu3 256×14×14, relu4 256×14×14, fc0_relu 4096, fc1_relu 4096, final 1000;
relu1…fc1_relu are fake-ReLU copies of the pre-activations (facts §3).

Determinism: everything random is drawn inside a forked torch RNG seeded with `seed` (default 0, as the study's
`build_net`), in the study's order — colour channels of the q0 then q1 filters, the bottleneck's Kaiming-normal
init, the back end's default init, then the fixed noise sample N(0, std²) of shape (1, 512, 56, 56) — so every load
gives the same filters and the same noise, and the caller's RNG state is left untouched.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from metazoo_core.registry import ModelSpec
from metazoo_core.stages import StageNetwork, Tap

from . import params as gabor_params
from .block import VOneBlock

DEFAULTS = {"sf_corr": 0.75, "sf_max": 6.0, "sf_min": 0.0, "gabor_seed": 0, "simple_channels": 256,
            "complex_channels": 256, "ksize": 25, "stride": 4, "k_exc": 25.0, "visual_degrees": 8.0,
            "noise_std": 4.0, "seed": 0}


class AlexNetBackEnd(nn.Module):
    """64 × 56 × 56 → 1000 logits: conv 64→192 k5 s2 p2, ReLU, maxpool 3/2 p1, conv 192→384 k3, ReLU,
    conv 384→256 k3, ReLU, conv 256→256 k3, ReLU, maxpool 3/2 p1, adaptive avgpool 7×7, dropout–fc 12544→4096, ReLU,
    dropout–fc 4096→4096, ReLU, fc 4096→1000 (module indices as the reference implementation)."""

    def __init__(self, n_classes: int = 1000):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(64, 192, kernel_size=5, stride=2, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Dropout(), nn.Linear(256 * 7 * 7, 4096), nn.ReLU(),
            nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, n_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class VOneAlexNet(nn.Module):
    """VOneBlock → 1×1 bottleneck 512→64 (no bias) → AlexNet back end."""

    def __init__(self, block: VOneBlock, n_classes: int = 1000):
        super().__init__()
        self.vone_block = block
        self.bottleneck = nn.Conv2d(block.fixed_noise.shape[1], 64, kernel_size=1, stride=1, bias=False)
        if not self.bottleneck.weight.is_meta:  # (torch's meta normal_ imports the compiler stack: seconds)
            nn.init.kaiming_normal_(self.bottleneck.weight, mode="fan_out", nonlinearity="relu")
        self.model = AlexNetBackEnd(n_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(self.bottleneck(self.vone_block(x)))


def build_net(options: dict[str, Any], image_size: int = 224, n_classes: int = 1000) -> VOneAlexNet:
    """The network with the study's Gabor draws and fixed noise (see the module docstring)."""
    o = {**DEFAULTS, **options}
    p = gabor_params.sample(o["simple_channels"] + o["complex_channels"], seed=o["gabor_seed"], sf_corr=o["sf_corr"],
                            sf_max=o["sf_max"], sf_min=o["sf_min"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(o["seed"])
        block = VOneBlock(p, o["simple_channels"], o["complex_channels"], o["ksize"], o["stride"], o["k_exc"],
                          image_size, o["visual_degrees"])
        net = VOneAlexNet(block, n_classes)
        if not block.fixed_noise.is_meta:
            # Normal(0, std).rsample()
            block.fixed_noise = torch.empty_like(block.fixed_noise).normal_() * o["noise_std"]
    return net


def build(spec: ModelSpec, options: dict[str, Any]) -> StageNetwork:
    """StageNetwork for a VOneAlexNet spec; `spec.build` may override DEFAULTS (e.g. noise_std, seed)."""
    n_classes = next((s.shape[0] for s in spec.stages if s.name == "final"), 1000)
    net = build_net({k: v for k, v in spec.build.items() if k in DEFAULTS}, spec.input.shape[-1], n_classes)
    taps = {
        "v1_output": Tap("vone_block.output"),
        "relu1": Tap("model.features.1", point="input", relu=True),
        "relu2": Tap("model.features.4", point="input", relu=True),
        "relu3": Tap("model.features.6", point="input", relu=True),
        "relu4": Tap("model.features.8", point="input", relu=True),
        "fc0_relu": Tap("model.classifier.2", point="input", relu=True),
        "fc1_relu": Tap("model.classifier.5", point="input", relu=True),
        "final": Tap("model.classifier.6"),
    }
    return StageNetwork(net=net, taps=taps)


def convert_checkpoint(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Study checkpoint (robustness layout `module.model.vone_block…`, `module.attacker.model…`,
    `module.preproc…`) → this net's keys (`vone_block.simple_conv_q0.weight`, `bottleneck.weight`, `model.…`).
    Keys already in this layout pass through."""
    if any(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items() if k.startswith("module.")}
    if any(k.startswith("model.vone_block.") for k in state):
        state = {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}
    return state
