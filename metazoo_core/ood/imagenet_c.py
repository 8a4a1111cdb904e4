"""ImageNet-C evaluation: top-1 accuracy on corrupted images, per corruption and severity, and the study's average.

Two sources of corrupted images:
- generated: each clean input (as loaded for the model: resized and centre-cropped, like ImageNet-C's 224 × 224
  crops) is corrupted with `metazoo_core.ood.corruptions` (all 15 of the study's corruptions; frost needs the frost
  photographs, see `corruptions.frost_dir`);
- a downloaded ImageNet-C tree, DIR/<corruption>/<severity>/<wnid>/<file> (the layout of the released archives),
  labelled by WordNet id → ImageNet index (timm's bundled `imagenet_synsets.txt`, the 1000 ids in class order).
Labels for generated images: integer class folders (ImageNet indices) when given, else the model's own decision on
the clean image ("predicted": clean accuracy is then 1 by construction and the measure is how often the corruption
changes the decision).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError
from .corruptions import CORRUPTIONS, SEVERITIES, STUDY_CORRUPTIONS, FrostImagesMissing, corrupt, frost_dir

DOWNLOAD_HINT = ("ImageNet-C (Hendrycks & Dietterich 2019) is distributed by its authors (the paper's repository, "
                 "hendrycks/robustness, links the archives); unpack it so that "
                 "DIR/<corruption>/<severity>/<wnid>/<image> exists, "
                 "e.g. DIR/gaussian_noise/5/n01440764/ILSVRC2012_val_00000001.JPEG")


def imagenet_wnids() -> list[str]:
    """The 1000 ImageNet-1k WordNet ids in class-index order (shipped with timm)."""
    from importlib.resources import files

    return files("timm.data").joinpath("_info/imagenet_synsets.txt").read_text().split()


def _accuracy(logits_of: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, batch_size: int) -> float:
    with torch.no_grad():
        pred = torch.cat([logits_of(x[i:i + batch_size]).argmax(1).cpu() for i in range(0, len(x), batch_size)])
    return float((pred == y).float().mean())


def corrupt_batch(x: Tensor, name: str, severity: int, bounds: tuple[float, float], seed: int) -> Tensor:
    """x: (N, 3, H, W) in the model's range → corrupted copy in the same range; draws seeded per image."""
    lo, hi = bounds
    out = []
    for i, img in enumerate(x):
        arr = ((img.float() - lo) / (hi - lo)).permute(1, 2, 0).cpu().numpy()
        rng = np.random.default_rng([seed, i, severity, STUDY_CORRUPTIONS.index(name)])
        out.append(torch.from_numpy(corrupt(arr, name, severity, rng)).permute(2, 0, 1) * (hi - lo) + lo)
    return torch.stack(out)


OnCorruption = Callable[[str, int, int], None]
"""Progress callback: (corruption just scored, corruptions done, corruptions in all)."""


def generated_imagenet_c(logits_of: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, bounds: tuple[float, float],
                         corruptions: list[str], severities: list[int], seed: int = 0,
                         batch_size: int = 16, on_corruption: OnCorruption | None = None) -> dict[str, Any]:
    """Accuracy (fractions in [0, 1]) on clean x and on every (corruption, severity) generated from it.

    x: (N, 3, H, W) in `bounds`; y: (N,) int64 ImageNet indices. Returns {"clean", "accuracy": {corruption:
    {severity: acc}}, "by_corruption": mean over severities, "mean": mean over all cells, "n"}.
    `on_corruption(name, n_done, n_total)` is called after each corruption's severities (progress).
    """
    if x.dim() != 4 or x.shape[1] != 3:
        raise InputError("ImageNet-C corruptions need RGB images (N, 3, H, W); this model's input is not RGB")
    table: dict[str, dict[int, float]] = {}
    for name in corruptions:
        table[name] = {s: _accuracy(logits_of, corrupt_batch(x, name, s, bounds, seed), y, batch_size)
                       for s in severities}
        if on_corruption:
            on_corruption(name, len(table), len(corruptions))
    return summarise(_accuracy(logits_of, x, y, batch_size), table, len(x))


def summarise(clean: float | None, table: dict[str, dict[int, float]], n: int) -> dict[str, Any]:
    by = {c: float(np.mean(list(v.values()))) for c, v in table.items()}
    return {"clean": clean, "accuracy": {c: {str(s): a for s, a in v.items()} for c, v in table.items()},
            "by_corruption": by, "mean": float(np.mean(list(by.values()))) if by else None, "n": n,
            "missing": [c for c in STUDY_CORRUPTIONS if c not in table]}


