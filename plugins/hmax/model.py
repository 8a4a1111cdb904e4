"""The study's HMAX network (facts §7, §14) as torch modules, and its checkpoint converter.

Input (B, 1, 250, 250) greyscale in [0, 255], no normalisation. Stages (per example):
s1 (64, 250, 250), c1 (50,572,), s2 (Σ over patch scales and C1 bands of 400·H'², flat), c2 (8, 400), final (1000,).
Every operation is plain torch (differentiable, works on the meta device); only the readout `fc` is learned.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import layout


def gabor_filter(size: int, wavelength: float, orientation: float) -> np.ndarray:
    """One S1 kernel (size × size), float64: zero mean, unit L2 norm.

    λ = 2·size/wavelength px, σ = 0.8·λ, aspect ratio γ = 0.3, θ = orientation + 90° (degrees); grid x = row,
    y = column, both centred on size//2; values outside the radius size/2 are zeroed *before* the mean is removed
    (so the corners end up slightly non-zero, as in the study's code).
    """
    lam = size * 2.0 / wavelength
    sigma, gamma, theta = 0.8 * lam, 0.3, np.deg2rad(orientation + 90.0)
    x, y = np.mgrid[:size, :size] - (size // 2)
    rotx = x * np.cos(theta) + y * np.sin(theta)
    roty = -x * np.sin(theta) + y * np.cos(theta)
    filt = np.exp(-(rotx ** 2 + gamma ** 2 * roty ** 2) / (2 * sigma ** 2)) * np.cos(2 * np.pi * rotx / lam)
    filt[np.sqrt(x ** 2 + y ** 2) > size / 2] = 0
    filt = filt - filt.mean()
    return filt / np.sqrt(np.sum(filt ** 2))


def box_sum(x: Tensor, size: int) -> Tensor:
    """Sum of x over a size × size window (zero padding size//2, stride 1) = conv with a ones kernel."""
    return F.avg_pool2d(x, size, stride=1, padding=size // 2, count_include_pad=True) * (size * size)


def window_sums(x: Tensor, sizes: tuple[int, ...]) -> list[Tensor]:
    """Σ of x ≥ 0 over odd size × size windows centred on each pixel (zero outside), one map per size, float64
    (float32 on Apple MPS).

    Windows grow one ring at a time (size 2k+1 = size 2k−1 plus its border: two rows of 2k+1 px and two columns of
    2k−1 px), so each sum adds only the pixels of its own window: all-zero windows give exactly 0 and the rounding
    error is relative to the window's own sum (an integral image's error is relative to the whole image's sum).
    """
    h, w = x.shape[-2:]
    big = max(sizes) // 2
    p = F.pad(x if x.device.type == "mps" else x.double(), (big, big, big, big))
    rows = p[..., :, big:big + w]        # horizontal segments of 2k+1 px, on every padded row (k = 0)
    cols = p[..., big:big + h, :]        # vertical segments of 2k−1 px, on every padded column (k = 1)
    win = p[..., big:big + h, big:big + w]
    out = {1: win}
    for k in range(1, big + 1):
        rows = rows + p[..., :, big - k:big - k + w] + p[..., :, big + k:big + k + w]
        win = (win + rows[..., big - k:big - k + h, :] + rows[..., big + k:big + k + h, :]
               + cols[..., :, big - k:big - k + w] + cols[..., :, big + k:big + k + w])
        cols = cols + p[..., big - k:big - k + h, :] + p[..., big + k:big + k + h, :]
        out[2 * k + 1] = win
    return [out[s] for s in sizes]


def _fft_size(n: int) -> int:
    """Smallest 2·3·5-smooth integer ≥ n (fast FFT length)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


class S1(nn.Module):
    """16 scales × 4 orientations of Gabor units: (B, 1, H, W) in [0, 255] → (B, 64, H, W),
    channel = 4·scale + orientation.

    Per scale: |conv(img, gabor)| ('same' cross-correlation, zero padding size//2), a border of width size//2 set
    to 0, divided by the local image norm sqrt(relu(Σ_window img²) + 1e-10) over the same size × size window.
    By Cauchy–Schwarz (unit-norm kernels) every response lies in [0, 1].

    Numerics (docs/fidelity.md, "HMAX S1"): the 64 correlations are computed at once in the Fourier domain in
    float64 (float32 on Apple MPS, which has no float64), and the window energies by exact-support window sums
    (`window_sums`), so a response equals a float64 direct convolution to the float32 output's rounding (measured
    ≤ 6e-8 relative), dark regions included. The Fourier domain's rounding error is relative to
    the whole image's norm, not the window's, so windows whose norm is below `DARK` × the image's L2 norm (black
    up to rounding; the direct convolution gives 0/1e-5 = 0 on an all-zero window) are set to 0. In float32 that
    rounding noise (~2e-4 for pixels up to 255) divided by sqrt(1e-10) gave responses up to ~19 on black regions.
    Output dtype = input dtype.
    """

    DARK = 1e-9
    """Windows with local norm ≤ DARK · ‖img‖₂ (per example) respond 0: below the float64 FFT's rounding noise."""

    def __init__(self):
        super().__init__()
        for i, (size, wl) in enumerate(zip(layout.S1_SIZES, layout.S1_WAVELENGTHS)):
            bank = np.stack([gabor_filter(size, wl, o) for o in layout.ORIENTATIONS])[:, None]
            self.register_buffer(f"gabor{i}", torch.tensor(bank, dtype=torch.float32), persistent=False)
        self._spectra: dict[tuple, Tensor] = {}

    def kernels(self) -> list[Tensor]:
        """The 16 Gabor banks, each (4, 1, size, size)."""
        return [getattr(self, f"gabor{i}") for i in range(len(layout.S1_SIZES))]

    def _spectrum(self, nh: int, nw: int, like: Tensor) -> Tensor:
        """rfft2 of the 64 flipped kernels, centred at (0, 0) on an nh × nw grid (cached per grid and device)."""
        key = (nh, nw, like.dtype, like.device)
        if key not in self._spectra:
            kern = torch.zeros(4 * len(layout.S1_SIZES), nh, nw, dtype=like.dtype, device=like.device)
            for i, bank in enumerate(self.kernels()):
                k = bank[:, 0].flip(-2, -1).to(like.dtype)  # correlation = convolution with the flipped kernel
                c = k.shape[-1] // 2
                kern[4 * i:4 * i + 4, :k.shape[-2], :k.shape[-1]] = k
                kern[4 * i:4 * i + 4] = kern[4 * i:4 * i + 4].roll((-c, -c), (-2, -1))
            self._spectra = {key: torch.fft.rfft2(kern)}  # keep one grid: inputs of one model share a size
        return self._spectra[key]

    def correlations(self, img: Tensor) -> Tensor:
        """(B, 1, H, W) → (B, 64, H, W): the signed Gabor responses before rectification and normalisation."""
        h, w = img.shape[-2:]
        r = max(layout.S1_SIZES) // 2
        nh, nw = _fft_size(h + r), _fft_size(w + r)
        spec = torch.fft.rfft2(img, s=(nh, nw)) * self._spectrum(nh, nw, img)
        return torch.fft.irfft2(spec, s=(nh, nw))[..., :h, :w]

    def forward(self, img: Tensor) -> Tensor:
        h, w = img.shape[-2:]
        x = img.to(torch.float32 if img.device.type == "mps" else torch.float64)
        energy = torch.stack(window_sums(x[:, 0] * x[:, 0], layout.S1_SIZES), 1)  # (B, 16, H, W)
        energy = energy.repeat_interleave(4, dim=1)
        border = torch.zeros(len(layout.S1_SIZES), h, w, dtype=torch.bool, device=img.device)
        for i, size in enumerate(layout.S1_SIZES):
            r = size // 2
            border[i, r:h - r, r:w - r] = True
        total = x.flatten(1).pow(2).sum(1)[:, None, None, None]  # (B, 1, 1, 1): ‖img‖₂²
        live = border.repeat_interleave(4, dim=0) & (energy > (self.DARK ** 2) * total)
        resp = self.correlations(x).abs() / torch.sqrt(F.relu(energy) + 1e-10)
        return torch.where(live, resp, torch.zeros((), dtype=resp.dtype, device=resp.device)).to(img.dtype)


class C1(nn.Module):
    """(B, 64, H, W) S1 → flat (B, Σ 4·H_b²): per band, max over 2 adjacent scales then MaxPool(k, k//2, pad k//2)."""

    def bands(self, s1: Tensor) -> list[Tensor]:
        out = []
        for b, k in enumerate(layout.C1_POOL_SIZES):
            pair = torch.maximum(s1[:, 8 * b:8 * b + 4], s1[:, 8 * b + 4:8 * b + 8])
            out.append(F.max_pool2d(pair, k, stride=k // 2, padding=k // 2))
        return out

    def forward(self, s1: Tensor) -> Tensor:
        return torch.cat([c.flatten(1) for c in self.bands(s1)], 1)


def split_c1(c1: Tensor, image_size: int) -> list[Tensor]:
    """Flat (B, 50572) C1 → the 8 bands (B, 4, H_b, H_b) (views)."""
    bands = zip(layout.c1_slices(image_size), layout.c1_sizes(image_size))
    return [c1[:, a:b].view(-1, 4, h, h) for (a, b), h in bands]


class S2(nn.Module):
    """Gaussian radial-basis units: flat C1 → flat S2 (B, Σ_scales Σ_bands 400·H'²).

    Per patch scale (patches (400, 4, p, p)) and C1 band c (B, 4, H, H):
    d = Σ_window Σ_orient c² − 2·Σ_orient conv(c, patch) + ‖patch‖², activation exp(−d / (2σ²)), σ = 1;
    conv padding p//2 (H + 1 px out for even p).
    """

    def __init__(self, patches: list[Tensor], image_size: int = 250, sigma: float = layout.S2_SIGMA):
        super().__init__()
        self.image_size, self.sigma = image_size, sigma
        self.n_scales = len(patches)
        for k, p in enumerate(patches):
            self.register_buffer(f"patches{k}", p.float().contiguous())

    def patch_sets(self) -> list[Tensor]:
        """The patches of each scale, (400, 4, p, p)."""
        return [getattr(self, f"patches{k}") for k in range(self.n_scales)]

    @property
    def patch_sizes(self) -> tuple[int, ...]:
        return tuple(int(p.shape[-1]) for p in self.patch_sets())

    def scale_maps(self, c1: Tensor) -> list[list[Tensor]]:
        """Per patch scale, per C1 band: (B, 400, H', H')."""
        bands = split_c1(c1, self.image_size)
        sq = [orientation_energy(c) for c in bands]
        out = []
        for patches in self.patch_sets():
            n, o, p, _ = patches.shape
            weight = patches.transpose(0, 1).reshape(o * n, 1, p, p)
            norm2 = (patches ** 2).sum(dim=(1, 2, 3))[None, :, None, None]
            maps = []
            for c, c_sq in zip(bands, sq):
                conv = F.conv2d(c, weight, padding=p // 2, groups=o)
                conv = conv.view(c.shape[0], o, n, conv.shape[-2], conv.shape[-1]).sum(1)
                dist = box_sum(c_sq, p) - 2 * conv + norm2
                maps.append(torch.exp(-dist / (2 * self.sigma ** 2)))
            out.append(maps)
        return out

    def forward(self, c1: Tensor) -> Tensor:
        return torch.cat([m.flatten(1) for maps in self.scale_maps(c1) for m in maps], 1)


def orientation_energy(c: Tensor) -> Tensor:
    """Σ over orientations of c², (B, 1, H, W): the input of S2's window energy."""
    return (c * c).sum(1, keepdim=True)


class C2(nn.Module):
    """Flat S2 → (B, n_scales, 400): per patch scale, the max over space and over the C1 bands."""

    def __init__(self, patch_sizes: tuple[int, ...], image_size: int = 250, n_patches: int = layout.N_PATCHES):
        super().__init__()
        self.patch_sizes, self.image_size, self.n_patches = tuple(patch_sizes), image_size, n_patches

    def forward(self, s2: Tensor) -> Tensor:
        scales = []
        start = 0
        for p in self.patch_sizes:
            per_band = []
            for h in layout.c1_sizes(self.image_size):
                hh = layout.s2_size(h, p)
                n = self.n_patches * hh * hh
                per_band.append(s2[:, start:start + n].view(-1, self.n_patches, hh * hh).amax(-1))
                start += n
            scales.append(torch.stack(per_band, 0).amax(0))
        return torch.stack(scales, 1)


class HMAX(nn.Module):
    """S1 → C1 → S2 → C2 → linear readout; input (B, 1, H, W) greyscale in [0, 255]."""

    def __init__(self, patches: list[Tensor], image_size: int = 250, n_classes: int = 1000):
        super().__init__()
        self.s1 = S1()
        self.c1 = C1()
        self.s2 = S2(patches, image_size)
        self.c2 = C2(self.s2.patch_sizes, image_size, int(patches[0].shape[0]))
        self.fc = nn.Linear(len(patches) * int(patches[0].shape[0]), n_classes)

    def forward(self, img: Tensor) -> Tensor:
        c2 = self.c2(self.s2(self.c1(self.s1(img))))
        return self.fc(c2.flatten(1))


def patches_from_checkpoint(state: dict[str, Tensor]) -> list[Tensor] | None:
    """The patch set inside a study checkpoint (`s2_units.K.conv.weight`, (4·400, 1, p, p), orientation-major)."""
    keys = sorted((k for k in state if k.endswith(".conv.weight") and "s2_units." in k),
                  key=lambda k: int(k.split("s2_units.")[1].split(".")[0]))
    if not keys:
        return None
    out = []
    for k in keys:
        w = state[k]
        o = 4
        n = w.shape[0] // o
        out.append(w.reshape(o, n, w.shape[-2], w.shape[-1]).transpose(0, 1).contiguous())
    return out


def convert_checkpoint(state: dict[str, Tensor], net: HMAX) -> dict[str, Tensor]:
    """A study checkpoint (robustness layout: `module.model.fc.weight`, `…s2_units.K.conv.weight`, …) → this net.

    The readout comes from `fc.*`; the patch set, when the checkpoint carries one, replaces the net's patches
    (the checkpoint's patches are the universal patch set the readout was trained on). S1 kernels and the ones
    kernels are constructed, not loaded. Keys already in this net's layout pass through.
    """
    for prefix in ("module.", "model."):
        if any(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    patches = patches_from_checkpoint(state)
    out = {k: v for k, v in state.items() if k in ("fc.weight", "fc.bias")}
    if patches is None:
        out.update({k: v for k, v in state.items() if k.startswith("s2.patches")})
    else:
        out.update({f"s2.patches{k}": p for k, p in enumerate(patches)})
    for k, p in enumerate(net.s2.patch_sets()):
        new = out.get(f"s2.patches{k}")
        if new is not None and new.shape != p.shape:
            setattr(net.s2, f"patches{k}", torch.empty_like(new))
    net.c2.patch_sizes = net.s2.patch_sizes
    return out
