"""ImageNet-C corruptions (Hendrycks & Dietterich 2019) written from their published definitions.

The study averaged top-1 accuracy over 15 corruptions (Methods, "Out of distribution evaluation"): Gaussian noise,
shot noise, impulse noise, defocus blur, frosted glass blur, motion blur, zoom blur, snow, frost, fog, brightness,
contrast, elastic, pixelate and JPEG compression, each at severities 1–5. The constants below are those of the
`imagecorruptions` 1.1.2 package on PyPI (bethgelab's packaging of the ImageNet-C code, Apache-2.0), read from its
`imagecorruptions/corruptions.py`. That package itself does not run with metazoo's pinned stack (it imports OpenCV,
calls scikit-image's removed `multichannel=` argument and numpy 2's removed `np.float_`), hence this rewrite with
numpy/scipy/PIL/scikit-image only. All 15 are generated (`GENERATED`); `NOT_GENERATED` is empty.

Every function maps an (H, W, 3) float array in [0, 1] to the same shape in [0, 1]. The reference draws from numpy's
global `np.random` state; here the same quantities, in the same order, come from the `numpy.random.Generator` passed
in (so images are reproducible per seed, but not bit-identical to the reference's for a given `np.random.seed`).

Where the four added last differ from the code they follow:
- glass_blur: the reference's "swap" `x[h, w], x[h', w'] = x[h', w'], x[h, w]` acts on (3,)-views of a numpy array,
  so it copies x[h', w'] into x[h, w] and leaves x[h', w'] as it was (not a swap); that behaviour, in the
  reference's loop order (rows and columns from H − δ down to δ + 1, `iterations` passes, offsets drawn from
  [−δ, δ − 1]), is reproduced exactly by a vectorised pass (`_glass_shuffle`). The offsets are drawn in one call
  per pass, `rng.integers(−δ, δ, size=(rows, cols, 2))` (dx, dy per pixel in loop order).
- motion_blur and snow: `imagecorruptions` 1.1.2 replaced ImageNet-C's ImageMagick motion blur (used for the released
  ImageNet-C images, hendrycks/robustness ImageNet-C/create_c/make_imagenet_c.py) by its own numpy `_motion_blur`
  (a half-Gaussian line kernel applied as whole-pixel shifts with edge replication); `_motion_blur` here computes the
  same sum (edge-padded slices instead of `np.roll` + edge copy). Neither matches ImageMagick's images exactly
  (unverified how far they differ). Snow's greyscale is OpenCV's RGB→GRAY for floats, 0.299 R + 0.587 G + 0.114 B.
- frost: needs the frost photographs frost1.png … frost5.jpg shipped inside the `imagecorruptions` package (only
  the first five can be drawn: `randint(5)`). They are not bundled with metazoo (about 2 MB); `frost_dir` finds them
  via METAZOO_FROST_DIR or an installed `imagecorruptions` (located, never imported). The photo is enlarged ×1.1
  (more when smaller than the image) with bicubic interpolation written after OpenCV's INTER_CUBIC (a = −0.75,
  half-pixel centres, replicated border) in floating point; OpenCV's fixed-point 8-bit arithmetic may differ by one
  grey level (unverified), and PIL's JPEG decoder may differ slightly from OpenCV's (unverified). The released
  ImageNet-C 224 × 224 images crop the photos without enlarging them (make_imagenet_c.py); here 1.1.2's rule is kept.
"""
from __future__ import annotations

import math
import os
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import ndimage

from ..errors import InputError

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


def _zoom_centre(img: Array, factor: float) -> Array:
    """(H, W, C) → the centre ceil(H/f) × ceil(W/f) crop zoomed by f (bilinear): at least (H, W, C), not trimmed
    (`clipped_zoom` of imagecorruptions 1.1.2)."""
    h, w = img.shape[:2]
    ch, cw = int(np.ceil(h / factor)), int(np.ceil(w / factor))
    top, left = (h - ch) // 2, (w - cw) // 2
    return ndimage.zoom(img[top:top + ch, left:left + cw], (factor, factor, 1), order=1)


