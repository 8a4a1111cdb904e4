"""Training-style augmentation for null-distribution pairs (facts §2.2), drawn from an explicit generator.

Images (the study's ImageNet train transform, `MM:robustness/data_augmentation.py`): RandomResizedCrop to the
model's size (scale 0.08–1, aspect 3/4–4/3, bilinear), horizontal flip (p = 0.5), ColorJitter(brightness 0.1,
contrast 0.1, saturation 0.1), AlexNet-style PCA lighting noise (σ = 0.05). Greyscale models get crop, flip,
brightness and contrast only. Audio (the study mixed speech with background noise; without that corpus we use):
a uniform random circular time shift and a random gain of U(−10, 10) dB, clamped to the input range.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

# ImageNet RGB PCA (Krizhevsky et al. 2012), as the study's `Lighting` transform.
_EIGVAL = torch.tensor([0.2175, 0.0188, 0.0045])
_EIGVEC = torch.tensor([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def _crop_box(g: torch.Generator, h: int, w: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)) -> tuple[int, ...]:
    area = h * w
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * _uniform(g, *scale)
        aspect = math.exp(_uniform(g, *log_ratio))
        cw, ch = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(torch.randint(0, h - ch + 1, (), generator=g))
            left = int(torch.randint(0, w - cw + 1, (), generator=g))
            return top, left, ch, cw
    side = min(h, w)  # fallback: central crop, as torchvision
    return (h - side) // 2, (w - side) // 2, side, side


def _grey(x: Tensor) -> Tensor:
    return (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]).unsqueeze(0)


def augment_image(x: Tensor, g: torch.Generator, value_range: tuple[float, float]) -> Tensor:
    """(C, H, W) image in `value_range` → an augmented (C, H, W) image in the same range."""
    lo, hi = value_range
    img = (x - lo) / (hi - lo)
    c, h, w = img.shape
    top, left, ch, cw = _crop_box(g, h, w)
    img = torch.nn.functional.interpolate(img[None, :, top:top + ch, left:left + cw], size=(h, w),
                                          mode="bilinear", align_corners=False, antialias=True)[0]
    if float(torch.rand((), generator=g)) < 0.5:
        img = img.flip(-1)
    img = (img * _uniform(g, 0.9, 1.1)).clamp(0, 1)  # brightness
    mean = (_grey(img) if c == 3 else img).mean()
    img = (mean + _uniform(g, 0.9, 1.1) * (img - mean)).clamp(0, 1)  # contrast
    if c == 3:
        img = (_grey(img) + _uniform(g, 0.9, 1.1) * (img - _grey(img))).clamp(0, 1)  # saturation
        alpha = torch.randn(3, generator=g) * 0.05
        img = img + (_EIGVEC @ (alpha * _EIGVAL)).reshape(3, 1, 1)
    return (img.clamp(0, 1) * (hi - lo) + lo).to(x.dtype)


def augment_sound(x: Tensor, g: torch.Generator, value_range: tuple[float, float]) -> Tensor:
    """(T,) waveform → circularly shifted by U{0…T−1} samples, scaled by U(−10, 10) dB, clamped to the range."""
    shift = int(torch.randint(0, x.shape[-1], (), generator=g))
    gain = 10 ** (_uniform(g, -10.0, 10.0) / 20)
    return (torch.roll(x, shift, dims=-1) * gain).clamp(*value_range)


def augment(x: Tensor, g: torch.Generator, modality: str, value_range: tuple[float, float]) -> Tensor:
    return augment_sound(x, g, value_range) if modality == "audio" else augment_image(x, g, value_range)
