"""HMAX sizes without torch: S1 scales, C1 bands, S2 patch scales, and where each lives in the flat stages.

The study's HMAX (facts §7) at a 250×250 greyscale input:
- S1: 16 Gabor scales (sizes 7, 9, …, 37 px) × 4 orientations = 64 channels of 250×250; channel = 4·scale + orientation.
- C1: 8 bands; band b takes the max over S1 scales 2b and 2b+1, then max-pools with window k = 8 + 2b, stride k//2,
  padding k//2 → 63, 51, 42, 36, 32, 28, 26, 23 px. The `c1` stage is the concatenation over bands of the flattened
  (4, H_b, H_b) maps: 4·ΣH_b² = 50,572 units.
- S2: one set of 400 patches (4 orientations × p × p) per patch scale, applied to every C1 band with padding p//2,
  so a band of H_b px gives H_b + 1 px for even p (H_b for odd p). The `s2` stage is, per patch scale, per band,
  the flattened (400, H', H') map.
- C2: per patch scale the max over space and bands → (8, 400); `final` = Linear(3200 → 1000).
"""
from __future__ import annotations

S1_SIZES: tuple[int, ...] = tuple(range(7, 38, 2))
"""Gabor kernel sizes (px) of the 16 S1 scales."""
S1_WAVELENGTHS: tuple[float, ...] = tuple(round(4.0 - 0.05 * i, 2) for i in range(16))
"""The 'wavelength' parameter of each scale (4.0, 3.95, …, 3.25); the grating period is λ = 2·size/wavelength px."""
ORIENTATIONS: tuple[float, ...] = (90.0, -45.0, 0.0, 45.0)
"""S1 orientations in degrees, in channel order (0° = vertical bars: the filter varies along image columns)."""
C1_POOL_SIZES: tuple[int, ...] = tuple(range(8, 23, 2))
"""Max-pooling window (px) of the 8 C1 bands."""
N_PATCHES = 400
"""Patches per patch scale (facts §7: 8 scales × 400 patches; the readout takes 3200 C2 units)."""
DEFAULT_PATCH_SIZES: tuple[int, ...] = (4, 4, 8, 8, 12, 12, 16, 16)
"""Patch sizes (C1 px) of the generated patch set: the original HMAX sizes 4, 8, 12, 16, two scales each (docs)."""
S2_SIGMA = 1.0
"""Width of the S2 Gaussian tuning: exp(−d²/(2σ²))."""


def c1_sizes(image_size: int = 250) -> list[int]:
    """Side length (px) of each C1 band for a square input of `image_size` px."""
    return [(image_size + 2 * (k // 2) - k) // (k // 2) + 1 for k in C1_POOL_SIZES]


def c1_slices(image_size: int = 250) -> list[tuple[int, int]]:
    """(start, stop) of each band in the flat `c1` stage."""
    out, start = [], 0
    for h in c1_sizes(image_size):
        out.append((start, start + 4 * h * h))
        start += 4 * h * h
    return out


def s2_size(band_size: int, patch_size: int) -> int:
    """Side of an S2 map: a C1 band of `band_size` px convolved with padding p//2."""
    return band_size + 2 * (patch_size // 2) - patch_size + 1


def s2_slices(patch_sizes: tuple[int, ...] = DEFAULT_PATCH_SIZES, image_size: int = 250,
              n_patches: int = N_PATCHES) -> list[tuple[int, int]]:
    """(start, stop) of each patch scale in the flat `s2` stage."""
    out, start = [], 0
    for p in patch_sizes:
        n = sum(n_patches * s2_size(h, p) ** 2 for h in c1_sizes(image_size))
        out.append((start, start + n))
        start += n
    return out


def stage_shapes(patch_sizes: tuple[int, ...] = DEFAULT_PATCH_SIZES, image_size: int = 250,
                 n_patches: int = N_PATCHES, n_classes: int = 1000) -> dict[str, list[int]]:
    """Per-example shapes of the stages s1, c1, s2, c2, final."""
    return {
        "s1": [4 * len(S1_SIZES), image_size, image_size],
        "c1": [c1_slices(image_size)[-1][1]],
        "s2": [s2_slices(patch_sizes, image_size, n_patches)[-1][1]],
        "c2": [len(patch_sizes), n_patches],
        "final": [n_classes],
    }
