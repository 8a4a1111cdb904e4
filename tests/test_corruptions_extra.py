"""The four ImageNet-C corruptions added last (glass blur, motion blur, snow, frost) against the reference code of
the `imagecorruptions` 1.1.2 package (bethgelab/imagecorruptions, imagecorruptions/corruptions.py, Apache-2.0):
its pure-numpy parts are copied here verbatim (marked) and run on the same draws; the rest is checked through
properties that fail if a constant or a step were wrong."""
from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from scipy import ndimage

from metazoo_core.ood import corruptions as C
from metazoo_core.ood.corruptions import corrupt


def _image(h: int = 40, w: int = 44) -> np.ndarray:
    from metazoo_core.io.images import builtin_array

    return builtin_array("chelsea")[100:100 + h, 120:120 + w].astype(np.float64) / 255


# ---- verbatim from imagecorruptions 1.1.2 corruptions.py (`shift`, `_motion_blur` with its two helpers) ----
def ref_shift(image, dx, dy):
    if(dx < 0):
        shifted = np.roll(image, shift=image.shape[1]+dx, axis=1)
        shifted[:,dx:] = shifted[:,dx-1:dx]
    elif(dx > 0):
        shifted = np.roll(image, shift=dx, axis=1)
        shifted[:,:dx] = shifted[:,dx:dx+1]
    else:
        shifted = image

    if(dy < 0):
        shifted = np.roll(shifted, shift=image.shape[0]+dy, axis=0)
        shifted[dy:,:] = shifted[dy-1:dy,:]
    elif(dy > 0):
        shifted = np.roll(shifted, shift=dy, axis=0)
        shifted[:dy,:] = shifted[dy:dy+1,:]
    return shifted


def ref_gauss_function(x, mean, sigma):
    return (np.exp(- x**2 / (2 * (sigma**2)))) / (np.sqrt(2 * np.pi) * sigma)


def ref_getMotionBlurKernel(width, sigma):
    k = ref_gauss_function(np.arange(width), 0, sigma)
    Z = np.sum(k)
    return k/Z


def ref_motion_blur(x, radius, sigma, angle):
    width = radius * 2 + 1  # getOptimalKernelWidth1D
    kernel = ref_getMotionBlurKernel(width, sigma)
    point = (width * np.sin(np.deg2rad(angle)), width * np.cos(np.deg2rad(angle)))
    hypot = math.hypot(point[0], point[1])

    blurred = np.zeros_like(x, dtype=np.float32)
    for i in range(width):
        dy = -math.ceil(((i*point[0]) / hypot) - 0.5)
        dx = -math.ceil(((i*point[1]) / hypot) - 0.5)
        if (np.abs(dy) >= x.shape[0] or np.abs(dx) >= x.shape[1]):
            # simulated motion exceeded image borders
            break
        shifted = ref_shift(x, dx, dy)
        blurred = blurred + kernel[i] * shifted
    return blurred


def ref_glass_shuffle(x, c, draws):
    """imagecorruptions 1.1.2 `glass_blur`'s shuffle loop verbatim; np.random.randint(-c[1], c[1], size=(2,)) is
    replaced by the next row of `draws` (the values metazoo draws from its Generator, in loop order)."""
    x_shape = np.array(x).shape
    it = iter(draws)
    for h in range(x_shape[0] - c[1], c[1], -1):
        for w in range(x_shape[1] - c[1], c[1], -1):
            dx, dy = next(it)
            h_prime, w_prime = h + dy, w + dx
            # swap
            x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]
    return x
# ---- end of the verbatim reference code ----


def test_the_reference_swap_copies_rather_than_swaps():
    """Why metazoo reproduces a copy: the tuple assignment on numpy (C,)-views duplicates x[h', w']."""
    x = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    x[0, 0], x[1, 1] = x[1, 1], x[0, 0]
    assert x[0, 0].tolist() == x[1, 1].tolist() == [9, 10, 11]


