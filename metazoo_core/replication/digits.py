"""The offline dataset of Experiment B: scikit-learn's handwritten digits (UCI optdigits test set), upsampled.

1797 greyscale digits of 8 × 8 pixels with 17 intensity levels (0–16), 10 classes, shipped inside scikit-learn
(no download). Each is scaled to [0, 1] and upsampled to 16 × 16 (bilinear, antialiased), so the networks have
four spatial stages and metamers have room for structure. The split is deterministic: the first `test_per_class`
digits of each class (in the file's order) are held out; the rest is the training set.
"""
from __future__ import annotations

import torch

from ..robustness.data import LabelledSet

SIDE = 16
CLASSES = [str(d) for d in range(10)]


def load_digits_split(test_per_class: int) -> tuple[LabelledSet, LabelledSet]:
    """(train, held_out): x (N, 1, 16, 16) float32 in [0, 1], y (N,) int64 digit labels, names "digit<i>_<label>"."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.from_numpy(data.images).float().div(16.0)[:, None]
    x = torch.nn.functional.interpolate(x, size=(SIDE, SIDE), mode="bilinear", align_corners=False,
                                        antialias=True).clamp(0, 1)
    y = torch.from_numpy(data.target).long()
    names = [f"digit{i:04d}_{int(c)}" for i, c in enumerate(y)]
    full = LabelledSet(x, y, names, CLASSES)
    held = torch.cat([torch.nonzero(y == c).flatten()[:test_per_class] for c in range(10)])
    mask = torch.ones(len(y), dtype=torch.bool)
    mask[held] = False
    return full.subset(torch.nonzero(mask).flatten()), full.subset(held.sort().values)


def metamer_inputs(held_out: LabelledSet, per_class: int) -> list:
    """The first `per_class` held-out digits of each class as `LoadedImage`s (what `generate_metamers` takes)."""
    from ..io.images import LoadedImage

    out = []
    for c in range(10):
        for i in torch.nonzero(held_out.y == c).flatten()[:per_class].tolist():
            out.append(LoadedImage(name=held_out.names[i], tensor=held_out.x[i], source=f"sklearn-digits:{i}"))
    return out


def null_inputs(train: LabelledSet) -> list:
    """Every training digit as a `LoadedImage`: the null pairs are drawn from the training set (facts §2.2)."""
    from ..io.images import LoadedImage

    return [LoadedImage(name=n, tensor=train.x[i], source=f"sklearn-digits-train:{i}")
            for i, n in enumerate(train.names)]
