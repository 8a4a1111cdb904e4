"""The Spectemp network: cochleagram → ×100 → 111 spectro-temporal filters → power → time average → linear (794).

Stages (per example): cochleagram (1, 211, 390); filtered_signal (111, 211, 390) = real part of each filter's
output; power (111, 211, 390) = max(filtered², 1e-8); average (111, 211, 1) = mean of the power over time;
final (794) = Linear(23421 → 794) on the flattened average (random until the study's readout is loaded).

Filtering (facts §6): the ×100 cochleagram is zero-padded on the right in time by 780 frames and at the bottom in
frequency by 211 channels (422 × 1170), transformed with a 2-D FFT, multiplied by each transfer function, inverse
transformed and cropped to [:211, :390]; only the real part is kept. It is computed from separable terms
(`filters.SeparableBank`), identical up to float rounding and cheaper: no 422 × 1170 transform per filter.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from metazoo_core.audio.cochleagram import Cochleagram
from metazoo_core.registry import ModelSpec
from metazoo_core.stages import StageNetwork, Tap

from .filters import N_F, N_T, PAD_F, PAD_T, separable_bank

COCH_RESCALE = 100.0
POWER_FLOOR = 1e-8


class SpecTempFilterBank(nn.Module):
    """(B, 1, 211, 390) cochleagram (already ×100) → filtered signals (B, 111, 211, 390), real.

    Exactly Re(ifft2(fft2(pad(x)) · H_i))[:211, :390] for each transfer function H_i (`filters.transfer_function`),
    computed from the separable terms of `filters.separable_bank`: temporal filtering of the 211 non-zero rows
    (FFT length 1170), crop to 390 frames, spectral FFT (length 422), per-filter sums of spectral multipliers,
    inverse spectral FFT, crop to 211 channels, real part.
    """

    def __init__(self):
        super().__init__()
        bank = separable_bank()
        self.register_buffer("temporal", torch.as_tensor(bank.temporal.astype(np.complex64)), persistent=False)
        self.register_buffer("spectral", torch.as_tensor(bank.spectral.astype(np.float32)), persistent=False)
        self.register_buffer("restore", torch.as_tensor(np.argsort(bank.order)), persistent=False)
        self.groups = bank.groups
        self.n_filters = len(bank.order)

    def forward(self, x: Tensor) -> Tensor:
        xt = torch.fft.fft(x, n=N_T + PAD_T, dim=-1)  # (B, 1, 211, 1170): zero padding on the right in time
        zt = torch.fft.ifft(xt * self.temporal[:, None, :], dim=-1)[..., :N_T]  # (B, 27, 211, 390)
        zf = torch.view_as_real(torch.fft.fft(zt, n=N_F + PAD_F, dim=-2))  # (B, 27, 422, 390, 2): bottom padding
        zs = zf.unbind(dim=1)  # one backward op for all the uses below
        parts = []
        for start, stop, *rows in self.groups:  # filters sharing a signed rate: (B, n, 422, 390, 2)
            s = self.spectral[:, start:stop, :, None, None]
            parts.append(sum(s[k] * zs[rows[k]].unsqueeze(1) for k in range(3)))
        y = torch.fft.ifft(torch.view_as_complex(torch.cat(parts, dim=1)), dim=-2)[..., :N_F, :].real
        return y[:, self.restore]


class Rescale(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        return x * self.factor


class Power(nn.Module):
    """Squared filter output, floored at 1e-8 (the study's `SquareReal`)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.square().clamp(min=POWER_FLOOR)


class SpecTempBackend(nn.Module):
    """cochleagram (B, 1, 211, 390) → logits (B, 794): the part after the cochleagram."""

    def __init__(self, n_classes: int = 794):
        super().__init__()
        self.rescale = Rescale(COCH_RESCALE)
        self.filterbank = SpecTempFilterBank()
        self.power = Power()
        self.average = nn.AdaptiveAvgPool2d((None, 1))
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(self.filterbank.n_filters * N_F, n_classes)

    def forward(self, coch: Tensor) -> Tensor:
        x = self.average(self.power(self.filterbank(self.rescale(coch))))
        return self.classifier(self.flatten(x))


class SpecTempNet(nn.Module):
    """waveform (B, 40000) → logits (B, 794), the cochleagram as first module."""

    def __init__(self, n_classes: int = 794):
        super().__init__()
        self.cochleagram = Cochleagram()
        self.backend = SpecTempBackend(n_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.backend(self.cochleagram(x))


def build(spec: ModelSpec) -> StageNetwork:
    n_classes = spec.stages[-1].shape[0]
    net = SpecTempNet(n_classes)
    taps = {
        "cochleagram": Tap("cochleagram"),
        "filtered_signal": Tap("backend.filterbank"),
        "power": Tap("backend.power"),
        "average": Tap("backend.average"),
        "final": Tap("backend.classifier"),
    }
    return StageNetwork(net=net, taps=taps, parts={"front": net.cochleagram, "back": net.backend})


def convert_robustness(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The study's checkpoint (`model.1.classification.*` after `module.` is stripped) → this network's keys.

    The fixed filter buffers of the checkpoint (cochleagram filters, `all_Hts`) are constructed here, not loaded;
    the attacker copy and the normalisation buffers are dropped.
    """
    out = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if key.startswith("model.1.classification."):
            out["backend.classifier." + key.rsplit(".", 1)[1]] = value
        elif key.startswith("backend.classifier."):
            out[key] = value
    return out
