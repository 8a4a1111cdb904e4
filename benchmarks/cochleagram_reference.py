"""The cochleagram as it was before the fast path (plain autograd, dense filters, concatenated zero padding,
oneDNN conv1d forward and backward), kept only as the benchmark's reference. Its numbers matched the authors'
chcochleagram (max difference 0.0 on a noise clip); tests/test_cochleagram_exact.py compares the fast path with it."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from metazoo_core.audio.cochleagram import (ENVELOPE_FLOOR, GRAD_CLIP, OFFSET, POWER, ClippedGradPower,
                                            Cochleagram)


def reference_cochleagram(coch: Cochleagram, x: Tensor) -> Tensor:
    """(B, 40000) → (B, 1, 211, 390) with the previous implementation's operations, using `coch`'s buffers."""
    spec = torch.fft.rfft(x, dim=-1).unsqueeze(1) * coch.filters
    padded = torch.cat([spec, spec.new_zeros(*spec.shape[:-1], coch.signal_size - spec.shape[-1])], dim=-1)
    z = torch.view_as_real(torch.fft.ifft(padded, dim=-1))
    env = (z.square().sum(-1)).clamp(min=ENVELOPE_FLOOR).sqrt()
    b, c, t = env.shape
    env = nn.functional.conv1d(env.reshape(b * c, 1, t), coch.kernel, stride=coch.factor).reshape(b, c, -1)
    return ClippedGradPower.apply(env, POWER, OFFSET, GRAD_CLIP).unsqueeze(1)