@pytest.mark.parametrize("delta", [1, 2, 3, 4])
def test_glass_shuffle_equals_the_reference_loop(delta):
    rng = np.random.default_rng(delta)
    img = rng.integers(0, 256, size=(31, 37, 3)).astype(np.uint8)
    d = rng.integers(-delta, delta, size=(31 - 2 * delta, 37 - 2 * delta, 2))
    expected = ref_glass_shuffle(img.copy(), (None, delta), d.reshape(-1, 2))
    got = C._glass_shuffle(img, d[..., 0], d[..., 1], delta)
    assert np.array_equal(got, expected)
    # every pixel comes from the input image: shuffling never invents a colour
    assert {tuple(p) for p in got.reshape(-1, 3)} <= {tuple(p) for p in img.reshape(-1, 3)}
    assert not np.array_equal(got, img)


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_glass_blur_equals_the_reference_composition(severity):
    """gaussian(σ) → uint8 → `iterations` reference passes (draws in metazoo's order) → gaussian(σ), clipped."""
    from skimage.filters import gaussian

    x = _image()
    sigma, delta, iterations = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)][severity - 1]
    rng = np.random.default_rng(7)
    img = np.uint8(gaussian(x, sigma=sigma, channel_axis=-1) * 255)
    for _ in range(iterations):
        d = rng.integers(-delta, delta, size=(x.shape[0] - 2 * delta, x.shape[1] - 2 * delta, 2))
        img = ref_glass_shuffle(img, (None, delta), d.reshape(-1, 2))
    expected = np.clip(gaussian(img / 255., sigma=sigma, channel_axis=-1), 0, 1)
    assert np.allclose(corrupt(x, "glass_blur", severity, np.random.default_rng(7)), expected, atol=1e-6)


@pytest.mark.parametrize("radius, sigma, angle", [(10, 3, 0.0), (15, 5, 30.0), (20, 15, -44.0), (12, 8, -100.0)])
def test_motion_blur_equals_the_reference_and_a_dense_kernel(radius, sigma, angle):
    x = _image(48, 52)
    got = C._motion_blur(x, radius, sigma, angle)
    assert np.allclose(got, ref_motion_blur(x, radius, sigma, angle), atol=1e-12)
    # independent: one dense correlation kernel with the taps at (−dy, −dx), edges replicated ('nearest')
    taps = C.motion_kernel(radius, sigma, angle, x.shape[:2])
    m = max(max(abs(dy), abs(dx)) for dy, dx, _ in taps)
    k = np.zeros((2 * m + 1, 2 * m + 1))
    for dy, dx, wgt in taps:
        k[m - dy, m - dx] += wgt
    dense = np.stack([ndimage.correlate(x[..., c], k, mode="nearest") for c in range(3)], axis=2)
    assert np.allclose(got, dense, atol=1e-12)


@pytest.mark.parametrize("angle", [0.0, 17.0, -40.0, -90.0])
def test_motion_kernel_is_a_normalised_half_gaussian_line(angle):
    radius, sigma = 10, 3
    taps = C.motion_kernel(radius, sigma, angle, (64, 64))
    weights = np.array([w for _, _, w in taps])
    assert len(taps) == 2 * radius + 1 and weights.sum() == pytest.approx(1.0)
    assert taps[0][:2] == (0, 0) and np.all(np.diff(weights) < 0)  # peak at the pixel itself, decaying
    i = np.arange(2 * radius + 1)
    assert np.allclose(weights, np.exp(-i ** 2 / (2 * sigma ** 2)) / np.exp(-i ** 2 / (2 * sigma ** 2)).sum())
    # a point image gives the kernel's line: weight_i at (r0 + dy_i, c0 + dx_i), within ½ pixel of the ray −(sin, cos)
    point = np.zeros((64, 64))
    point[32, 32] = 1.0
    out = C._motion_blur(point, radius, sigma, angle)
    assert out.sum() == pytest.approx(1.0)
    s, c = np.sin(np.deg2rad(angle)), np.cos(np.deg2rad(angle))
    at: dict[tuple[int, int], float] = {}  # taps that round to the same pixel add up
    for n, (dy, dx, w) in enumerate(taps):
        at[dy, dx] = at.get((dy, dx), 0.0) + w
        assert abs(dy + n * s) <= 0.5 + 1e-9 and abs(dx + n * c) <= 0.5 + 1e-9
    assert np.count_nonzero(out) == len(at)
    for (dy, dx), w in at.items():
        assert out[32 + dy, 32 + dx] == pytest.approx(w)