def _clipped_zoom(img: Array, factor: float) -> Array:
    h, w = img.shape[:2]
    return _zoom_centre(img, factor)[:h, :w]


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


def _glass_shuffle(img: Array, dx: Array, dy: Array, delta: int) -> Array:
    """One pass of ImageNet-C's local pixel shuffle, vectorised and exactly equal to the reference's sequential loop

        for h in range(H - δ, δ, -1):
            for w in range(W - δ, δ, -1):
                x[h, w] = x[h + dy, w + dx]      # what the reference's tuple "swap" on numpy views does

    img: (H, W, C); dx, dy: (H − 2δ, W − 2δ) integer offsets, entry [i, j] used at h = H − δ − i, w = W − δ − j.
    The loop visits pixels in decreasing raster order, so pixel p reads its source q's *new* value exactly when q was
    visited earlier (q in the visited block and q > p in raster order), else q's old value. Following those links
    (pointer doubling) to the first source read unchanged gives every new value from the old image in one gather.
    """
    h, w = img.shape[:2]
    rows = np.arange(h - delta, delta, -1)
    cols = np.arange(w - delta, delta, -1)
    if rows.size == 0 or cols.size == 0:
        return img.copy()
    hh, ww = np.meshgrid(rows, cols, indexing="ij")
    sh, sw = hh + dy, ww + dx
    p = (hh * w + ww).ravel()
    q = (sh * w + sw).ravel()
    visited = np.zeros(h * w, bool)
    visited[p] = True
    source = np.arange(h * w)
    source[p] = q
    link = np.arange(h * w)  # link[p] = q when p reads q's new value
    reads_new = visited[q] & (q > p)
    link[p[reads_new]] = q[reads_new]
    while True:
        nxt = link[link]
        if np.array_equal(nxt, link):
            break
        link = nxt
    flat = img.reshape(h * w, -1)
    return flat[source[link]].reshape(img.shape)


def glass_blur(x: Array, severity: int, rng: np.random.Generator) -> Array:
    """Gaussian blur (σ), `iterations` passes of local pixel shuffling by up to δ pixels on the 8-bit image, blur
    again. Constants (σ, δ, iterations) from imagecorruptions 1.1.2 `glass_blur` (same in hendrycks/robustness
    make_imagenet_c.py); skimage's `gaussian` (mode 'nearest', truncate 4) as there, `channel_axis` replacing the
    removed `multichannel=True`."""
    from skimage.filters import gaussian

    sigma, delta, iterations = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)][severity - 1]
    img = np.uint8(gaussian(x, sigma=sigma, channel_axis=-1) * 255)
    h, w = img.shape[:2]
    shape = (max(h - 2 * delta, 0), max(w - 2 * delta, 0), 2)
    for _ in range(iterations):
        d = rng.integers(-delta, delta, size=shape)
        img = _glass_shuffle(img, d[..., 0], d[..., 1], delta)
    return np.clip(gaussian(img / 255., sigma=sigma, channel_axis=-1), 0, 1)


def motion_kernel(radius: int, sigma: float, angle: float, shape: tuple[int, int]) -> list[tuple[int, int, float]]:
    """The taps (dy, dx, weight) of imagecorruptions 1.1.2's `_motion_blur`: a half-Gaussian exp(−i²/2σ²) over
    i = 0 … 2·radius (normalised to sum 1), tap i displaced by −ceil(i·(sin θ, cos θ) − 0.5) pixels (θ = angle in
    degrees), stopping at the first tap displaced by the image size or more (shape = (H, W))."""
    width = 2 * radius + 1
    k = np.exp(-np.arange(width) ** 2 / (2 * sigma ** 2)) / (np.sqrt(2 * np.pi) * sigma)
    k = k / k.sum()
    py, px = width * np.sin(np.deg2rad(angle)), width * np.cos(np.deg2rad(angle))
    hyp = math.hypot(py, px)
    taps = []
    for i in range(width):
        dy, dx = -math.ceil(i * py / hyp - 0.5), -math.ceil(i * px / hyp - 0.5)
        if abs(dy) >= shape[0] or abs(dx) >= shape[1]:
            break
        taps.append((dy, dx, float(k[i])))
    return taps


