"""The model-vs-human benchmark (Geirhos et al. 2021): 16-way accuracy and error consistency with human observers.

Layout (that of the released repository, bethgelab/model-vs-human):
    DIR/datasets/<set>/dnn/session-1/<image>          stimuli shown to models
    DIR/raw-data/<set>/<set>_subject-<NN>_session_<k>.csv   one file per human observer and session, columns
        subj, Session, trial, rt, object_response, category, condition, imagename
Image names are "<number>_<experiment>_<observer>_<condition>_<category>_<number>_<image id>" where <observer> is
"dnn" for the model stimuli and "s01", "s02" … in the human files (the data sets' naming convention), so a human
trial and a model stimulus are the same image when the name agrees after the observer field (`image_key`).
A model's decision is metazoo's 16-way rule (`metazoo_core.labels.category16_index`). A human response "na" (no
answer in time) counts as an error. Error consistency (`consistency.error_consistency`) is computed between the
model and each observer over the trials that observer saw, then averaged over observers (Geirhos et al. 2021
average per data set; the study averaged it again over data sets).
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import InputError
from .consistency import error_consistency

DOWNLOAD_HINT = ("the model-vs-human stimuli and human responses are released by Geirhos et al. 2021 "
                 "(github.com/bethgelab/model-vs-human: raw-data/ in the repository, datasets/ from its releases); "
                 "give --data DIR with DIR/datasets/<set>/dnn/session-1/<image> and "
                 "DIR/raw-data/<set>/<set>_subject-<NN>_session_<k>.csv")
COLUMNS = ("subj", "object_response", "category", "imagename")


def image_key(name: str) -> str:
    """Name after the observer field, without extension: 'condition_category_number_imageid'."""
    stem = Path(name).stem
    parts = stem.split("_")
    if len(parts) < 5:
        raise InputError(f"image name '{name}' does not follow the model-vs-human naming "
                         "(<n>_<exp>_<observer>_<condition>_<category>_…)")
    return "_".join(parts[3:])


def data_sets(root: Path) -> list[str]:
    """Sets with both stimuli and human responses under ROOT; InputError (with where to get them) when none."""
    stimuli, raw = root / "datasets", root / "raw-data"
    if not stimuli.is_dir() or not raw.is_dir():
        raise InputError(f"{root}: no datasets/ and raw-data/ folders; {DOWNLOAD_HINT}")
    sets = sorted(p.name for p in raw.iterdir() if p.is_dir() and (stimuli / p.name / "dnn").is_dir())
    if not sets:
        raise InputError(f"{root}: no data set has both raw-data/<set>/ and datasets/<set>/dnn/; {DOWNLOAD_HINT}")
    return sets


def stimuli(root: Path, name: str) -> list[Path]:
    files = sorted(p for p in (root / "datasets" / name / "dnn").glob("session-*/*") if p.is_file())
    if not files:
        raise InputError(f"{root}/datasets/{name}/dnn/session-*/ holds no images; {DOWNLOAD_HINT}")
    return files


def human_trials(root: Path, name: str) -> dict[str, list[dict[str, str]]]:
    """{observer: [rows]} from raw-data/<set>/<set>_subject-*_session_*.csv."""
    out: dict[str, list[dict[str, str]]] = {}
    for path in sorted((root / "raw-data" / name).glob(f"{name}_subject-*_session_*.csv")):
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(f"{path}: missing columns {missing}; expected {', '.join(COLUMNS)}")
            for row in reader:
                out.setdefault(row["subj"], []).append(row)
    if not out:
        raise InputError(f"{root}/raw-data/{name}/ has no {name}_subject-*_session_*.csv files; {DOWNLOAD_HINT}")
    return out


def score_set(decisions: dict[str, str], truth: dict[str, str], humans: dict[str, list[dict[str, str]]]) -> dict:
    """Scores of one data set from the model's decisions {image key: category} and truth {image key: category}.

    Returns {"accuracy", "human_accuracy", "error_consistency" (mean κ over observers), "per_observer", "n"}.
    """
    model_acc = float(np.mean([decisions[k] == truth[k] for k in decisions]))
    per: dict[str, dict[str, float]] = {}
    for subj, rows in humans.items():
        keys = [image_key(r["imagename"]) for r in rows]
        unknown = [k for k in keys if k not in decisions]
        if unknown:
            raise InputError(f"observer {subj} saw image '{unknown[0]}' that is not among the model stimuli; "
                             "are datasets/ and raw-data/ from the same release?")
        human_ok = [r["object_response"] == r["category"] for r in rows]
        model_ok = [decisions[k] == truth[k] for k in keys]
        per[subj] = error_consistency(model_ok, human_ok)
    return {"accuracy": model_acc, "human_accuracy": float(np.mean([p["accuracy_b"] for p in per.values()])),
            "error_consistency": float(np.mean([p["kappa"] for p in per.values()])), "per_observer": per,
            "n": len(decisions)}


def model_vs_human(decide: Callable[[list[Path]], list[str]], root: Path, sets: list[str] | None = None,
                   say: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """{"sets": {set: scores}, "mean_accuracy", "mean_error_consistency"}; `decide` maps image files to categories."""
    root = Path(root)
    available = data_sets(root)
    chosen = sets or available
    for s in chosen:
        if s not in available:
            raise InputError(f"data set '{s}' is not under {root} (found: {', '.join(available)})")
    results = {}
    for name in chosen:
        files = stimuli(root, name)
        keys = [image_key(f.name) for f in files]
        decisions = dict(zip(keys, decide(files)))
        truth = {k: k.split("_")[1] for k in keys}
        results[name] = score_set(decisions, truth, human_trials(root, name))
        say(f"{name}: accuracy {results[name]['accuracy']:.3f}, error consistency "
            f"{results[name]['error_consistency']:.3f} ({len(files)} images)")
    return {"sets": results, "mean_accuracy": float(np.mean([r["accuracy"] for r in results.values()])),
            "mean_error_consistency": float(np.mean([r["error_consistency"] for r in results.values()]))}
