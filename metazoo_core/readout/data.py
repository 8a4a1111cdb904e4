"""Training and evaluation sets of a readout from an ImageFolder-style directory.

Two layouts (the first one found wins):
- DIR/train/<class>/<file> and DIR/val/<class>/<file> (ImageNet's layout): used as given; both must have the
  same class folders;
- DIR/<class>/<file>: the first ⌈val_fraction · n⌉ files of each class (sorted by name) are held out for evaluation.
Labels follow `metazoo_core.robustness.data.class_labels` (integer folder names are labels themselves).
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from ..errors import InputError
from ..registry import ModelSpec
from ..robustness.data import LabelledSet, class_labels, load_folder


def load_readout_data(root: Path | str, spec: ModelSpec, val_fraction: float = 0.2,
                      max_per_class: int | None = None) -> tuple[LabelledSet, LabelledSet, str]:
    """(train, val, layout) with layout "train/val" or "split"; InputError with one line for unusable folders."""
    root = Path(root)
    if (root / "train").is_dir() and (root / "val").is_dir():
        train = load_folder(root / "train", spec, max_per_class)
        val = load_folder(root / "val", spec, max_per_class)
        if train.classes != val.classes:
            raise InputError(f"{root}: train/ and val/ have different class folders "
                             f"({len(train.classes)} vs {len(val.classes)}); give both the same classes")
        return train, val, "train/val"
    if not 0 < val_fraction < 1:
        raise InputError(f"--val-fraction {val_fraction}: give a fraction between 0 and 1")
    full = load_folder(root, spec, max_per_class)
    held: list[int] = []
    name_of = dict(zip(class_labels(full.classes), full.classes))
    for label in full.y.unique().tolist():
        members = torch.nonzero(full.y == label).flatten().tolist()
        if len(members) < 2:
            raise InputError(f"{root}: class '{name_of[label]}' has fewer than 2 usable files; "
                             "a held-out split needs at least 2 per class")
        held += members[:max(1, math.ceil(val_fraction * len(members)))]
    mask = torch.ones(len(full), dtype=torch.bool)
    mask[held] = False
    train = full.subset(torch.nonzero(mask).flatten())
    val = full.subset(torch.tensor(sorted(held)))
    train.notices = val.notices = list(full.notices)
    return train, val, "split"
