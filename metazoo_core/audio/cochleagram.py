"""The study's differentiable cochleagram (`cochleagram_1`; facts §5 and §14 give every constant).

waveform (B, 40000) at 20 kHz
  → rFFT (20001 bins) × 211 ERB half-cosine filters (zero-phase, real; `erb.erb_cos_filters`)
  → Hilbert envelope: the one-sided spectrum zero-padded to 40000 bins, complex IFFT, magnitude
    sqrt(max(re² + im², 1e-16)) — positive frequencies are NOT doubled, so the envelope is half the textbook
    analytic-signal magnitude (as the authors' code)
  → low-pass + downsample to 200 Hz: 'valid' cross-correlation with kaiser(1001, β=5)·sinc(t/100)/100 on the
    half-integer grid t = −500.5 … 499.5, stride 100 → floor((40000 − 1001)/100) + 1 = 390 frames
  → compression: fake-ReLU (≥ 0, identity gradient), (x + 1e-8)^0.3 with the gradient 0.3·x^−0.7 clipped at 5
  → (B, 1, 211, 390), dimensionless (a tone of amplitude A peaks near (A/4)^0.3).

The filter buffers are non-persistent (constructed, never loaded) and are made with `torch.as_tensor`, so the
module builds on the meta device inside `with torch.device("meta")`; every op has a meta kernel.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor, nn

from .erb import erb_cos_filters

SAMPLE_RATE = 20000
SIGNAL_SIZE = 40000
ENV_SR = 200
N_TAPS = 1001
KAISER_BETA = 5.0
POWER = 0.3
OFFSET = 1e-8
GRAD_CLIP = 5.0
ENVELOPE_FLOOR = 1e-16
"""|z|² is clamped here before the square root: envelopes never fall below 1e-8 (facts §14)."""


@functools.lru_cache(maxsize=4)
def downsample_kernel(factor: int = SIGNAL_SIZE // (SIGNAL_SIZE // SAMPLE_RATE * ENV_SR), n_taps: int = N_TAPS,
                      beta: float = KAISER_BETA) -> np.ndarray:
    """Kaiser-windowed sinc low-pass (n_taps,) for downsampling by `factor`; DC gain 1.000945 for the defaults.

    Taps sit on the half-integer grid arange(−n_taps/2, n_taps//2) (−500.5 … 499.5), as the study's code.
    """
    t = np.arange(-n_taps / 2, n_taps // 2)
    h = np.sinc(t / factor) / factor * np.kaiser(n_taps, beta)
    h.setflags(write=False)
    return h


class ClippedGradPower(torch.autograd.Function):
    """Forward (relu(x) + offset)^power; backward power·(relu(x) + offset)^(power−1), clipped to ±clip.

    The ReLU is a fake ReLU (identity gradient), as the study's `ClippedGradPower` with FakeReLU in front.
    """

    @staticmethod
    def forward(ctx, x: Tensor, power: float, offset: float, clip: float) -> Tensor:  # type: ignore[override]
        base = x.clamp(min=0) + offset
        ctx.save_for_backward(base)
        ctx.power, ctx.clip = power, clip
        return base.pow(power)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (base,) = ctx.saved_tensors
        local = (ctx.power * base.pow(ctx.power - 1)).clamp(-ctx.clip, ctx.clip)
        return grad * local, None, None, None


class _SubbandEnvelopes(torch.autograd.Function):
    """One-sided spectrum (B, F) complex → Hilbert envelopes (B, C, n) of C real filters, with its own backward.

    The filters come as their nonzero entries (channel, bin, value): each half-cosine covers few bins (the 211
    filters of 20001 bins have 159,663 nonzeros, 3.8 %). Forward: the subband spectra are written into a zeroed
    (B, C, n) array (which is also the zero padding), z = ifft of it, env = sqrt(max(re² + im², 1e-16)) — the same
    operations in the same order as the plain autograd graph, so the same numbers. Only z and env are kept for
    the backward (autograd of those ops keeps four full-size tensors). Backward: g·z/env where re² + im² ≥ 1e-16
    (0 on the floor, as the study's clamp), the adjoint of the inverse FFT (fft(·)/n), and each filter's bins
    gathered, weighted and added into the spectrum's gradient.
    """

    @staticmethod
    def forward(ctx, spec: Tensor, channel: Tensor, bin_: Tensor, value: Tensor,  # type: ignore[override]
                n_channels: int, n: int) -> Tensor:
        sub = spec.new_zeros(spec.shape[0], n_channels, n)
        sub[:, channel, bin_] = torch.view_as_complex(torch.view_as_real(spec[:, bin_]) * value.unsqueeze(-1))
        z = torch.fft.ifft(sub, dim=-1)
        del sub
        parts = torch.view_as_real(z)
        env = parts[..., 0].square()
        env += parts[..., 1].square()
        floored = env < ENVELOPE_FLOOR if ctx.needs_input_grad[0] else None
        env.clamp_(min=ENVELOPE_FLOOR).sqrt_()
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(z, env, floored, channel, bin_, value)
            ctx.n_bins = spec.shape[-1]
        return env

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        z, env, floored, channel, bin_, value = ctx.saved_tensors
        scale = (grad / env).masked_fill_(floored, 0.0)
        grad_z = torch.view_as_complex(torch.view_as_real(z) * scale.unsqueeze(-1))
        grad_sub = torch.view_as_real(torch.fft.fft(grad_z, dim=-1, norm="forward")[:, channel, bin_])
        grad_spec = grad.new_zeros(grad.shape[0], ctx.n_bins, 2).index_add_(1, bin_, grad_sub * value.unsqueeze(-1))
        return torch.view_as_complex(grad_spec), None, None, None, None, None


class _StridedCorrelation(torch.autograd.Function):
    """'valid' stride-`factor` cross-correlation of (N, 1, T) with a fixed kernel, backward by one matrix product.

    Forward: conv1d. Backward: the gradient (N, frames) spread over blocks of `factor` samples times the kernel cut
    into blocks (oneDNN's conv1d backward for this shape took 5× its forward).
    """

    @staticmethod
    def forward(ctx, x: Tensor, kernel: Tensor, blocks: Tensor, factor: int) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(blocks)
        ctx.length = x.shape[-1]
        return nn.functional.conv1d(x, kernel, stride=factor)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (blocks,) = ctx.saved_tensors
        n, frames, m = grad.shape[0], grad.shape[-1], blocks.shape[0]
        spread = grad.new_zeros(n, frames + m - 1, m)
        for j in range(m):
            spread[:, j:j + frames, j] = grad[:, 0]
        out = (spread @ blocks).reshape(n, 1, -1)
        length = ctx.length
        if out.shape[-1] < length:
            out = nn.functional.pad(out, (0, length - out.shape[-1]))
        return out[..., :length], None, None, None


class Cochleagram(nn.Module):
    """waveform (B, 40000) in [−1, 1] at 20 kHz → compressed cochleagram (B, 1, 211, 390).

    Also accepts (B, 1, 40000) (the study's layout). `sample_rate`/`signal_size` other than 20 kHz / 40000 build
    the same design for another grid (the frame count then follows the 'valid' rule).
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, signal_size: int = SIGNAL_SIZE, env_sr: int = ENV_SR):
        super().__init__()
        if sample_rate % env_sr:
            raise ValueError(f"sample_rate {sample_rate} must be a multiple of env_sr {env_sr}")
        filters, centre_hz = erb_cos_filters(signal_size, sample_rate)
        self.sample_rate, self.signal_size, self.env_sr = sample_rate, signal_size, env_sr
        self.factor = sample_rate // env_sr
        self.n_channels = filters.shape[0]
        self.n_frames = (signal_size - N_TAPS) // self.factor + 1
        filters = np.array(filters, dtype=np.float32)
        self.register_buffer("filters", torch.as_tensor(filters), persistent=False)
        channel, bin_ = np.nonzero(filters)
        self.register_buffer("filter_channel", torch.as_tensor(channel), persistent=False)
        self.register_buffer("filter_bin", torch.as_tensor(bin_), persistent=False)
        self.register_buffer("filter_value", torch.as_tensor(filters[channel, bin_]), persistent=False)
        """the filters' nonzero entries (channel, bin, value), in channel-then-bin order"""
        kernel = np.array(downsample_kernel(self.factor), dtype=np.float32)
        self.register_buffer("kernel", torch.as_tensor(kernel).reshape(1, 1, -1), persistent=False)
        n_blocks = -(-N_TAPS // self.factor)
        blocks = np.zeros(n_blocks * self.factor, dtype=np.float32)
        blocks[:N_TAPS] = kernel
        self.register_buffer("kernel_blocks", torch.as_tensor(blocks.reshape(n_blocks, self.factor)),
                             persistent=False)
        """(blocks, factor): row m holds taps m·factor … (m+1)·factor − 1, zero past the last tap."""
        self.centre_hz = np.asarray(centre_hz)

    @property
    def output_shape(self) -> tuple[int, int, int]:
        return (1, self.n_channels, self.n_frames)

    def envelopes(self, x: Tensor) -> Tensor:
        """(B, 40000) → Hilbert envelopes (B, 211, 40000) at the input rate (half the analytic magnitude)."""
        return _SubbandEnvelopes.apply(torch.fft.rfft(x, dim=-1), self.filter_channel, self.filter_bin,
                                       self.filter_value, self.n_channels, self.signal_size)

    def downsample(self, env: Tensor) -> Tensor:
        """(B, C, T) → (B, C, n_frames): 'valid' stride-`factor` cross-correlation with the sinc-Kaiser kernel."""
        b, c, t = env.shape
        out = _StridedCorrelation.apply(env.reshape(b * c, 1, t), self.kernel, self.kernel_blocks, self.factor)
        return out.reshape(b, c, -1)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 3 and x.shape[1] == 1:
            x = x[:, 0]
        if x.dim() != 2 or x.shape[-1] != self.signal_size:
            raise ValueError(f"expected a waveform batch (B, {self.signal_size}), got {tuple(x.shape)}")
        env = self.downsample(self.envelopes(x))
        return ClippedGradPower.apply(env, POWER, OFFSET, GRAD_CLIP).unsqueeze(1)
