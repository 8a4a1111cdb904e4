"""Cross-model recognition of metamers (SI Fig. 3 and 4): every recognising model classifies every saved metamer.

Decision rule: the 16-way ImageNet category (max-logit rule, `labels.category16_index`, facts §2.4) for ImageNet
classifiers, the argmax over the output units for audio word classifiers. A metamer counts as recognised when the
decision equals the generating model's decision on the original input (`record["prediction"]["original"]`, the
label the study's acceptance check used). Images are read from metamer.png (ToTensor semantics: uint8 / 255, as
the study's network–network evaluation did) and resized bicubically to each recogniser's input size; sounds are
read from metamer.wav at the recogniser's sample rate. The natural inputs form the "natural" condition.

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


def resolve_recognisers(spec_text: str, modality: str) -> list[str]:
    """'M1,M2', 'all-vision' or 'all-audio' → model ids; a model of the wrong modality raises one line."""
    from ..plugins import get_spec, registry

    text = spec_text.strip()
    if text in ("all-vision", "all-audio"):
        wanted = text.split("-", 1)[1]
        if wanted != modality:
            raise RecognitionError(f"--models {text}: the run holds {modality} metamers; use all-{modality}")
        ids = [s.id for s in registry().query(modality=modality) if s.classifier != "none"]
        if not ids:
            raise RecognitionError(f"no registered {modality} model has a classifier to recognise with")
        return ids
    ids = [m.strip() for m in text.split(",") if m.strip()]
    if not ids:
        raise RecognitionError("--models is empty; give model ids separated by commas, all-vision or all-audio")
    for m in ids:
        spec = get_spec(m)
        if spec.modality != modality:
            raise RecognitionError(f"recognising model '{m}' is a {spec.modality} model but the run holds "
                                   f"{modality} metamers; choose {modality} models (or all-{modality})")
        if spec.classifier == "none":
            raise RecognitionError(f"recognising model '{m}' has no classifier; choose a model with class outputs")
    return ids


@dataclass
class Recognition:
    """Per-item decisions and the summary tables; JSON/CSV friendly."""

    trials: list[dict[str, Any]] = field(default_factory=list)
    """{generator, stage, input, recogniser, label, decision, correct}"""
    table: list[dict[str, Any]] = field(default_factory=list)
    """{generator, stage, recogniser, n, n_correct, accuracy, sem}, recogniser "mean" rows: sem across models"""
    failed: list[str] = field(default_factory=list)
    """recognisers that could not be loaded, with the reason"""

    def to_json(self) -> dict[str, Any]:
        return {"schema": "metazoo.recognition/1", "table": self.table, "trials": self.trials,
                "failed_recognisers": self.failed}


def _read_items(paths: list[Path], spec) -> "Any":
    import torch

    if spec.modality == "audio":
        from ..io.audio import load_sound

        return torch.stack([load_sound(p, spec.input).tensor for p in paths])
    from ..io.images import load_image

    return torch.stack([load_image(p, spec.input).tensor for p in paths])


def _decide(model, spec, paths: list[Path]) -> list[str]:
    import torch

    from ..labels import predict_labels

    out: list[str] = []
    for i in range(0, len(paths), BATCH):
        x = _read_items(paths[i:i + BATCH], spec)
        with torch.no_grad():
            out += predict_labels(model.logits(x), spec.classifier)
    return out


def _conditions(run: Run, generator: str) -> list[tuple[str, str, Path, str]]:
    """(stage, input, file, label) for the natural inputs and every metamer of `generator` included."""
    rows = [(NATURAL, name, path, label) for name, (path, label) in run.originals(generator).items()]
    for stage in run.stages(generator):
        for item in sorted((i for i in run.for_model(generator) if i.stage == stage), key=lambda i: i.input):
            rows.append((stage, item.input, item.metamer_file, item.label))
    return rows


def included(run: Run, include_failed: bool) -> Run:
    """The run restricted to metamers that passed (or were not evaluated) unless `include_failed`."""
    if include_failed:
        return run
    return Run(root=run.root, items=[i for i in run.items if i.passed is not False], warnings=run.warnings)


def recognise(run: Run, recognisers: list[str], n_boot: int = N_BOOTSTRAP, seed: int = 0,
              on_problem: Callable[[str], None] | None = None,
              progress: Callable[[str], None] | None = None) -> Recognition:
    """Classify every metamer (and natural input) of `run` with every recogniser; see the module docstring.

    A recogniser that cannot be built or loaded (e.g. weights unavailable offline) is reported through
    `on_problem`, listed in `failed`, and the others still run.
    """
    from ..models import load_model
    from ..plugins import get_spec

    result = Recognition()
    generators = run.models()
    for rid in recognisers:
        spec = get_spec(rid)
        try:
            model = load_model(spec)
        except MetazooError as e:
            result.failed.append(f"{rid}: {e}")
            if on_problem:
                on_problem(f"recogniser {rid} skipped: {e}")
            continue
        for gen in generators:
            if run.modality(gen) != spec.modality:
                continue
            conds = _conditions(run, gen)
            if progress:
                progress(f"{rid} classifies {len(conds)} items from {gen}")
            try:
                decisions = _decide(model, spec, [c[2] for c in conds])
            except MetazooError as e:
                result.failed.append(f"{rid} on {gen}: {e}")
                if on_problem:
                    on_problem(f"recogniser {rid} on {gen} skipped: {e}")
                continue
            for (stage, name, _, label), decision in zip(conds, decisions):
                result.trials.append({"generator": gen, "stage": stage, "input": name, "recogniser": rid,
                                      "label": label, "decision": decision, "correct": decision == label})
        del model
    result.table = summarise(result.trials, run, n_boot=n_boot, seed=seed)
    return result


def summarise(trials: list[dict[str, Any]], run: Run, n_boot: int = N_BOOTSTRAP, seed: int = 0) -> list[dict]:
    """Accuracy and bootstrap SEM per (generator, stage, recogniser), then the across-recogniser mean rows."""
    table: list[dict[str, Any]] = []
    for gen in run.models():
        for stage in [NATURAL, *run.stages(gen)]:
            per_model: list[float] = []
            rids = sorted({t["recogniser"] for t in trials if t["generator"] == gen})
            for rid in rids:
                c = [float(t["correct"]) for t in trials
                     if (t["generator"], t["stage"], t["recogniser"]) == (gen, stage, rid)]
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
