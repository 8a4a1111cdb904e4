"""Find the measurements of a model already on disk and reduce them to a profile.

Records are recognised by their `schema`: metazoo.robustness/1 (`metazoo robustness` and robustness sweep units),
metazoo.ood/1 (`metazoo ood` and ood units), metazoo.readout/1 (`metazoo readout` and readout units). Metamers are
read as a run (`metazoo_core.analysis.runs.read_run`) from the profile's sweep store and from any run folder given.
When several records of one kind exist for a model, the newest (`completed`, else file time) is used. A record
whose fields the profile reads are malformed (hand-edited, or from another tool) is skipped with one line, and so
is a readout over fewer than 2 classes (its accuracy means nothing); the other records are still used.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

SCHEMAS = {"metazoo.robustness/1": "robustness", "metazoo.ood/1": "ood", "metazoo.readout/1": "readout"}
MAX_RECORD_BYTES = 20_000_000
"""JSON files larger than this are not records (skipped unread)."""


def scan(roots: list[Path], say: Callable[[str], None] = lambda _m: None) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """{model: {kind: [records, newest first]}} over every *.json under `roots` (missing roots are skipped); each
    malformed record is skipped with one line through `say`."""
    found: dict[str, dict[str, list[tuple[str, dict[str, Any]]]]] = {}
    for root in roots:
        if not Path(root).is_dir():
            continue
        for path in Path(root).rglob("*.json"):
            try:
                if path.stat().st_size > MAX_RECORD_BYTES:
                    continue
                rec = json.loads(path.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                continue
            kind = SCHEMAS.get(rec.get("schema")) if isinstance(rec, dict) else None
            if kind is None:
                continue
            problem = _problem(kind, rec)
            if problem:
                say(f"skipped {kind} record {path}: {problem}")
                continue
            rec = {**rec, "_path": str(path)}
            when = rec.get("completed") if isinstance(rec.get("completed"), str) else f"{path.stat().st_mtime:020.6f}"
            found.setdefault(rec["model"], {}).setdefault(kind, []).append((when, rec))
    return {m: {k: [r for _, r in sorted(v, key=lambda t: t[0], reverse=True)] for k, v in kinds.items()}
            for m, kinds in found.items()}


def _number(x: Any, low: float = -math.inf, high: float = math.inf) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and low <= x <= high


def _problem(kind: str, rec: dict[str, Any]) -> str | None:
    """What is wrong with the fields of `rec` that the reducers below read, or None when they are well-formed."""
    if not isinstance(rec.get("model"), str):
        return "no model id"
    if kind == "robustness":
        results = rec.get("results")
        if not isinstance(results, list) or not all(
                isinstance(r, dict) and _number(r.get("eps"), 0) and _number(r.get("mean"), 0, 1)
                and (r.get("sem") is None or _number(r.get("sem"), 0)) for r in results):
            return "results must be a list of {eps ≥ 0, mean in [0, 1], sem}"
    elif kind == "readout":
        if not isinstance(rec.get("stage"), str) or not _number(rec.get("top1"), 0, 1) or not (
                rec.get("top5") is None or _number(rec.get("top5"), 0, 1)):
            return "stage, top1 and top5 must be a name and fractions in [0, 1]"
        if not _number(rec.get("n_classes"), 2):
            return f"a readout over {rec.get('n_classes')} class(es) measures nothing (needs at least 2)"
    elif rec.get("benchmark") == "model-vs-human":
        sets = rec.get("sets") or {}
        if not isinstance(sets, dict) or not all(
                isinstance(v, dict) and all(m in v for m in ("accuracy", "human_accuracy", "error_consistency"))
                for v in sets.values()):
            return "sets must map each set to its accuracy, human_accuracy and error_consistency"
        if not (rec.get("mean_error_consistency") is None or _number(rec.get("mean_error_consistency"), -1, 1)):
            return "mean_error_consistency must be a number in [-1, 1]"
    elif rec.get("benchmark") == "imagenet-c" and not (rec.get("mean") is None or _number(rec.get("mean"), 0, 1)):
        return "mean must be a fraction in [0, 1]"
    return None


def robustness_curves(records: list[dict[str, Any]]) -> dict[str, list[tuple[float, float, float]]]:
    """{"<attack> <norm>": [(ε, accuracy, SEM)]}, the newest record per (attack, norm)."""
    out: dict[str, list[tuple[float, float, float]]] = {}
    for rec in records:
        key = f"{rec.get('attack', 'untargeted')} {rec.get('norm')}"
        if key not in out and rec.get("results"):
            out[key] = [(float(r["eps"]), float(r["mean"]), float(r.get("sem") or 0.0)) for r in rec["results"]]
    return out


def readout_by_stage(records: list[dict[str, Any]], stage_order: list[str]) -> dict[str, dict[str, float | None]]:
    """{stage: {"top1", "top5"}} in the model's stage order, the newest record per stage (top5 None with ≤ 5
    classes)."""
    by: dict[str, dict[str, float]] = {}
    for rec in records:
        if rec.get("stage") and rec["stage"] not in by:
            top5 = rec.get("top5")  # None: a readout over ≤ 5 classes has no top-5
            by[rec["stage"]] = {"top1": float(rec["top1"]), "top5": None if top5 is None else float(top5)}
    order = {s: i for i, s in enumerate(stage_order)}
    return dict(sorted(by.items(), key=lambda kv: order.get(kv[0], len(order))))


def ood_scores(records: list[dict[str, Any]]) -> dict[str, Any]:
    """{"imagenet_c": newest ImageNet-C record's summary, "model_vs_human": newest model-vs-human summary}."""
    out: dict[str, Any] = {}
    for rec in records:
        if rec.get("benchmark") == "imagenet-c" and "imagenet_c" not in out:
            out["imagenet_c"] = {k: rec.get(k) for k in ("mean", "clean", "by_corruption", "accuracy", "n", "missing",
                                                         "labels", "source")}
        elif rec.get("benchmark") == "model-vs-human" and "model_vs_human" not in out:
            out["model_vs_human"] = {"mean_accuracy": rec.get("mean_accuracy"),
                                     "mean_error_consistency": rec.get("mean_error_consistency"),
                                     "sets": {k: {m: v[m] for m in ("accuracy", "human_accuracy", "error_consistency")}
                                              for k, v in (rec.get("sets") or {}).items()}}
    return out


def _mean(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return sum(vals) / len(vals) if vals else None


def leaderboard_row(model: str, profile: dict[str, Any]) -> dict[str, Any]:
    """One row of the comparison table: every measure a number in [0, 1] (or κ in [−1, 1]) or None when absent, and
    `settings_differ`: the measures reused from records made with other settings than asked ("" when none)."""
    rec = profile.get("recognition") or {}
    stages = [s for s in rec if s != "natural"]
    curves = profile.get("robustness") or {}
    readout = profile.get("readout") or {}
    ood = profile.get("ood") or {}
    row = {"model": model,
           "metamer_recognition_last": rec[stages[-1]]["accuracy"] if stages else None,
           "metamer_recognition_mean": _mean([rec[s]["accuracy"] for s in stages]),
           "readout_top1_last": list(readout.values())[-1]["top1"] if readout else None,
           "imagenet_c": (ood.get("imagenet_c") or {}).get("mean"),
           "error_consistency": (ood.get("model_vs_human") or {}).get("mean_error_consistency"),
           "settings_differ": "; ".join(f"{k}: {', '.join(v)}"
                                        for k, v in (profile.get("settings_differ") or {}).items())}
    for key, pts in sorted(curves.items()):
        row[f"robust_{key.replace(' ', '_')}"] = _mean([a for e, a, _ in pts if e > 0])
    return row
