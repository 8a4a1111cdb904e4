"""The VOneBlock: a fixed Gabor filter bank with simple and complex cells and additive Gaussian noise (facts §8.1).

Input (B, 3, 224, 224), ImageNet-normalised. Output `v1_output` (B, 512, 56, 56) = ReLU(25 · [simple, complex] +
noise): simple = ReLU(q0) for channels 0–255; complex = sqrt(1e-5 + q0² + q1²)/√2 for channels 256–511, q1 being
the quadrature (phase + 90°) filter. Each kernel reads one colour channel, drawn at random per kernel.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .params import GaborParams


def gabor_kernel(frequency: float, sigma_x: float, sigma_y: float, theta: float, offset: float, ks: int) -> np.ndarray:
    """(ks, ks) Gabor: exp(−½(x'²/σx² + y'²/σy²)) / (2π σx σy) · cos(2π f x' + offset); x = row, y = column offsets
    from the centre, x' = x cosθ + y sinθ, y' = −x sinθ + y cosθ; f in cycles/pixel, angles in radians."""
    w = ks // 2
    x, y = np.meshgrid(np.arange(-w, w + 1.0), np.arange(-w, w + 1.0), indexing="ij")
    rotx = x * np.cos(theta) + y * np.sin(theta)
    roty = -x * np.sin(theta) + y * np.cos(theta)
    g = np.exp(-0.5 * (rotx ** 2 / sigma_x ** 2 + roty ** 2 / sigma_y ** 2)) / (2 * np.pi * sigma_x * sigma_y)
    return g * np.cos(2 * np.pi * frequency * rotx + offset)


class GaborBank(nn.Module):
    """Conv2d with fixed Gabor weights (out, 3, ks, ks), stride `stride`, padding ks//2, no bias; each output
    channel's kernel sits in one input colour channel (the others are zero)."""

    def __init__(self, weight: Tensor, stride: int):
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, None, self.stride, self.weight.shape[-1] // 2)


def gabor_weights(params: GaborParams, phase_shift: float, colour: Tensor, ks: int, ppd: float) -> Tensor:
    """(n, 3, ks, ks) weights for the parameters (sf in cycles/degree → cycles/pixel with `ppd` pixels/degree)."""
    sf = params.sf / ppd
    weight = torch.zeros(len(sf), 3, ks, ks)
    if weight.is_meta:
        return weight
    for i in range(len(sf)):
        k = gabor_kernel(sf[i], params.nx[i] / sf[i], params.ny[i] / sf[i], np.deg2rad(params.theta[i]),
                         np.deg2rad(params.phase[i]) + phase_shift, ks)
        weight[i, int(colour[i])] = torch.tensor(k, dtype=torch.float32)
    return weight


class VOneBlock(nn.Module):
    """(B, 3, H, W) → (B, simple + complex, H/stride, W/stride); see the module docstring.

    The noise is one fixed sample (1, C, H/stride, W/stride), added to every input (a non-persistent buffer set by
    the builder; zero until then).
    """

    def __init__(self, params: GaborParams, simple: int = 256, complex_: int = 256, ksize: int = 25, stride: int = 4,
                 k_exc: float = 25.0, image_size: int = 224, visual_degrees: float = 8.0):
        super().__init__()
        n = simple + complex_
        self.simple_channels, self.k_exc = simple, k_exc
        ppd = image_size / visual_degrees
        colour_q0 = torch.randint(0, 3, (n,))
        self.simple_conv_q0 = GaborBank(gabor_weights(params, 0.0, colour_q0, ksize, ppd), stride)
        colour_q1 = torch.randint(0, 3, (n,))
        self.simple_conv_q1 = GaborBank(gabor_weights(params, math.pi / 2, colour_q1, ksize, ppd), stride)
        side = image_size // stride
        self.register_buffer("fixed_noise", torch.zeros(1, n, side, side), persistent=False)
        self.output = nn.ReLU()

    def gabors(self, x: Tensor) -> Tensor:
        """Scaled simple and complex responses before the noise, (B, C, H', W')."""
        q0, q1 = self.simple_conv_q0(x), self.simple_conv_q1(x)
        s = self.simple_channels
        complex_ = torch.sqrt(1e-5 + q0[:, s:] ** 2 + q1[:, s:] ** 2) / math.sqrt(2)
        return self.k_exc * torch.cat((F.relu(q0[:, :s]), complex_), 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.gabors(x) + self.fixed_noise)