def test_snow_only_adds_a_layer_that_is_180_degree_symmetric_on_black():
    """On a black image the blend is the constant (1 − b)·0.5 and the snow layer is added as L + rot180(L), so the
    result is invariant under a 180° rotation and in 8-bit steps above the blend; on any image, snow only brightens."""
    black = np.zeros((48, 56, 3))
    for severity, blend in zip((1, 3, 5), (0.8, 0.7, 0.55)):
        out = corrupt(black, "snow", severity, np.random.default_rng(severity)).astype(np.float64)
        assert np.allclose(out, np.rot90(out, k=2), atol=1e-6)
        added = (out - (1 - blend) * 0.5) * 255
        assert added.min() > -1e-3 and np.allclose(added[out < 1], np.round(added[out < 1]), atol=2e-3)
        assert added.max() > 1  # some snow fell
    x = _image()
    grey = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
    base = 0.55 * x + 0.45 * np.maximum(x, grey[..., None] * 1.5 + 0.5)
    assert np.all(corrupt(x, "snow", 5, np.random.default_rng(0)) >= np.clip(base, 0, 1) - 1e-6)


@pytest.mark.parametrize("name", ["glass_blur", "motion_blur", "snow"])
def test_new_corruptions_are_seeded_in_range_and_grow_with_severity(name):
    x = _image(64, 64)
    outs = {s: corrupt(x, name, s, np.random.default_rng(3)) for s in (1, 3, 5)}
    assert np.array_equal(outs[3], corrupt(x, name, 3, np.random.default_rng(3)))
    assert not np.array_equal(outs[3], corrupt(x, name, 3, np.random.default_rng(4)))
    for o in outs.values():
        assert o.shape == x.shape and o.dtype == np.float32 and o.min() >= 0 and o.max() <= 1
    mse = [float(((outs[s] - x) ** 2).mean()) for s in (1, 3, 5)]
    assert 0 < mse[0] < mse[1] < mse[2], mse


def test_cubic_resize_matches_hand_computed_opencv_weights():
    """Upsampling [0, 0, 100, 0] ×2: source coordinate (i + ½)/2 − ½, Keys kernel a = −0.75, e.g. output 3 sits at
    1.25 → 100·W(0.75) = 100·(1.25·0.75³ − 2.25·0.75² + 1) = 26.17 → 26; output 4 → 100·W(0.25) = 87.89 → 88;
    negative lobes saturate at 0; a constant image stays constant."""
    row = np.array([0, 0, 100, 0], np.uint8).reshape(1, 4, 1).repeat(3, axis=2)
    assert C.resize_cubic(row, 1, 8)[0, :, 0].tolist() == [0, 0, 0, 26, 88, 88, 26, 0]
    flat = np.full((7, 9, 3), 123, np.uint8)
    assert np.all(C.resize_cubic(flat, 11, 13) == 123)


def _frost_photos(folder, sizes=((60, 50), (40, 30), (70, 80), (45, 45), (100, 20))):
    """Five constant-colour stand-ins named like the frost photos; grey level 40·(k + 1) identifies photo k."""
    from PIL import Image

    folder.mkdir()
    for k, (name, (w, h)) in enumerate(zip(C.FROST_FILES, sizes)):
        Image.new("RGB", (w, h), (40 * (k + 1),) * 3).save(folder / name, quality=100)
    return folder


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_frost_blends_the_drawn_photo_with_the_reference_weights(tmp_path, monkeypatch, severity):
    monkeypatch.setenv("METAZOO_FROST_DIR", str(_frost_photos(tmp_path / "frost")))
    C._frost_photo.cache_clear()
    a, b = [(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)][severity - 1]
    x = _image(48, 56)  # larger than some stand-ins: they are enlarged to cover it
    for seed in range(4):
        k = int(np.random.default_rng(seed).integers(5))  # the first draw picks the photo
        got = corrupt(x, "frost", severity, np.random.default_rng(seed))
        assert np.allclose(got, np.clip(a * x + b * 40 * (k + 1) / 255, 0, 1), atol=1e-6), (seed, k)


def test_frost_without_photos_is_one_line_naming_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("METAZOO_FROST_DIR", str(tmp_path))
    with pytest.raises(C.FrostImagesMissing) as e:
        corrupt(_image(), "frost", 1, np.random.default_rng(0))
    msg = str(e.value)
    assert "\n" not in msg and "METAZOO_FROST_DIR" in msg and "frost1.png" in msg
    assert "pip download imagecorruptions==1.1.2" in msg and "ImageNet-C tree" in msg


def test_frost_photos_are_found_in_an_installed_package_without_importing_it(tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "imagecorruptions"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('imagecorruptions must not be imported')\n")
    _frost_photos(pkg / "frost")
    monkeypatch.delenv("METAZOO_FROST_DIR", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert C.frost_dir() == pkg / "frost"
    assert "imagecorruptions" not in sys.modules
