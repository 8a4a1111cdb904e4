"""Labelled image and audio folders for training and robustness evaluation.

Layout: ROOT/<class>/<file> (images: anything `load_image` reads; sounds: anything `load_sound` reads). Classes
are the subfolder names in sorted order; label = position in that order, except when every class name is an
integer (e.g. ImageNet indices "281"), then label = that integer, so folders can address a pretrained model's
own outputs. Files are loaded once into memory with the model's loader (crop/resize/RMS as the study), which
suits the small CPU-sized sets this is meant for. Unusable files are skipped with a notice; a folder with nothing
usable is an `InputError`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..errors import InputError, MetazooError
from ..registry import ModelSpec

if TYPE_CHECKING:
    from torch import Tensor


@dataclass
class LabelledSet:
    """x: (N, *input shape) in the model's range; y: (N,) int64 labels; names: item names; classes: folder names."""

    x: Tensor
    y: Tensor
    names: list[str]
    classes: list[str]
    notices: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return self.x.shape[0]

    def subset(self, index: Tensor) -> "LabelledSet":
        return LabelledSet(self.x[index], self.y[index], [self.names[i] for i in index.tolist()], self.classes)

    def digests(self) -> list[str]:
        """`content_digest` of every item, in order: what identifies an item whatever its file name."""
        return [content_digest(item) for item in self.x]


def content_digest(x: Tensor) -> str:
    """SHA-256 (hex) of one loaded item as little-endian float32 in C order: the content the model sees, so two
    files with the same pixels or samples (copies, renamed or re-encoded losslessly) have the same digest."""
    import hashlib

    return hashlib.sha256(x.detach().float().contiguous().cpu().numpy().astype("<f4").tobytes()).hexdigest()


def _listdir(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if not p.name.startswith("."))
    except PermissionError:
        raise InputError(f"{path}: folder is not readable (permission denied); fix its permissions") from None
    except OSError as e:
        raise InputError(f"{path}: cannot list folder ({e.strerror})") from None


def class_folders(root: Path | str) -> list[tuple[str, list[Path]]]:
    """[(class name, sorted files)] of ROOT/<class>/<file>; InputError when ROOT is missing, unreadable or empty."""
    root = Path(root)
    if not root.exists():
        raise InputError(f"{root}: no such folder; give a folder with one subfolder of files per class")
    if not root.is_dir():
        raise InputError(f"{root}: not a folder; give a folder with one subfolder of files per class")
    classes = []
    for sub in _listdir(root):
        if sub.is_dir():
            files = [p for p in _listdir(sub) if p.is_file()]
            if files:
                classes.append((sub.name, files))
    if not classes:
        loose = [p for p in _listdir(root) if p.is_file()]
        hint = (f" (it holds {len(loose)} loose files: put them in one subfolder per class)" if loose
                else " (it is empty)")
        raise InputError(f"{root}: no class subfolders with files{hint}; expected {root}/<class>/<file>")
    return classes


def has_class_folders(path: Path | str) -> bool:
    """Is `path` a folder holding at least one subfolder (the class layout)? InputError if unreadable."""
    path = Path(path)
    return path.is_dir() and any(p.is_dir() for p in _listdir(path))


def class_labels(names: list[str]) -> list[int]:
    """Integer folder names are labels themselves; otherwise the sorted position."""
    if all(n.isdigit() for n in names):
        return [int(n) for n in names]
    return list(range(len(names)))


def load_folder(root: Path | str, spec: ModelSpec, max_per_class: int | None = None,
                on_item: Callable[[int, int], None] | None = None) -> LabelledSet:
    """Load ROOT/<class>/<file> for `spec`'s input (image or audio by the spec's modality)."""
    import torch

    from ..inputs import load_input

    folders = class_folders(root)
    labels = class_labels([c for c, _ in folders])
    todo = [(label, f) for (c, files), label in zip(folders, labels) for f in files[:max_per_class]]
    xs, ys, names, notices = [], [], [], []
    for i, (label, path) in enumerate(todo):
        try:
            item = load_input(path, spec)
        except MetazooError as e:
            notices.append(f"skipped: {e}")
            continue
        xs.append(item.tensor.float())
        ys.append(label)
        names.append(f"{path.parent.name}/{path.name}")
        if on_item is not None:
            on_item(i + 1, len(todo))
    if not xs:
        raise InputError(f"{root}: none of its {len(todo)} files could be read as {spec.modality} input "
                         f"({notices[0] if notices else 'no files'})")
    n_out = spec.stage("final").n_features if "final" in spec.stage_names else None
    if n_out is not None and max(ys) >= n_out:
        raise InputError(f"{root}: class label {max(ys)} exceeds the {n_out} outputs of '{spec.id}'; "
                         "name class folders 0…N-1 or by words, not by larger numbers")
    return LabelledSet(torch.stack(xs), torch.tensor(ys, dtype=torch.long), names, [c for c, _ in folders], notices)
