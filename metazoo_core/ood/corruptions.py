"""ImageNet-C corruptions (Hendrycks & Dietterich 2019) written from their published definitions.

The study averaged top-1 accuracy over 15 corruptions (Methods, "Out of distribution evaluation"): Gaussian noise,
shot noise, impulse noise, defocus blur, frosted glass blur, motion blur, zoom blur, snow, frost, fog, brightness,
contrast, elastic, pixelate and JPEG compression, each at severities 1–5. The constants below are those of the
`imagecorruptions` 1.1.2 package on PyPI (bethgelab's packaging of the ImageNet-C code, Apache-2.0), read from its
`corruptions.py`. That package itself does not run with metazoo's pinned stack (it imports OpenCV, calls scikit-image's
removed `multichannel=` argument and numpy 2's removed `np.float_`), hence this rewrite with numpy/scipy/PIL only.

Generated here: 11 of the 15 (`GENERATED`). Not generated (`NOT_GENERATED`): glass blur, motion blur and snow (their
reference code needs per-pixel loops / ImageMagick-style kernels) and frost (needs the frost photographs shipped
with ImageNet-C); evaluate those from a downloaded ImageNet-C tree instead. Every function maps an (H, W, 3) float
array in [0, 1] to the same shape in [0, 1]; random draws come from the `numpy.random.Generator` passed in.
"""
from __future__ import annotations

from io import BytesIO
from typing import Callable

import numpy as np
from scipy import ndimage

STUDY_CORRUPTIONS = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
                     "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
                     "jpeg_compression")
"""The 15 corruptions the study averaged (names as in ImageNet-C's folders)."""
SEVERITIES = (1, 2, 3, 4, 5)

Array = np.ndarray


def gaussian_noise(x: Array, severity: int, rng: np.random.Generator) -> Array:
    c = [.08, .12, 0.18, 0.26, 0.38][severity - 1]
    return np.clip(x + rng.normal(size=x.shape, scale=c), 0, 1)


def shot_noise(x: Array, severity: int, rng: np.random.Generator) -> Array:
    c = [60, 25, 12, 5, 3][severity - 1]
    return np.clip(rng.poisson(x * c) / float(c), 0, 1)


def impulse_noise(x: Array, severity: int, rng: np.random.Generator) -> Array:
    """Salt-and-pepper on a fraction `amount` of all values, half salt (1), half pepper (0), as
    `skimage.util.random_noise(mode='s&p')` with its default salt_vs_pepper = 0.5."""
    amount = [.03, .06, .09, 0.17, 0.27][severity - 1]
    out = x.copy()
    hit = rng.random(x.shape) < amount
    salt = rng.random(x.shape) < 0.5
    out[hit & salt] = 1.0
    out[hit & ~salt] = 0.0
    return out


def _gauss_kernel(size: int, sigma: float) -> Array:
    """OpenCV's GaussianBlur kernel for ksize=size: normalised samples of exp(-t²/2σ²) at integer offsets."""
    t = np.arange(size) - (size - 1) / 2
    k = np.exp(-t ** 2 / (2 * sigma ** 2))
    return k / k.sum()


def _disk(radius: int, alias_blur: float) -> Array:
    """ImageNet-C's anti-aliased disk: a normalised binary disk smoothed by a 3×3 (radius ≤ 8) or 5×5 Gaussian."""
    if radius <= 8:
        support, ksize = np.arange(-8, 9), 3
    else:
        support, ksize = np.arange(-radius, radius + 1), 5
    xx, yy = np.meshgrid(support, support)
    disk = ((xx ** 2 + yy ** 2) <= radius ** 2).astype(np.float32)
    disk /= disk.sum()
    k = _gauss_kernel(ksize, alias_blur)
    disk = ndimage.convolve1d(disk, k, axis=0, mode="mirror")
    return ndimage.convolve1d(disk, k, axis=1, mode="mirror")


def defocus_blur(x: Array, severity: int, rng: np.random.Generator) -> Array:
    radius, alias = [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)][severity - 1]
    kernel = _disk(radius, alias)
    # OpenCV filter2D correlates with BORDER_REFLECT_101 (scipy "mirror"); the disk is symmetric
    out = np.stack([ndimage.correlate(x[..., d], kernel, mode="mirror") for d in range(x.shape[2])], axis=2)
    return np.clip(out, 0, 1)


def _clipped_zoom(img: Array, factor: float) -> Array:
    h, w = img.shape[:2]
    ch, cw = int(np.ceil(h / factor)), int(np.ceil(w / factor))
    top, left = (h - ch) // 2, (w - cw) // 2
    out = ndimage.zoom(img[top:top + ch, left:left + cw], (factor, factor, 1), order=1)
    return out[:h, :w]


def zoom_blur(x: Array, severity: int, rng: np.random.Generator) -> Array:
    factors = [np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
               np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03)][severity - 1]
    x = x.astype(np.float32)
    out = np.zeros_like(x)
    for f in factors:
        layer = _clipped_zoom(x, f)
        out[:layer.shape[0], :layer.shape[1]] += layer
    return np.clip((x + out) / (len(factors) + 1), 0, 1)


