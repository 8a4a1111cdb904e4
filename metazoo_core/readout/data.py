"""Training and evaluation sets of a readout from an ImageFolder-style directory, disjoint by content.

Two layouts (the first one found wins):
- DIR/train/<class>/<file> and DIR/val/<class>/<file> (ImageNet's layout): used as given; both must have the
  same class folders;
- DIR/<class>/<file>: the first ⌈val_fraction · n⌉ files of each class (sorted by name) are held out for evaluation.
Labels follow `metazoo_core.robustness.data.class_labels` (integer folder names are labels themselves).

Content, not names, decides what is the same item (`robustness.data.content_digest` of the loaded tensor): copies
within one class are used once (one notice); the same content in two classes is refused (its label is ambiguous);
training files with the content of a held-out file are left out of training (one notice). `check_disjoint` then
guarantees that no held-out item is in the training set, here and in `readout_stages`.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from ..errors import InputError
from ..registry import ModelSpec
from ..robustness.data import LabelledSet, class_labels, load_folder


def _shown(pairs: list[tuple[str, str]]) -> str:
    """'a/x.png = a/y.png' for the first pair, and how many more."""
    more = f" and {len(pairs) - 1} more" if len(pairs) > 1 else ""
    return f"{pairs[0][0]} = {pairs[0][1]}{more}"


def _keep(data: LabelledSet, index: list[int]) -> LabelledSet:
    kept = data.subset(torch.tensor(index, dtype=torch.long))
    kept.notices = list(data.notices)
    return kept


def unique_content(data: LabelledSet, where: Path | str) -> LabelledSet:
    """`data` with each content once (the first item in order kept); InputError when one content has two labels."""
    first: dict[str, int] = {}
    keep: list[int] = []
    copies: list[tuple[str, str]] = []
    for i, digest in enumerate(data.digests()):
        j = first.setdefault(digest, i)
        if j == i:
            keep.append(i)
        elif int(data.y[i]) != int(data.y[j]):
            raise InputError(f"{where}: {data.names[j]} and {data.names[i]} have the same content but different "
                             "classes; remove the copy from the wrong class folder")
        else:
            copies.append((data.names[i], data.names[j]))
    if not copies:
        return data
    kept = _keep(data, keep)
    kept.notices.append(f"{where}: {len(copies)} file(s) repeat the content of another file of the same class, "
                        f"used once ({_shown(copies)})")
    return kept


def check_disjoint(train: LabelledSet, val: LabelledSet) -> None:
    """InputError when any held-out item's content is also in the training set (a leak: held-out accuracy would
    then measure memory, not the stage's linear code)."""
    seen = dict(zip(train.digests(), train.names))
    leaks = [(name, seen[d]) for d, name in zip(val.digests(), val.names) if d in seen]
    if leaks:
        raise InputError(f"{len(leaks)} held-out item(s) are also in the training set by content ({_shown(leaks)}); "
                         "held-out items must not be trained on")


def _without_held_out(train: LabelledSet, val: LabelledSet, root: Path) -> LabelledSet:
    """`train` less the items whose content is also held out (one notice naming the first)."""
    held = dict(zip(val.digests(), val.names))
    digests = train.digests()
    keep = [i for i, d in enumerate(digests) if d not in held]
    if len(keep) == len(train):
        return train
    pairs = [(f"train/{train.names[i]}", f"val/{held[d]}") for i, d in enumerate(digests) if d in held]
    if not keep:
        raise InputError(f"{root}: every training file has the content of a held-out file ({_shown(pairs)}); "
                         "put different files in train/ and val/")
    kept = _keep(train, keep)
    kept.notices.append(f"{root}: {len(pairs)} training file(s) have the content of a held-out file, left out of "
                        f"training ({_shown(pairs)})")
    return kept


def load_readout_data(root: Path | str, spec: ModelSpec, val_fraction: float = 0.2,
                      max_per_class: int | None = None) -> tuple[LabelledSet, LabelledSet, str]:
    """(train, val, layout) with layout "train/val" or "split"; train.notices holds every notice of both sets.
    InputError with one line for unusable folders; train and val never share content (`check_disjoint`)."""
    root = Path(root)
    if (root / "train").is_dir() and (root / "val").is_dir():
        train = unique_content(load_folder(root / "train", spec, max_per_class), root / "train")
        val = unique_content(load_folder(root / "val", spec, max_per_class), root / "val")
        if train.classes != val.classes:
            raise InputError(f"{root}: train/ and val/ have different class folders "
                             f"({len(train.classes)} vs {len(val.classes)}); give both the same classes")
        train = _without_held_out(train, val, root)
        train.notices += val.notices
        layout = "train/val"
    else:
        if not 0 < val_fraction < 1:
            raise InputError(f"--val-fraction {val_fraction}: give a fraction between 0 and 1")
        full = unique_content(load_folder(root, spec, max_per_class), root)
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
        train = _keep(full, torch.nonzero(mask).flatten().tolist())
        val = full.subset(torch.tensor(sorted(held)))
        layout = "split"
    check_disjoint(train, val)
    return train, val, layout
