"""Image loading as the study did it, built-in photos, and lossless PNG output.

Loading (facts §1.2): centre square crop (side = min(w, h)) → resize to the model's size (bicubic) → values scaled
into the model's range ([0, 1] for most models, [0, 255] greyscale for HMAX). Colour conversions and upsampling
are allowed and reported as notices; unreadable files, tiny images and non-finite tensors are `InputError`s.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..registry import InputSpec

MIN_SIDE = 32
"""Images smaller than this (pixels, either side) are refused: upsampling them would invent the content."""
DEFAULT_MAX_PIXELS = 50_000_000
"""Images with more pixels than this (width × height, read from the header before any pixel is decoded) are
refused: a decompression-bomb guard. The models see 224–260 px, so a 50 MP photo is already far more than they
use; decoding 144 MP took 1.9 GB of memory in the reliability probe. Raise it with `--max-pixels` or
METAZOO_MAX_PIXELS."""
MAX_PIXELS_ENV = "METAZOO_MAX_PIXELS"

BUILTIN_IMAGES = {
    # name: (loader in skimage.data, 16-way category or None)
    "chelsea": ("chelsea", "cat"),
    "coffee": ("coffee", None),
    "rocket": ("rocket", None),
    "astronaut": ("astronaut", None),
    "horse": ("horse", None),
    "camera": ("camera", None),
    "coins": ("coins", None),
    "clock": ("clock", "clock"),
    "motorcycle": ("stereo_motorcycle", None),
    "hubble": ("hubble_deep_field", None),
    "retina": ("retina", None),
    "immunohistochemistry": ("immunohistochemistry", None),
    "brick": ("brick", None),
    "grass": ("grass", None),
    "gravel": ("gravel", None),
}
DEFAULT_BUILTIN = ["chelsea", "coffee", "rocket", "astronaut", "camera", "motorcycle", "clock", "coins"]
"""The default natural photos (`builtin`): real photographs, not silhouettes or textures."""


@dataclass
class LoadedImage:
    name: str
    tensor: Any  # torch.Tensor (C, H, W) in the model's range
    notices: list[str] = field(default_factory=list)
    source: str = ""


def builtin_array(name: str) -> np.ndarray:
    """A bundled photo from scikit-image as uint8 (H, W[, 3]); offline."""
    import skimage.data

    if name not in BUILTIN_IMAGES:
        raise InputError(f"unknown built-in image '{name}'; choose from {', '.join(BUILTIN_IMAGES)}")
    arr = getattr(skimage.data, BUILTIN_IMAGES[name][0])()
    if isinstance(arr, tuple):  # stereo pairs: the left view
        arr = arr[0]
    if arr.dtype == bool:  # the horse silhouette
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        arr = (255 * (arr - arr.min()) / max(float(arr.max() - arr.min()), 1e-12)).astype(np.uint8)
    return arr


def max_pixels() -> int:
    """The pixel limit in force: METAZOO_MAX_PIXELS (set by `metazoo --max-pixels`) or `DEFAULT_MAX_PIXELS`."""
    text = os.environ.get(MAX_PIXELS_ENV, "")
    try:
        value = int(text) if text else DEFAULT_MAX_PIXELS
    except ValueError:
        raise InputError(f"{MAX_PIXELS_ENV}={text!r} is not a whole number of pixels; "
                         f"unset it or give e.g. {DEFAULT_MAX_PIXELS}") from None
    if value < MIN_SIDE * MIN_SIDE:
        raise InputError(f"the pixel limit {value} is below {MIN_SIDE}×{MIN_SIDE}; give a larger --max-pixels")
    return value


SOUND_MAGIC = (b"RIFF", b"fLaC", b"OggS", b"FORM", b"ID3")
"""File signatures of WAV, FLAC, Ogg, AIFF and MP3 (ID3-tagged) files."""


def _is_sound(path: Path) -> bool:
    """Whether `path` starts like a sound file (its first bytes, not its name)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head.startswith(SOUND_MAGIC) and (not head.startswith(b"RIFF") or head[8:12] == b"WAVE")


def _check_pixels(path: Path, size: tuple[int, int], limit: int) -> None:
    w, h = size
    if w * h > limit:
        raise InputError(f"{path}: {w}×{h} px ({w * h / 1e6:.0f} MP) is over the {limit / 1e6:g} MP limit (a "
                         f"decompression-bomb guard); downscale the image or raise the limit with --max-pixels")


