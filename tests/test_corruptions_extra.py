"""The four ImageNet-C corruptions added last (glass blur, motion blur, snow, frost) against reference outputs of
the real `imagecorruptions` 1.1.2 package (bethgelab/imagecorruptions), recorded on fixed inputs and draws into
tests/fixtures/imagecorruptions_1.1.2.npz by scripts/record_imagecorruptions_reference.py (versions and command in
tests/fixtures/README.md); the rest is checked through properties that fail if a constant or a step were wrong."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from metazoo_core.ood import corruptions as C
from metazoo_core.ood.corruptions import corrupt

REFERENCE = Path(__file__).parent / "fixtures" / "imagecorruptions_1.1.2.npz"
GLASS = {1: (0.7, 1, 2), 2: (0.9, 2, 1), 3: (1, 2, 3), 4: (1.1, 3, 2), 5: (1.5, 4, 2)}  # σ, δ, iterations
EPS32, EPS64 = float(np.finfo(np.float32).eps), float(np.finfo(np.float64).eps)


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as f:
        return {k: f[k] for k in f.files}


def _image(h: int = 40, w: int = 44) -> np.ndarray:
    from metazoo_core.io.images import builtin_array

    return builtin_array("chelsea")[100:100 + h, 120:120 + w].astype(np.float64) / 255


def test_the_reference_swap_copies_rather_than_swaps():
    """Why metazoo reproduces a copy: the tuple assignment on numpy (C,)-views duplicates x[h', w']."""
    x = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    x[0, 0], x[1, 1] = x[1, 1], x[0, 0]
    assert x[0, 0].tolist() == x[1, 1].tolist() == [9, 10, 11]


@pytest.mark.parametrize("delta", [1, 2, 3, 4])
def test_glass_shuffle_only_moves_pixels_of_the_input(delta):
    rng = np.random.default_rng(delta)
    img = rng.integers(0, 256, size=(31, 37, 3)).astype(np.uint8)
    d = rng.integers(-delta, delta, size=(31 - 2 * delta, 37 - 2 * delta, 2))
    got = C._glass_shuffle(img, d[..., 0], d[..., 1], delta)
    # every pixel comes from the input image: shuffling never invents a colour, and the border band stays
    assert {tuple(p) for p in got.reshape(-1, 3)} <= {tuple(p) for p in img.reshape(-1, 3)}
    assert not np.array_equal(got, img)
    assert np.array_equal(got[:delta + 1], img[:delta + 1]) and np.array_equal(got[:, :delta + 1], img[:, :delta + 1])


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_glass_blur_equals_the_package(reference, severity):
    """metazoo's glass blur on the recorded draws equals the package's `glass_blur` output (0–255 there).

    Error model: the 8-bit shuffled image is integer-exact on both sides, so the outputs differ only by (a) metazoo's
    final cast to float32, at most ½ ulp = EPS32/2 for values in [0, 1], and (b) float64 rounding inside the two
    separable Gaussian passes (≤ 2·⌈4σ⌉ + 1 = 13 taps per axis, weights summing to 1) and the reference's ×255 ÷ 255,
    bounded by 64·EPS64. A wrong σ, δ, draw order or swap rule changes pixels by ≥ 1/255 · (a tap weight) ≫ that.
    """
    x = reference["glass_input"].astype(np.float64) / 255
    _, delta, iterations = GLASS[severity]
    rng = np.random.default_rng(7)
    draws = reference[f"glass_draws_s{severity}"]
    assert draws.shape == (iterations, x.shape[0] - 2 * delta, x.shape[1] - 2 * delta, 2)
    for k in range(iterations):  # the recording used metazoo's draw order; the Generator's stream is unchanged
        assert np.array_equal(rng.integers(-delta, delta, size=draws.shape[1:]), draws[k])
    expected = reference[f"glass_output_s{severity}"] / 255
    got = corrupt(x, "glass_blur", severity, np.random.default_rng(7))
    np.testing.assert_allclose(got, expected, rtol=0, atol=EPS32 / 2 + 64 * EPS64)


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_motion_blur_equals_the_package_and_a_dense_kernel(reference, k):
    """Error model: both sides sum the same n ≤ 2·radius + 1 taps (non-negative weights summing to 1) of values in
    [0, 1] in float64; each product and addition rounds by ≤ EPS64/2 of a partial sum ≤ 1, so two summation orders
    differ by at most 2·n·EPS64. A wrong tap offset, weight or edge rule changes pixels by ≥ the smallest weight
    times a neighbour difference, far above that."""
    x = reference["motion_input"]
    radius, sigma, angle = reference["motion_params"][k]
    radius = int(radius)
    taps = C.motion_kernel(radius, sigma, angle, x.shape[:2])
    bound = 2 * len(taps) * EPS64
    got = C._motion_blur(x, radius, sigma, angle)
    np.testing.assert_allclose(got, reference[f"motion_output_{k}"], rtol=0, atol=bound)
    # independent: one dense correlation kernel with the taps at (−dy, −dx), edges replicated ('nearest')
    m = max(max(abs(dy), abs(dx)) for dy, dx, _ in taps)
    kernel = np.zeros((2 * m + 1, 2 * m + 1))
    for dy, dx, wgt in taps:
        kernel[m - dy, m - dx] += wgt
    dense = np.stack([ndimage.correlate(x[..., c], kernel, mode="nearest") for c in range(x.shape[2])], axis=2)
    np.testing.assert_allclose(got, dense, rtol=0, atol=bound)


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
