"""HannPooling2d: anti-aliased (weighted-average) pooling with a 2-D Hann window (facts §8.2, §14).

The window is the outer product of numpy's `hanning(pool_size)` without its two zero end points (so pool size
17 gives 15 × 15 taps, 9 gives 7 × 7), normalised to sum 1, and applied to every channel separately (depthwise
convolution with the given stride and zero padding). A constant image therefore stays constant away from the
borders, and frequencies above the new Nyquist limit (1/(2·stride) cycles/pixel) are strongly attenuated,
where max-pooling would alias them.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


def hann_window(pool_size: int) -> np.ndarray:
    """(pool_size − 2)² window, float64, sums to 1."""
    h = np.hanning(pool_size)[1:-1]
    w = np.outer(h, h)
    return w / w.sum()


class HannPooling2d(nn.Module):
    """(B, C, H, W) → (B, C, (H + 2·padding − (pool_size − 2)) // stride + 1, …), per-channel Hann-weighted average."""

    def __init__(self, stride: int, pool_size: int, padding: int = 0):
        super().__init__()
        self.stride, self.pool_size, self.padding = stride, pool_size, padding
        window = torch.tensor(hann_window(pool_size), dtype=torch.float32)
        self.register_buffer("hann_window2d", window[None, None])  # persistent and named as in study checkpoints

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        y = F.conv2d(x.reshape(b * c, 1, h, w), self.hann_window2d, stride=self.stride, padding=self.padding)
        return y.reshape(b, c, y.shape[-2], y.shape[-1])

    def extra_repr(self) -> str:
        return f"pool_size={self.pool_size}, stride={self.stride}, padding={self.padding}"