def _plasma_fractal(mapsize: int, wibbledecay: float, rng: np.random.Generator) -> Array:
    """Diamond-square height map in [0, 1], side `mapsize` (a power of two)."""
    a = np.zeros((mapsize, mapsize))
    step, wibble = mapsize, 100.0

    def wibbled(v: Array) -> Array:
        return v / 4 + wibble * rng.uniform(-wibble, wibble, v.shape)

    while step >= 2:
        half = step // 2
        corners = a[0:mapsize:step, 0:mapsize:step]
        square = corners + np.roll(corners, -1, axis=0)
        square += np.roll(square, -1, axis=1)
        a[half:mapsize:step, half:mapsize:step] = wibbled(square)
        dr = a[half:mapsize:step, half:mapsize:step]
        ul = a[0:mapsize:step, 0:mapsize:step]
        a[0:mapsize:step, half:mapsize:step] = wibbled(dr + np.roll(dr, 1, axis=0) + ul + np.roll(ul, -1, axis=1))
        a[half:mapsize:step, 0:mapsize:step] = wibbled(dr + np.roll(dr, 1, axis=1) + ul + np.roll(ul, -1, axis=0))
        step //= 2
        wibble /= wibbledecay
    a -= a.min()
    return a / a.max()


def fog(x: Array, severity: int, rng: np.random.Generator) -> Array:
    strength, decay = [(1.5, 2), (2., 2), (2.5, 1.7), (2.5, 1.5), (3., 1.4)][severity - 1]
    h, w = x.shape[:2]
    size = 1 << (max(h, w) - 1).bit_length()
    max_val = x.max()
    x = x + strength * _plasma_fractal(size, decay, rng)[:h, :w, None]
    return np.clip(x * max_val / (max_val + strength), 0, 1)


def brightness(x: Array, severity: int, rng: np.random.Generator) -> Array:
    from skimage.color import hsv2rgb, rgb2hsv

    c = [.1, .2, .3, .4, .5][severity - 1]
    hsv = rgb2hsv(x)
    hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
    return np.clip(hsv2rgb(hsv), 0, 1)


def contrast(x: Array, severity: int, rng: np.random.Generator) -> Array:
    c = [0.4, .3, .2, .1, .05][severity - 1]
    means = x.mean(axis=(0, 1), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1)


def elastic_transform(x: Array, severity: int, rng: np.random.Generator) -> Array:
    from skimage.filters import gaussian

    h, w = x.shape[:2]
    sigma = np.array((h, w)) * 0.01
    alpha = [250 * 0.05, 250 * 0.065, 250 * 0.085, 250 * 0.1, 250 * 0.12][severity - 1]
    max_d = h * 0.005
    dx = gaussian(rng.uniform(-max_d, max_d, size=(h, w)), sigma, mode="reflect", truncate=3) * alpha
    dy = gaussian(rng.uniform(-max_d, max_d, size=(h, w)), sigma, mode="reflect", truncate=3) * alpha
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    out = np.stack([ndimage.map_coordinates(x[..., d], [yy + dy, xx + dx], order=1, mode="reflect")
                    for d in range(x.shape[2])], axis=2)
    return np.clip(out, 0, 1)


def _to_pil(x: Array):
    from PIL import Image

    return Image.fromarray(np.round(np.clip(x, 0, 1) * 255).astype(np.uint8))


def pixelate(x: Array, severity: int, rng: np.random.Generator) -> Array:
    from PIL import Image

    c = [0.6, 0.5, 0.4, 0.3, 0.25][severity - 1]
    h, w = x.shape[:2]
    img = _to_pil(x).resize((int(w * c), int(h * c)), Image.BOX).resize((w, h), Image.NEAREST)
    return np.asarray(img, dtype=np.float32) / 255


def jpeg_compression(x: Array, severity: int, rng: np.random.Generator) -> Array:
    from PIL import Image

    quality = [25, 18, 15, 10, 7][severity - 1]
    buf = BytesIO()
    _to_pil(x).save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255


CORRUPTIONS: dict[str, Callable[[Array, int, np.random.Generator], Array]] = {
    f.__name__: f for f in (gaussian_noise, shot_noise, impulse_noise, defocus_blur, zoom_blur, fog, brightness,
                            contrast, elastic_transform, pixelate, jpeg_compression)}
GENERATED = tuple(c for c in STUDY_CORRUPTIONS if c in CORRUPTIONS)
NOT_GENERATED = tuple(c for c in STUDY_CORRUPTIONS if c not in CORRUPTIONS)


def corrupt(x: Array, name: str, severity: int, rng: np.random.Generator) -> Array:
    """x: (H, W, 3) float in [0, 1] → corrupted copy, same shape, float32 in [0, 1]. ValueError for unknown input."""
    if name not in CORRUPTIONS:
        raise ValueError(f"corruption '{name}' is not generated here ({', '.join(CORRUPTIONS)} are)")
    if severity not in SEVERITIES:
        raise ValueError(f"severity {severity} is not one of 1–5")
    return np.asarray(CORRUPTIONS[name](np.asarray(x, dtype=np.float64), severity, rng), dtype=np.float32)
