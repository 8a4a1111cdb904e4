"""The S2 patch set: the original universal patch set (.mat) when the user has it, else one built from photos.

Sources, in order:
1. `spec.build["patch_set"]` or the environment variable METAZOO_HMAX_PATCH_SET: a path to the original
   `universal_patch_set.mat` (wmvanvliet/pytorch_hmax, = the Georgetown maxlab HMAX set the study used), read with
   scipy.io.loadmat exactly as the study's code does.
2. Otherwise a patch set built deterministically (seed) with the original HMAX procedure (Serre et al. 2007):
   C1 responses of natural photos (scikit-image's bundled photos, offline), and for each patch scale 400 patches
   (all 4 orientations × p × p) cut at a random photo, C1 band and position. It is cached under the metazoo
   cache folder (METAZOO_CACHE) so it is built once per machine and code version: the cache key holds a hash of
   the source of every module that computes it (`generator_digest`), so a set cut by older code is never reused.
A study checkpoint also carries the patch set; loading one replaces the patches (see model.convert_checkpoint).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from metazoo_core.errors import MetazooError
from metazoo_core.registry import ModelSpec

from . import layout

PATCH_SET_ENV = "METAZOO_HMAX_PATCH_SET"
SOURCE_PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "rocket", "motorcycle", "grass", "gravel")
"""Bundled scikit-image photos the generated patches are cut from (natural scenes and textures)."""
GENERATOR_VERSION = 2
"""Bumped when the procedure changes (2: S1 fixed on dark regions, which moved every C1 map the patches are cut
from)."""


def load_mat(path: Path | str) -> list[torch.Tensor]:
    """Patches of each scale, (400, 4, p, p) float32, from the original `universal_patch_set.mat`.

    The file holds `patches` (1 × n_scales cell of (p·p·4, 400) arrays, MATLAB column order) and `patchSizes`
    (4 × n_scales: p, p, 4, 400).
    """
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    path = Path(path).expanduser()
    if not path.is_file():
        raise MetazooError(f"HMAX patch set {path} does not exist; point {PATCH_SET_ENV} to universal_patch_set.mat "
                           "or unset it to use the generated patch set")
    try:
        m = loadmat(str(path))
        out = []
        for patch, shape in zip(m["patches"][0], m["patchSizes"].T):
            shape = np.asarray(shape, dtype=int)
            out.append(torch.tensor(patch.reshape(shape[[2, 1, 0, 3]]).transpose(3, 0, 2, 1), dtype=torch.float32))
    except (KeyError, ValueError, IndexError, OSError, MatReadError) as e:
        raise MetazooError(f"{path} is not an HMAX patch set (.mat with 'patches' and 'patchSizes'): {e}") from None
    return out


def generate(seed: int = 0, patch_sizes: tuple[int, ...] = layout.DEFAULT_PATCH_SIZES,
             n_patches: int = layout.N_PATCHES, photos: tuple[str, ...] = SOURCE_PHOTOS,
             image_size: int = 250) -> list[torch.Tensor]:
    """Patches cut from the C1 responses of bundled photos: per scale (n_patches, 4, p, p), deterministic in `seed`."""
    from metazoo_core.io.images import load_image
    from metazoo_core.registry import InputSpec

    from .model import C1, S1, split_c1

    spec = InputSpec(shape=[1, image_size, image_size], range=(0, 255), colour="grey")
    imgs = torch.stack([load_image(f"builtin:{name}", spec).tensor for name in photos])
    with torch.no_grad():
        c1 = C1()(S1()(imgs))
    bands = split_c1(c1, image_size)
    rng = np.random.default_rng([seed, GENERATOR_VERSION])
    out = []
    for p in patch_sizes:
        cut = []
        for _ in range(n_patches):
            img = int(rng.integers(len(photos)))
            band = bands[int(rng.integers(len(bands)))]
            h = band.shape[-1]
            if h < p:
                raise MetazooError(f"HMAX patch size {p} is larger than a C1 band ({h} px); use sizes ≤ {h}")
            r, c = (int(v) for v in rng.integers(0, h - p + 1, size=2))
            cut.append(band[img, :, r:r + p, c:c + p])
        out.append(torch.stack(cut).contiguous())
    return out


def generator_digest() -> str:
    """sha256 (16 hex) of the source of the modules that compute a generated patch set, and GENERATOR_VERSION."""
    from metazoo_core.io import images

    from . import model

    h = hashlib.sha256(str(GENERATOR_VERSION).encode())
    for module in (images, layout, model, sys.modules[__name__]):
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()[:16]


def _cache_file(key: dict) -> Path:
    from metazoo_core.weights import cache_dir

    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / "hmax" / f"patches-{digest}.safetensors"


def generated(seed: int = 0, patch_sizes: tuple[int, ...] = layout.DEFAULT_PATCH_SIZES,
              image_size: int = 250) -> list[torch.Tensor]:
    """The generated patch set, from the cache when built before (else built and cached atomically)."""
    from safetensors.torch import load_file

    from metazoo_core.fileio import save_tensors

    key = {"seed": seed, "sizes": list(patch_sizes), "n": layout.N_PATCHES, "photos": list(SOURCE_PHOTOS),
           "image_size": image_size, "version": GENERATOR_VERSION, "code": generator_digest()}
    path = _cache_file(key)
    if path.is_file():
        try:
            stored = load_file(str(path))
            return [stored[f"scale{k}"] for k in range(len(patch_sizes))]
        except Exception:  # a damaged cache entry is rebuilt
            path.unlink(missing_ok=True)
    patches = generate(seed, tuple(patch_sizes), image_size=image_size)
    try:
        save_tensors(path, {f"scale{k}": p for k, p in enumerate(patches)},
                     metadata={"key": json.dumps(key, sort_keys=True)})
    except OSError:  # a read-only cache only costs the rebuild next time
        pass
    return patches


def for_spec(spec: ModelSpec, meta: bool = False) -> tuple[list[torch.Tensor], str]:
    """The patch set for `spec` and a one-line description of where it came from.

    meta: only shapes are needed (meta-device build) — empty tensors of the generated set's shapes unless a .mat
    is configured.
    """
    image_size = spec.input.shape[-1]
    source = spec.build.get("patch_set") or os.environ.get(PATCH_SET_ENV)
    if source:
        return load_mat(source), f"universal patch set {source}"
    sizes = tuple(spec.build.get("patch_sizes", layout.DEFAULT_PATCH_SIZES))
    seed = int(spec.build.get("patch_seed", 0))
    if meta:
        return [torch.empty(layout.N_PATCHES, 4, p, p) for p in sizes], "shapes only (meta device)"
    return generated(seed, sizes, image_size), f"generated from bundled photos (seed {seed}, sizes {list(sizes)})"