def _open(source: str | Path):
    from PIL import Image, UnidentifiedImageError

    text = str(source)
    if text.startswith("builtin:"):
        return Image.fromarray(builtin_array(text.split(":", 1)[1])), text.split(":", 1)[1]
    path = Path(text)
    if path.is_dir():
        raise InputError(f"{path}: is a folder with no usable images; give image files (PNG/JPEG/TIFF)")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    limit, pil_limit = max_pixels(), Image.MAX_IMAGE_PIXELS
    try:
        # PIL's own bomb checks (a multi-line warning, or an error at twice its limit) are replaced by ours for
        # this file: it reads the size from the header and refuses before any pixel is decoded
        Image.MAX_IMAGE_PIXELS = None
        img = Image.open(path)
        _check_pixels(path, img.size, limit)
        img.load()
    except UnidentifiedImageError:
        if _is_sound(path):
            raise InputError(f"{path}: a sound file, and this model is a vision model; give images (PNG/JPEG/TIFF), "
                             "or use an audio model (metazoo list --modality audio)") from None
        raise InputError(f"{path}: not an image (PIL cannot identify it); give a PNG/JPEG/TIFF file") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{path}: corrupt or truncated image ({e}); re-export the file") from None
    finally:
        Image.MAX_IMAGE_PIXELS = pil_limit
    return img, path.stem


def _tensor_file(path: Path, spec: InputSpec) -> LoadedImage:
    import torch

    if path.suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise InputError(f"{path}: unreadable .npy ({e})") from None
        t = torch.from_numpy(np.asarray(arr, dtype=np.float32))
    else:
        from safetensors.torch import load_file

        try:
            tensors = load_file(str(path))
        except Exception as e:
            raise InputError(f"{path}: unreadable safetensors file ({e})") from None
        t = tensors.get("metamer", next(iter(tensors.values()))).float()
    if t.dim() == len(spec.shape) + 1 and t.shape[0] == 1:
        t = t[0]
    if list(t.shape) != list(spec.shape):
        raise InputError(f"{path}: tensor shape {list(t.shape)} does not match the model input {spec.shape}")
    if not torch.isfinite(t).all():
        raise InputError(f"{path}: tensor contains NaN or infinite values")
    lo, hi = spec.range
    if t.min() < lo or t.max() > hi:
        raise InputError(f"{path}: values outside the model's range [{lo}, {hi}]")
    return LoadedImage(name=path.stem, tensor=t, source=str(path))


def load_image(source: str | Path, spec: InputSpec) -> LoadedImage:
    """Load one image (file, `builtin:NAME`, or a .npy/.safetensors tensor) for a model with input `spec`."""
    import torch
    from PIL import Image

    if str(source).endswith((".npy", ".safetensors")):
        return _tensor_file(Path(source), spec)
    img, name = _open(source)
    notices: list[str] = []
    frames = getattr(img, "n_frames", 1)
    if frames > 1:
        notices.append(f"{name}: animated image; its first of {frames} frames is used")
    want = "L" if spec.colour == "grey" else "RGB"
    if img.mode != want:
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            notices.append(f"{name}: {img.mode} image composited on white and converted to {want}")
            rgba = img.convert("RGBA")
            bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(bg, rgba)
        elif want == "RGB" and img.mode in ("L", "I", "I;16", "F", "1"):
            notices.append(f"{name}: greyscale image replicated to 3 channels (RGB)")
        elif want == "L":
            notices.append(f"{name}: colour image converted to greyscale")
        else:
            notices.append(f"{name}: {img.mode} image converted to {want}")
        if img.mode in ("I", "I;16", "F"):
            arr = np.asarray(img, dtype=np.float64)
            arr = 255 * (arr - arr.min()) / max(float(arr.max() - arr.min()), 1e-12)
            img = Image.fromarray(arr.astype(np.uint8))
        img = img.convert(want)
    w, h = img.size
    if min(w, h) < MIN_SIDE:
        raise InputError(f"{name}: image is {w}×{h} px, too small (at least {MIN_SIDE} px each side)")
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    out_h, out_w = spec.shape[-2], spec.shape[-1]
    if side < min(out_h, out_w):
        notices.append(f"{name}: {side} px crop upsampled to {out_w}×{out_h}")
    img = img.resize((out_w, out_h), Image.BICUBIC)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    t = torch.from_numpy(arr.copy())
    t = t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1)
    lo, hi = spec.range
    return LoadedImage(name=name, tensor=t * (hi - lo) + lo, notices=notices, source=str(source))


def to_uint8(x, spec: InputSpec) -> np.ndarray:
    """(C, H, W) tensor in the model's range → (H, W[, 3]) uint8, truncating as the study's PNGs (facts §1.1)."""
    lo, hi = spec.range
    arr = ((x.detach().cpu().float() - lo) / (hi - lo)).clamp(0, 1).numpy()
    arr = (arr * 255).astype(np.uint8)
    return arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)


def save_png(x, path: Path | str, spec: InputSpec) -> None:
    """Lossless PNG of an image tensor, written atomically."""
    from PIL import Image

    from ..fileio import atomic_path

    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(to_uint8(x, spec)).save(tmp, format="PNG")
