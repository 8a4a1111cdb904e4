"""`metazoo replicate mini`: Experiments A and B end to end; results JSON, figures and a results summary.

Outputs (OUT, default docs/replication): results.json (every number of both experiments, the plan, versions and
wall times), fig_a_recognition.png, fig_a_metamers.png, fig_b_recognition.png, fig_b_metamers.png and results.md
(the numbers as tables). Heavy artefacts (metamers, nulls, trained weights) go to WORK (default
runs/replicate-<plan>); re-running with the same WORK resumes finished metamers and trained models. With
`experiments="a"` or `"b"`, the other experiment's numbers already in OUT/results.json (same plan) are kept.
"""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Any, Callable

from ..fileio import write_json, write_text
from .plan import Plan

Say = Callable[[str], None]
SCHEMA = "metazoo.replication/1"


def run_mini(plan: Plan, out: Path, work: Path, say: Say, experiments: str = "ab") -> dict[str, Any]:
    """Run the experiments named in `experiments` ("a", "b" or "ab"); write OUT; return the results dict."""
    import torch

    from .. import __version__
    from . import experiment_a, experiment_b, figures

    out, work = Path(out), Path(work)
    results: dict[str, Any] = {"schema": SCHEMA, "plan": plan.name,
                               "versions": {"metazoo": __version__, "torch": torch.__version__,
                                            "python": platform.python_version()},
                               "torch_threads": torch.get_num_threads()}
    if "a" in experiments:
        a = experiment_a.run(plan.a, work / "a", say)
        results["experiment_a"] = a
        figures.recognition_a(a, out / "fig_a_recognition.png")
        figures.metamer_examples(_examples_a(a, work / "a" / "metamers"), out / "fig_a_metamers.png")
        say(f"A done in {a['wall_time_s']:.0f} s")
    if "b" in experiments:
        b = experiment_b.run(plan.b, work / "b", say)
        results["experiment_b"] = b
        figures.recognition_b(b, out / "fig_b_recognition.png")
        figures.metamer_examples(_examples_b(b, work / "b"), out / "fig_b_metamers.png", grey=True)
        say(f"B done in {b['wall_time_s']:.0f} s")
    results = {**_previous(out / "results.json", plan.name), **results}
    results["wall_time_s"] = round(sum(results[k]["wall_time_s"] for k in ("experiment_a", "experiment_b")
                                       if k in results), 1)
    write_json(out / "results.json", results)
    write_text(out / "results.md", summary_markdown(results))
    return results


def _previous(path: Path, plan_name: str) -> dict[str, Any]:
    """The experiments of an earlier run of the same plan in OUT (kept when `--only` reruns the other one)."""
    import json

    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(old, dict) or old.get("schema") != SCHEMA or old.get("plan") != plan_name:
        return {}
    return {k: old[k] for k in ("experiment_a", "experiment_b") if k in old}


def _examples_a(a: dict[str, Any], root: Path) -> list:
    """The first photo whose metamers exist at every stage: original and each stage's metamer per model."""
    from ..metamer.runs import safe_name

    name = a["plan"]["images"][0]
    rows = []
    for mid in a["plan"]["models"]:
        d = root / safe_name(mid) / name
        cols = [("original", d / "original.png")]
        for depth, stage in a["plan"]["stages"].items():
            rec = next((m for m in a["metamers"] if m["model"] == mid and m["stage"] == stage and m["input"] == name),
                       None)
            mark = "" if rec is None else (" ✓" if rec["passed"] else " ✗")
            cols.append((f"{depth} ({stage}){mark}", d / stage / "metamer.png"))
        rows.append((mid.replace("efficientnet_", ""), cols))
    return rows


def _examples_b(b: dict[str, Any], root: Path) -> list:
    """One held-out digit: original and the metamer at every stage, for the seed-0 model of each training type."""
    first = b["metamers"][0]["input"]
    rows = []
    for kind in b["plan"]["kinds"]:
        mid = f"digits_{kind}_s{b['plan']['seeds'][0]}"
        mets = {m["stage"]: m for m in b["metamers"] if m["model"] == mid and m["input"] == first}
        cols = [("original", root / "metamers" / mid / first / "original.png")]
        for stage in b["stages"]:
            m = mets.get(stage)
            mark = "" if m is None else (" ✓" if m["accepted"] else " ✗")
            cols.append((f"{stage}{mark}", root / m["png"] if m else None))
        rows.append((kind, cols))
    return rows


def _ci(c: dict[str, Any]) -> str:
    if not c or c.get("n", 1) == 0 or c.get("mean") != c.get("mean"):
        return "–"
    return f"{c['mean']:.2f} [{c['lo']:.2f}, {c['hi']:.2f}] (n={c['n']})"