def _motion_blur(x: Array, radius: int, sigma: float, angle: float) -> Array:
    """x: (H, W) or (H, W, C) → Σ_i weight_i · x[clamp(r − dy_i), clamp(c − dx_i)] over `motion_kernel`'s taps:
    the reference's `shift` (np.roll, then the edge row/column copied over the wrapped part) is this clamped shift."""
    taps = motion_kernel(radius, sigma, angle, x.shape[:2])
    h, w = x.shape[:2]
    m = max((max(abs(dy), abs(dx)) for dy, dx, _ in taps), default=0)
    padded = np.pad(x, [(m, m), (m, m)] + [(0, 0)] * (x.ndim - 2), mode="edge")
    out = np.zeros(x.shape, np.float64)
    for dy, dx, weight in taps:
        out = out + weight * padded[m - dy:m - dy + h, m - dx:m - dx + w]
    return out


def motion_blur(x: Array, severity: int, rng: np.random.Generator) -> Array:
    """Motion blur along a random direction θ ~ U(−45°, 45°); (radius, σ) from imagecorruptions 1.1.2."""
    radius, sigma = [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)][severity - 1]
    return np.clip(_motion_blur(x, radius, sigma, rng.uniform(-45, 45)), 0, 1)


def snow(x: Array, severity: int, rng: np.random.Generator) -> Array:
    """Snow: a normal(μ, σ) layer zoomed ×z around its centre, values < threshold set to 0, motion-blurred along
    θ ~ U(−135°, −45°), rounded to 8 bits, cropped to (H, W) and added twice (as is and rotated 180°) to the image
    blended with max(x, 1.5·grey + 0.5). Constants (μ, σ, z, threshold, radius, blur σ, blend) and order of
    operations from imagecorruptions 1.1.2 `snow`."""
    mu, sd, zoom, threshold, radius, blur_sigma, blend = [
        (0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7), (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65), (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)][severity - 1]
    x = x.astype(np.float32)
    h, w = x.shape[:2]
    layer = _zoom_centre(rng.normal(size=(h, w), loc=mu, scale=sd)[..., None], zoom)
    layer[layer < threshold] = 0
    layer = _motion_blur(np.clip(layer[..., 0], 0, 1), radius, blur_sigma, rng.uniform(-135, -45))
    layer = (np.round(layer * 255).astype(np.uint8) / 255.)[:h, :w, None]
    grey = (0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2])[..., None]
    x = blend * x + (1 - blend) * np.maximum(x, grey * 1.5 + 0.5)
    return np.clip(x + layer + np.rot90(layer, k=2), 0, 1)


FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")
"""The frost photographs `frost` draws from (imagecorruptions 1.1.2 lists frost6.jpg too but draws randint(5))."""
FROST_HINT = ("set METAZOO_FROST_DIR to a folder holding frost1.png … frost5.jpg, e.g. the imagecorruptions/frost "
              "folder of `pip download imagecorruptions==1.1.2 --no-deps` unzipped (or `pip install --no-deps "
              "imagecorruptions==1.1.2`: found without importing it), or read frost from a downloaded ImageNet-C "
              "tree with --data")


class FrostImagesMissing(InputError):
    """The frost photographs were not found; the message is one line naming where to get them."""


def frost_dir() -> Path:
    """The folder holding FROST_FILES: $METAZOO_FROST_DIR, else the `frost` folder of an installed imagecorruptions
    package (found with importlib's spec search, which does not execute the package). FrostImagesMissing if none."""
    env = os.environ.get("METAZOO_FROST_DIR")
    if env:
        folder = Path(env)
        missing = [f for f in FROST_FILES if not (folder / f).is_file()]
        if missing:
            raise FrostImagesMissing(f"frost: METAZOO_FROST_DIR={env} lacks {', '.join(missing)}; {FROST_HINT}")
        return folder
    from importlib.util import find_spec

    spec = find_spec("imagecorruptions")
    for root in (spec.submodule_search_locations or []) if spec else []:
        if all((Path(root) / "frost" / f).is_file() for f in FROST_FILES):
            return Path(root) / "frost"
    raise FrostImagesMissing(f"frost needs the ImageNet-C frost photographs, which metazoo does not ship; {FROST_HINT}")


