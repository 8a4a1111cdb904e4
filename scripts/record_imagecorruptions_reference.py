"""Record reference outputs of the real `imagecorruptions` 1.1.2 package into tests/fixtures/imagecorruptions_1.1.2.npz.

Run in a scratch virtual environment that has the package and a scikit-image old enough for its
`gaussian(..., multichannel=True)` calls (see tests/fixtures/README.md for the exact versions used):

    python3 -m venv /tmp/ic && /tmp/ic/bin/pip install imagecorruptions==1.1.2 scikit-image==0.19.3 'numpy<1.25' \
        'scipy<1.12' 'opencv-python<4.9'
    /tmp/ic/bin/python scripts/record_imagecorruptions_reference.py tests/fixtures/imagecorruptions_1.1.2.npz

This script imports the installed package and calls it; it contains none of the package's code. Recorded (all
arrays float64 unless noted, images (H, W, C) in the package's 0–255 range):

- `glass_input` (uint8, 28×32×3): a crop of scikit-image's bundled `chelsea` photograph;
- `glass_draws_s{1..5}` (int8, iterations × (H − 2δ) × (W − 2δ) × 2): the offsets (dx, dy) that
  `np.random.default_rng(7).integers(-δ, δ, size=...)` gives, one call per iteration — metazoo's draw order.
  The package draws with `np.random.randint(-δ, δ, size=(2,))` inside its loop; during the recording that call
  is answered from these arrays in loop order, so both sides shuffle with the same offsets;
- `glass_output_s{1..5}`: `glass_blur(glass_input, severity)` (0–255);
- `motion_input` (40×44×1, in [0, 1]): one channel of another crop of `chelsea`, divided by 255;
- `motion_params` (4 × 3: radius, sigma, angle in degrees) and `motion_output_{k}`: `_motion_blur(motion_input,
  radius, sigma, angle)` for each row k.
"""
from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
from imagecorruptions import corruptions
from skimage.data import chelsea

GLASS = {1: (1, 2), 2: (2, 1), 3: (2, 3), 4: (3, 2), 5: (4, 2)}  # severity → (δ, iterations) of glass_blur
MOTION = [(10, 3, 0.0), (15, 5, 30.0), (20, 15, -44.0), (12, 8, -100.0)]  # radius, sigma, angle (degrees)


def glass(image: np.ndarray, severity: int) -> tuple[np.ndarray, np.ndarray]:
    """(draws, output) of the package's `glass_blur` with `np.random.randint` answered from metazoo-order draws."""
    delta, iterations = GLASS[severity]
    h, w = image.shape[:2]
    rng = np.random.default_rng(7)
    draws = np.stack([rng.integers(-delta, delta, size=(h - 2 * delta, w - 2 * delta, 2))
                      for _ in range(iterations)]).astype(np.int8)
    queue = iter(draws.reshape(-1, 2))

    def randint(low, high, size):
        assert (low, high, tuple(size)) == (-delta, delta, (2,)), (low, high, size)
        return next(queue).astype(np.int64)

    real = np.random.randint
    np.random.randint = randint
    try:
        out = corruptions.glass_blur(image.copy(), severity)
    finally:
        np.random.randint = real
    assert next(queue, None) is None, "the package drew fewer offsets than recorded"
    return draws, np.asarray(out, np.float64)


def main(out: Path) -> None:
    photo = chelsea()
    arrays: dict[str, np.ndarray] = {"glass_input": photo[100:128, 120:152].copy()}
    for s in GLASS:
        arrays[f"glass_draws_s{s}"], arrays[f"glass_output_s{s}"] = glass(arrays["glass_input"], s)
    arrays["motion_input"] = photo[60:100, 160:204, 1:2].astype(np.float64) / 255
    arrays["motion_params"] = np.array(MOTION, np.float64)
    for k, (radius, sigma, angle) in enumerate(MOTION):
        arrays[f"motion_output_{k}"] = corruptions._motion_blur(arrays["motion_input"], radius, sigma, angle)
    arrays["versions"] = np.array([f"{p}=={version(p)}" for p in
                                   ("imagecorruptions", "scikit-image", "numpy", "scipy")])
    np.savez_compressed(out, **arrays)
    print(f"{out}: {out.stat().st_size} bytes; {', '.join(arrays['versions'])}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