def check_selection(corruptions: list[str] | None, severities: list[int] | None, tree: bool) -> tuple[list, list]:
    """Validated (corruptions, severities); default: every study corruption available, severities 1–5."""
    allowed = STUDY_CORRUPTIONS if tree else tuple(CORRUPTIONS)
    chosen = list(corruptions) if corruptions else [c for c in STUDY_CORRUPTIONS if c in allowed]
    for c in chosen:
        if c not in allowed:
            raise InputError(f"--corruption {c} is not an ImageNet-C corruption of the study; "
                             f"choose from {', '.join(allowed)}")
    sev = list(severities) if severities else list(SEVERITIES)
    bad = [s for s in sev if s not in SEVERITIES]
    if bad:
        raise InputError(f"--severity {bad[0]}: severities are 1–5")
    return chosen, sev


def without_missing_frost(chosen: list[str]) -> tuple[list[str], str | None]:
    """(chosen less frost, the one-line reason) when frost is chosen but its photographs cannot be found, else
    (chosen, None). Lets a run finish the other corruptions."""
    if "frost" not in chosen:
        return chosen, None
    try:
        frost_dir()
    except FrostImagesMissing as e:
        return [c for c in chosen if c != "frost"], str(e)
    return chosen, None


def is_imagenet_c_tree(root: Path) -> bool:
    """DIR/<corruption>/<severity>/ for at least one study corruption."""
    return any((root / c).is_dir() and any((root / c / str(s)).is_dir() for s in SEVERITIES)
               for c in STUDY_CORRUPTIONS)


def tree_imagenet_c(logits_of: Callable[[Tensor], Tensor], root: Path, spec, corruptions: list[str],
                    severities: list[int], max_per_class: int | None, batch_size: int = 16) -> dict[str, Any]:
    """Accuracy on a downloaded ImageNet-C tree; cells absent from the tree are reported in "absent".

    A folder that is not a WordNet id (`__MACOSX`) and a file that is not a readable image (`.DS_Store`, a note)
    are left out and reported in "skipped" (one line each); the rest of the tree is evaluated. InputError when
    nothing in the tree could be scored.
    """
    from ..inputs import load_input

    index = {w: i for i, w in enumerate(imagenet_wnids())}
    table: dict[str, dict[int, float]] = {}
    absent, skipped, n = [], [], 0
    for c in corruptions:
        for s in severities:
            folder = root / c / str(s)
            if not folder.is_dir():
                absent.append(f"{c}/{s}")
                continue
            xs, ys = [], []
            for wnid_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
                if wnid_dir.name not in index:
                    skipped.append(f"skipped {wnid_dir}: '{wnid_dir.name}' is not an ImageNet-1k WordNet id")
                    continue
                kept = 0
                for f in sorted(p for p in wnid_dir.iterdir() if p.is_file()):
                    if max_per_class is not None and kept >= max_per_class:
                        break
                    try:
                        xs.append(load_input(f, spec).tensor.float())
                    except InputError as e:
                        skipped.append(f"skipped {f}: {e}")
                        continue
                    ys.append(index[wnid_dir.name])
                    kept += 1
            if xs:
                table.setdefault(c, {})[s] = _accuracy(logits_of, torch.stack(xs), torch.tensor(ys), batch_size)
                n = max(n, len(xs))
    if not table:
        raise InputError(f"{root}: no readable images in the chosen cells of the ImageNet-C tree "
                         f"({len(skipped)} files or folders skipped); expected {DOWNLOAD_HINT.split('; ')[-1]}")
    out = summarise(None, table, n)
    out["absent"] = absent
    out["skipped"] = skipped
    return out


def imagenet_c_from_sources(model, sources: list[str], corruptions: list[str], severities: list[int], *,
                            seed: int = 0, batch_size: int = 16, max_per_class: int | None = None,
                            device: str = "cpu", on_corruption: OnCorruption | None = None
                            ) -> tuple[dict[str, Any], list[str]]:
    """(result, notices) of generated ImageNet-C for a loaded StagedModel on clean `sources` (builtin, files, a
    flat folder, or one folder of ImageNet-index class folders). See `generated_imagenet_c` for the result."""
    from ..inputs import load_many
    from ..robustness.data import has_class_folders, load_folder

    def logits_of(v: Tensor) -> Tensor:
        return model.logits(v.to(device)).float().cpu()

    if len(sources) == 1 and has_class_folders(sources[0]):
        folder = load_folder(sources[0], model.spec, max_per_class)
        if not all(c.isdigit() for c in folder.classes):
            raise InputError(f"{sources[0]}: class folders must be ImageNet indices (e.g. 281) to score "
                             "ImageNet decisions")
        x, y, rule, notices = folder.x, folder.y, "folder", list(folder.notices)
    else:
        items, notices = load_many(sources, model.spec)
        if not items:
            raise InputError(f"no usable images in {' '.join(sources)}")
        x = torch.stack([it.tensor.float() for it in items])
        with torch.no_grad():
            y = torch.cat([logits_of(x[i:i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])
        rule = "predicted"
    result = generated_imagenet_c(logits_of, x, y, model.input_range, corruptions, severities, seed, batch_size,
                                  on_corruption)
    result.update(source="generated", labels=rule, seed=seed)
    return result, notices
