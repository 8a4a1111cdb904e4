"""Acceptance of a metamer (facts §2.3–2.4): measures at every stage, the null threshold rule, prediction match.

A metamer passes iff (a) each measure the model's spec lists (`metamer.criteria`: spearman, pearson, snr) at its
generation stage is ≥ the null's maximum there, and (b) the model's decision on the metamer equals its decision on
the original: the 16-way category (max-logit rule, `metazoo_core.labels`) for ImageNet classifiers, the argmax
otherwise. Without a null (or when the null lacks the stage) `passed` is None: "not evaluated", never "passed".
"""
from __future__ import annotations

from typing import Any

import torch

from ..labels import category16_source, predict_labels
from ..measures import all_measures
from ..caveats import null_note
from .null import NullDistribution

CRITERION_NAMES = {"spearman": "spearman", "pearson": "pearson", "snr": "snr_db"}


def logits_stage(model) -> str | None:
    """The stage holding the classifier output, or None for models without a classifier (or whose checkpoint was
    skipped for weights-free stages: the decision needs it)."""
    if prediction_rule(model) is None:
        return None
    return "logits" if "logits" in model.taps else "final"


def measure_stages(model, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """One no-grad forward of (B, *input) through every meaningful stage (`StagedModel.meaningful_stages`: all, or
    the weights-free ones when the checkpoint was skipped) and the classifier → {stage: (B, N)} float32."""
    names = model.meaningful_stages()
    head = logits_stage(model)
    if head is not None and head not in names:
        names.append(head)
    with torch.no_grad():
        acts = model(x, names)
    return {k: v.reshape(v.shape[0], -1) for k, v in acts.items()}


def prediction_rule(model) -> str | None:
    """The decision rule: "16-way", "argmax", or None (no classifier, or its checkpoint skipped for
    weights-free stages)."""
    if model.spec.classifier == "none" or model.checkpoint_skipped:
        return None
    return "16-way" if model.spec.classifier in ("imagenet1000", "zeroshot_imagenet") else "argmax"


def predictions(model, logits: torch.Tensor) -> list[str]:
    return predict_labels(logits, model.spec.classifier)


def category_fields(verdict: dict[str, Any]) -> dict[str, Any]:
    """A record's "out_of_category" (whether the original's top-1 class is in none of the 16 categories; None
    when the 16-way rule does not apply) and "category16_source" (`labels.category16_source` of the original)."""
    source = verdict["category16_source"]
    return {"out_of_category": None if source is None else not source["in_category"], "category16_source": source}


def null_summary(null: NullDistribution, threshold: dict[str, float] | None) -> dict[str, Any]:
    """A record's `null` field: where the null came from, its size, the thresholds used and, for a small null,
    `loose: true` with the note saying why."""
    note = null_note(null.pairs)
    return {"path": null.path, "pairs": null.pairs, "max": threshold, "loose": note is not None, "note": note}


def assess(model, stage: str, original: dict[str, torch.Tensor], metamer: dict[str, torch.Tensor],
           null: NullDistribution | None) -> list[dict[str, Any]]:
    """Per item of the batch: measures at every stage, predictions, criteria, `passed` and, for the 16-way rule,
    where the original's answer comes from (`labels.category16_source`; None for other rules).

    original, metamer: `measure_stages` outputs for the same B items (originals and their metamers).
    """
    stages = model.meaningful_stages()
    per_stage = {s: all_measures(original[s], metamer[s]) for s in stages}
    batch = next(iter(original.values())).shape[0]
    rule = prediction_rule(model)
    head = logits_stage(model)
    if rule is not None:
        orig_pred = predictions(model, original[head])
        met_pred = predictions(model, metamer[head])
    sources = category16_source(original[head]) if rule == "16-way" else [None] * batch
    listed = [CRITERION_NAMES[c] for c in model.spec.metamer.criteria]
    threshold = null.max(stage) if null is not None and stage in null.values else None
    out = []
    for i in range(batch):
        measures = {s: {m: float(v[i]) for m, v in per.items()} for s, per in per_stage.items()}
        if rule is None:
            prediction = {"original": None, "metamer": None, "match": None, "rule": None}
        else:
            prediction = {"original": orig_pred[i], "metamer": met_pred[i], "match": orig_pred[i] == met_pred[i],
                          "rule": rule}
        criteria: dict[str, bool | None] = {}
        for m in ("spearman", "pearson", "snr_db"):
            criteria[m] = (measures[stage][m] >= threshold[m]) if threshold is not None and m in listed else None
        criteria["prediction_match"] = prediction["match"]
        if threshold is None:
            passed = None
        else:
            gates = [criteria[m] for m in listed] + ([prediction["match"]] if rule is not None else [])
            passed = all(gates)
        out.append({"measures": measures, "prediction": prediction, "criteria": criteria, "passed": passed,
                    "threshold": threshold, "category16_source": sources[i]})
    return out