def _cubic_weights(out_size: int, in_size: int) -> tuple[Array, Array]:
    """Indices (out, 4) and weights (out, 4) of OpenCV's INTER_CUBIC along one axis: source coordinate
    (i + 0.5)·in/out − 0.5, Keys kernel with a = −0.75, indices clamped to the image (replicated border)."""
    a = -0.75
    src = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
    base = np.floor(src).astype(int)
    t = src - base
    d = np.stack([1 + t, t, 1 - t, 2 - t], axis=1)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    weights = np.where(d <= 1, near, far)
    idx = np.clip(base[:, None] + np.arange(-1, 3)[None, :], 0, in_size - 1)
    return idx, weights


def resize_cubic(img: Array, out_h: int, out_w: int) -> Array:
    """(H, W, 3) uint8 → (out_h, out_w, 3) uint8 by separable bicubic interpolation (`_cubic_weights`), rounded
    and saturated to 0–255."""
    iy, wy = _cubic_weights(out_h, img.shape[0])
    ix, wx = _cubic_weights(out_w, img.shape[1])
    f = img.astype(np.float64)
    f = np.einsum("ok,okwc->owc", wy, f[iy])
    f = np.einsum("pk,hpkc->hpc", wx, f[:, ix])
    return np.clip(np.round(f), 0, 255).astype(np.uint8)


@lru_cache(maxsize=16)
def _frost_photo(path: str, h: int, w: int) -> Array:
    """The frost photo at `path` as RGB uint8, enlarged as imagecorruptions 1.1.2 does for an (h, w) image: ×1.1
    when it covers the image, else ×1.1 times the factor that makes it cover it."""
    from PIL import Image

    with Image.open(path) as im:
        photo = np.asarray(im.convert("RGB"))
    fh, fw = photo.shape[:2]
    scale = max(1.0, h / fh, w / fw) * 1.1
    return resize_cubic(photo, int(np.ceil(fh * scale)), int(np.ceil(fw * scale)))


def frost(x: Array, severity: int, rng: np.random.Generator) -> Array:
    """clip(a·x + b·F) with F a random (H, W) crop of one of five frost photos; (a, b) and the draws (photo index
    from 0–4, then crop row, crop column) as imagecorruptions 1.1.2 `frost`. FrostImagesMissing without the photos."""
    a, b = [(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)][severity - 1]
    folder = frost_dir()
    idx = int(rng.integers(5))
    h, w = x.shape[:2]
    photo = _frost_photo(str(folder / FROST_FILES[idx]), h, w)
    top, left = int(rng.integers(0, photo.shape[0] - h)), int(rng.integers(0, photo.shape[1] - w))
    return np.clip(a * x + b * photo[top:top + h, left:left + w] / 255., 0, 1)


CORRUPTIONS: dict[str, Callable[[Array, int, np.random.Generator], Array]] = {
    f.__name__: f for f in (gaussian_noise, shot_noise, impulse_noise, defocus_blur, glass_blur, motion_blur, zoom_blur,
                            snow, frost, fog, brightness, contrast, elastic_transform, pixelate, jpeg_compression)}
GENERATED = tuple(c for c in STUDY_CORRUPTIONS if c in CORRUPTIONS)
NOT_GENERATED = tuple(c for c in STUDY_CORRUPTIONS if c not in CORRUPTIONS)


def corrupt(x: Array, name: str, severity: int, rng: np.random.Generator) -> Array:
    """x: (H, W, 3) float in [0, 1] → corrupted copy, same shape, float32 in [0, 1]. ValueError for unknown input."""
    if name not in CORRUPTIONS:
        raise ValueError(f"corruption '{name}' is not generated here ({', '.join(CORRUPTIONS)} are)")
    if severity not in SEVERITIES:
        raise ValueError(f"severity {severity} is not one of 1–5")
    return np.asarray(CORRUPTIONS[name](np.asarray(x, dtype=np.float64), severity, rng), dtype=np.float32)
