"""The readout's training augmentations on batches of input tensors: random resized crop and horizontal flip.

Crop parameters follow torchvision's `RandomResizedCrop.get_params` (10 tries at a random area fraction in
`scale` and log-uniform aspect ratio in `ratio`, else a centre crop of the clamped ratio), drawn from an explicit
generator so a run is reproducible. The crop is taken from the loaded input (already resized and centre-cropped
to the model's input size, as `load_folder` prepares it) and resized back to that size (bilinear, antialiased).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


def crop_box(height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float],
             g: torch.Generator) -> tuple[int, int, int, int]:
    """(top, left, h, w) of one random resized crop."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * float(torch.empty(1).uniform_(scale[0], scale[1], generator=g))
        aspect = math.exp(float(torch.empty(1).uniform_(log_ratio[0], log_ratio[1], generator=g)))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,), generator=g))
            left = int(torch.randint(0, width - w + 1, (1,), generator=g))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def augment_batch(x: Tensor, scale: tuple[float, float], ratio: tuple[float, float], flip_p: float,
                  g: torch.Generator) -> Tensor:
    """x: (B, C, H, W) images → same shape, each randomly crop-resized and flipped with probability flip_p."""
    height, width = x.shape[-2:]
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        top, left, h, w = crop_box(height, width, scale, ratio, g)
        patch = x[i:i + 1, :, top:top + h, left:left + w]
        patch = torch.nn.functional.interpolate(patch, size=(height, width), mode="bilinear", align_corners=False,
                                                antialias=h > height or w > width)
        if float(torch.rand(1, generator=g)) < flip_p:
            patch = patch.flip(-1)
        out[i] = patch[0]
    return out