def summary_markdown(results: dict[str, Any]) -> str:
    """The results as Markdown tables (included by docs/replication.md)."""
    lines = [f"# Replication results ({results['plan']} plan)", "",
             f"metazoo {results['versions']['metazoo']}, torch {results['versions']['torch']}; "
             f"wall time of the experiments {results['wall_time_s'] / 60:.1f} min.", ""]
    a = results.get("experiment_a")
    if a:
        p = a["plan"]
        lines += ["## Experiment A — EfficientNet-Lite0/1/2", "",
                  f"feather2023 recipe, {p['iterations']} steps × {p['blocks']} blocks, first step "
                  f"{p['init_step']:g}; null: {p['null_pairs']} augmented pairs of {len(p['null_images'])} photos; "
                  f"{len(p['images'])} photos; wall time {a['wall_time_s'] / 60:.1f} min.", "",
                  "| generating model | stage | accepted | self (95% CI) | other models (95% CI) | "
                  "other models on the same natural photos |",
                  "|---|---|---|---|---|---|"]
        for r in a["table"]:
            acc = "–" if r["generated"] is None else f"{r['accepted']}/{r['generated']}"
            stage = r["stage"] if r["stage"] == "natural" else f"{r['depth']} ({r['stage']})"
            same = _ci(r["others_on_same_photos"]) if r["stage"] != "natural" else ""
            lines.append(f"| {r['generator']} | {stage} | {acc} | {_ci(r['self'])} | {_ci(r['others'])} | {same} |")
        lines += ["", "Pooled over generating models (recognition by the other models):", "",
                  "| stage | metamers (95% CI) | the same natural photos (95% CI) |", "|---|---|---|"]
        same_photos = a["pooled_others_natural_same_photos"]
        lines += [f"| {k} | {_ci(v)} | {_ci(same_photos[k]) if k != 'natural' else ''} |"
                  for k, v in a["pooled_others"].items()]
        c = a.get("early_minus_final")
        if c:
            lines += ["", f"Early − final: {c['diff']:+.2f} [{c['lo']:+.2f}, {c['hi']:+.2f}] "
                          f"(bootstrap P(diff ≤ 0) = {c['p_le_0']:.3f}).", ""]
    b = results.get("experiment_b")
    if b:
        p = b["plan"]
        lines += ["## Experiment B — digit CNNs: standard, adversarial and random-perturbation training", "",
                  f"{b['dataset']['name']}; {b['dataset']['train']} training / {b['dataset']['held_out']} held-out "
                  f"digits; L2 ε = {p['eps']:g}; {p['epochs']} epochs; seeds {p['seeds']}; metamers: "
                  f"{p['iterations']} steps × {p['blocks']} blocks, null {p['null_pairs']} pairs; wall time "
                  f"{b['wall_time_s'] / 60:.1f} min.", "",
                  "| model | held-out accuracy | accuracy under L2 PGD |", "|---|---|---|"]
        for mid, t in b["training"].items():
            lines.append(f"| {mid} | {t['clean_accuracy']:.3f} | {t['adversarial_accuracy']:.3f} |")
        lines += _b_tables(b, "the other trained CNNs", b)
        if b.get("pixel_observers"):
            lines += _b_tables(b, "pixel-space classifiers (secondary analysis)", b["pixel_observers"])
    return "\n".join(lines) + "\n"


def _b_tables(b: dict[str, Any], who: str, part: dict[str, Any]) -> list[str]:
    """Experiment B's recognition table and SI Table 2 rows for one set of observers."""
    lines = ["", f"### Observers: {who}", "", f"Observers: {', '.join(part['observers'])}.", "",
             "Proportion recognised (mean ± SEM over observers; accepted metamers / generated):", "",
             "| stage | " + " | ".join(part["curves"]) + " |", "|---|" + "---|" * len(part["curves"])]
    stages = [r["stage"] for r in next(iter(part["curves"].values()))]
    for i, s in enumerate(stages):
        cells = []
        for kind, rows in part["curves"].items():
            r = rows[i]
            val = "–" if r["mean"] is None else f"{r['mean']:.3f}" + (f" ± {r['sem']:.3f}" if r["sem"] else "")
            if s != "natural":
                acc = b["acceptance"][kind][s]
                val += f" ({acc['accepted']}/{acc['generated']})"
            cells.append(val)
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines += ["", "SI Table 2 form (repeated-measures ANOVA, subjects = observers, within factors training type × "
                  "stage):", "",
              "| Model 1 | Model 2 | F-stat | p-value | effect size | interaction | permutation p | direction |",
              "|---|---|---|---|---|---|---|---|"]
    for row in part["anova"].values():
        if "main" not in row:
            lines.append(f"| {row['model_1']} | {row['model_2']} | {row.get('error', 'not computed')} |||||")
            continue
        inter = row["interaction"]
        it = f"F({inter['df1']},{inter['df2']})={inter['F']:.2f}, p={inter['p']:.2g}" if inter else "–"
        f = row["formatted"]
        left = f" (stages left out: {', '.join(row['stages_left_out'])})" if row["stages_left_out"] else ""
        lines.append(f"| {row['model_1']} | {row['model_2']}{left} | {f['F']} | {f['p']} | {f['effect_size']} | "
                     f"{it} | {row['permutation']['p']:.3g} | {row['direction']} |")
    return lines
