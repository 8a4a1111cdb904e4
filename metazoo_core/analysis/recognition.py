"""Cross-model recognition of metamers (SI Fig. 3 and 4): every recognising model classifies every saved metamer.

Decision rule: the 16-way ImageNet category (max-logit rule, `labels.category16_index`, facts §2.4) for ImageNet
classifiers, the argmax over the output units for audio word classifiers. A metamer counts as recognised when the
decision equals the generating model's decision on the original input (`record["prediction"]["original"]`, the
label the study's acceptance check used). Images are read from metamer.png (ToTensor semantics: uint8 / 255, as
the study's network–network evaluation did) and resized bicubically to each recogniser's input size; sounds are
read from metamer.wav as saved (no RMS rescaling). The natural inputs form the "natural" condition. A file that
cannot be read is reported once and left out; the rest is scored.

Per (generating model, stage, recogniser): accuracy in [0, 1] and its bootstrap SEM over items (1000 resamples).
Per (generating model, stage): the mean over recognisers other than the generating model, with SEM across them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from ..errors import MetazooError
from .runs import NATURAL, Run

N_BOOTSTRAP = 1000
BATCH = 16
MEAN = "mean"
"""The recogniser name of the across-models mean row."""


class RecognitionError(MetazooError):
    pass


def sem_text(sem: float | None, n: Any, fmt: Callable[[float], str] = "{:.3f}".format) -> str:
    """A SEM as shown in tables: 'n/a (n = 1)' for a single observation (its bootstrap SEM is 0 by construction,
    not a measured spread), '—' when there is none, else `fmt(sem)`."""
    if n == 1:
        return "n/a (n = 1)"
    return "—" if sem is None else fmt(sem)


def bootstrap_sem(correct: Iterable[float], n_boot: int = N_BOOTSTRAP, seed: int = 0) -> float:
    """SEM of the mean of `correct` (0/1 per item) by resampling items with replacement `n_boot` times.

    The standard deviation (ddof=0) of the resampled means; for n items with accuracy p it approaches
    sqrt(p(1-p)/n). NaN for no items.
    """
    x = np.asarray(list(correct), dtype=float)
    if x.size == 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    return float(means.std())


def resolve_recognisers(spec_text: str, modalities: set[str]) -> list[str]:
    """'M1,M2', 'all-vision' or 'all-audio' → model ids for a run holding metamers of `modalities`.

    A recogniser of a modality the run does not hold, or without a classifier, raises one clear line.
    """
    from ..plugins import get_spec, registry

    held = " and ".join(sorted(modalities))
    text = spec_text.strip()
    if text in ("all-vision", "all-audio"):
        wanted = text.split("-", 1)[1]
        if wanted not in modalities:
            raise RecognitionError(f"--models {text}: the run holds {held} metamers, not {wanted}; "
                                   f"use all-{sorted(modalities)[0]} or a list of ids")
        ids = [s.id for s in registry().query(modality=wanted) if s.classifier != "none"]
        if not ids:
            raise RecognitionError(f"no registered {wanted} model has a classifier to recognise with")
        return ids
    ids = list(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    if not ids:
        raise RecognitionError("--models is empty; give model ids separated by commas, all-vision or all-audio")
    for m in ids:
        spec = get_spec(m)
        if spec.modality not in modalities:
            raise RecognitionError(f"recognising model '{m}' takes {spec.modality} input but the run holds {held} "
                                   f"metamers; choose {held} models (or all-{sorted(modalities)[0]})")
        if spec.classifier == "none":
            raise RecognitionError(f"recognising model '{m}' has no classifier; choose a model with class outputs")
    return ids


@dataclass
class Recognition:
    """Per-item decisions and the summary tables; JSON/CSV friendly."""

    trials: list[dict[str, Any]] = field(default_factory=list)
    """{generator, stage, input, recogniser, label, decision, correct}"""
    table: list[dict[str, Any]] = field(default_factory=list)
    """{generator, stage, recogniser, n, n_correct, accuracy, sem, self}; in the recogniser "mean" rows n is the
    number of recognisers averaged and sem the SEM across them"""
    failed: list[str] = field(default_factory=list)
    """recognisers that could not be loaded, with the reason"""
    skipped: list[str] = field(default_factory=list)
    """files that could not be read (left out of every recogniser's score), with the reason"""

    def to_json(self) -> dict[str, Any]:
        return {"schema": "metazoo.recognition/1", "table": self.table, "trials": self.trials,
                "failed_recognisers": self.failed, "skipped_files": self.skipped}


def _read_sound(path: Path, spec) -> "Any":
    """A saved waveform as it is (no RMS rescaling); other rates or lengths go through `load_sound`'s preparation."""
    import soundfile as sf
    import torch

    from ..io.audio import load_sound

    try:
        data, rate = sf.read(str(path), dtype="float32")
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        raise RecognitionError(f"{path}: unreadable sound ({' '.join(str(e).split())})") from None
    if rate == spec.input.sample_rate and data.ndim == 1 and list(data.shape) == list(spec.input.shape):
        return torch.from_numpy(data)
    return load_sound(path, spec.input).tensor


def _read_item(path: Path, spec) -> "Any":
    if spec.modality == "audio":
        return _read_sound(path, spec)
    from ..io.images import load_image

    return load_image(path, spec.input).tensor


def _decide(model, spec, paths: list[Path], unreadable: dict[Path, str], device: str = "cpu") -> list[str | None]:
    """The recogniser's decision per file; None for a file that cannot be read (its reason kept in `unreadable`)."""
    import torch

    from ..labels import predict_labels

    out: list[str | None] = []
    for i in range(0, len(paths), BATCH):
        batch, ok = [], []
        for p in paths[i:i + BATCH]:
            try:
                batch.append(_read_item(p, spec))
                ok.append(True)
            except MetazooError as e:
                unreadable.setdefault(p, str(e))
                ok.append(False)
        labels = iter([])
        if batch:
            with torch.no_grad():
                logits = model.logits(torch.stack(batch).to(device)).cpu()
                labels = iter(predict_labels(logits, spec.classifier))
        out += [next(labels) if good else None for good in ok]
    return out


def _conditions(run: Run, generator: str, include_failed: bool) -> list[tuple[str, str, Path, str]]:
    """(stage, input, file, label) for the natural inputs and the metamers of `generator` that are scored
    (passed or not evaluated; failed ones too with `include_failed`)."""
    rows = [(NATURAL, name, path, label) for name, (path, label) in run.originals(generator).items()
            if label is not None]
    for stage in run.stages(generator):
        for item in sorted((i for i in run.for_model(generator) if i.stage == stage), key=lambda i: i.input):
            if item.label is not None and (include_failed or item.passed is not False):
                rows.append((stage, item.input, item.metamer_file, item.label))
    return rows


def recognise(run: Run, recognisers: list[str], include_failed: bool = False, n_boot: int = N_BOOTSTRAP, seed: int = 0,
              on_problem: Callable[[str], None] | None = None,
              progress: Callable[[str], None] | None = None, device: str = "cpu") -> Recognition:
    """Classify every scored metamer (and natural input) of `run` with every recogniser; see the module docstring.

    Metamers that failed the acceptance criteria are left out, as in the study, unless `include_failed`.

    A recogniser that cannot be built or loaded (e.g. weights unavailable offline) is reported through
    `on_problem`, listed in `failed`, and the others still run.
    """
    from ..models import load_model
    from ..plugins import get_spec

    result = Recognition()
    unreadable: dict[Path, str] = {}
    generators = []
    for gen in run.models():
        if all(i.label is None for i in run.for_model(gen)):
            if on_problem:
                on_problem(f"{gen} made no decision on its originals (no classifier), so its metamers cannot be "
                           "scored; left out")
        else:
            generators.append(gen)
    for rid in recognisers:
        spec = get_spec(rid)
        try:
            model = load_model(spec, device=device)
        except MetazooError as e:
            result.failed.append(f"{rid}: {e}")
            if on_problem:
                on_problem(f"recogniser {rid} skipped: {e}")
            continue
        for gen in generators:
            if run.modality(gen) != spec.modality:
                continue
            conds = _conditions(run, gen, include_failed)
            if progress:
                progress(f"{rid} classifies {len(conds)} items from {gen}")
            decisions = _decide(model, spec, [c[2] for c in conds], unreadable, device)
            for (stage, name, _, label), decision in zip(conds, decisions):
                if decision is None:
                    continue
                result.trials.append({"generator": gen, "stage": stage, "input": name, "recogniser": rid,
                                      "label": label, "decision": decision, "correct": decision == label})
        del model
    for path, why in unreadable.items():
        result.skipped.append(f"{path}: {why}")
        if on_problem:
            on_problem(f"skipped {path}: {why}")
    result.table = summarise(result.trials, run, n_boot=n_boot, seed=seed)
    return result


def summarise(trials: list[dict[str, Any]], run: Run, n_boot: int = N_BOOTSTRAP, seed: int = 0) -> list[dict]:
    """Accuracy and bootstrap SEM per (generator, stage, recogniser), then the across-recogniser mean rows."""
    cells: dict[tuple[str, str, str], list[float]] = {}
    for t in trials:
        cells.setdefault((t["generator"], t["stage"], t["recogniser"]), []).append(float(t["correct"]))
    table: list[dict[str, Any]] = []
    for gen in run.models():
        rids = sorted({r for g, _, r in cells if g == gen})
        for stage in [NATURAL, *run.stages(gen)]:
            per_model: list[float] = []
            for rid in rids:
                c = cells.get((gen, stage, rid))
                if not c:
                    continue
                acc = float(np.mean(c))
                table.append({"generator": gen, "stage": stage, "recogniser": rid, "n": len(c),
                              "n_correct": int(sum(c)), "accuracy": acc,
                              "sem": bootstrap_sem(c, n_boot=n_boot, seed=seed), "self": rid == gen})
                if rid != gen:
                    per_model.append(acc)
            if per_model:
                sem = float(np.std(per_model, ddof=1) / math.sqrt(len(per_model))) if len(per_model) > 1 else None
                table.append({"generator": gen, "stage": stage, "recogniser": MEAN, "n": len(per_model),
                              "n_correct": None, "accuracy": float(np.mean(per_model)), "sem": sem,
                              "self": False})
    return table
