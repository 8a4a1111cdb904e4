"""`build_profiles`: reuse what is on disk, run the missing measurements as one sweep, then write the pages.

Measurements per model and where they come from:
- metamers (metamer units of the sweep, at `stages` from `inputs`), scored by every other profiled model (and the
  model itself, shown apart) with `metazoo_core.analysis.recognition.recognise`;
- adversarial robustness (robustness units, untargeted PGD at the input, one per norm);
- ImageNet-C (ood units, generated corruptions of `inputs`);
- per-stage linear readout (readout units) when `readout_data` (a labelled folder) is given;
- human recognition of the model's metamers: the study's published data when the model is a study model of the same
  name (`metazoo_core.humans.study`).
A measurement found on disk (records under `runs`, or units already done in the store) is reused only when it was
made with the settings asked for (`settings`: ε grid, steps, corruptions, inputs, metamer schedule, …); with `fill`,
one made with other settings is set aside and measured again, without it it is shown marked "settings differ".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError, MetazooError
from .collect import leaderboard_row, ood_scores, readout_by_stage, robustness_curves, scan

Say = Callable[[str], None]


@dataclass(frozen=True)
class ProfileSettings:
    """What a missing measurement is run with (defaults: the study's settings where one exists)."""

    stages: tuple[str, ...] | None = None
    """Metamer and readout stages; None = every stage of each model."""
    inputs: tuple[str, ...] = ("builtin",)
    seed: int = 0
    recipe: str = "feather2023"
    iterations: int | None = None
    """Metamer iterations per block (None: the recipe's, the study's 3000)."""
    blocks: int | None = None
    constants: dict[str, float | None] = field(default_factory=dict)
    """The recipe's constants (init_step, step_decay, noise_mean, noise_std; None or absent: the recipe's or the
    model's value), as `metazoo generate --init-step` etc."""
    norms: tuple[str, ...] = ("linf",)
    eps: dict[str, tuple[float, ...]] = field(default_factory=lambda: {
        "linf": (0.0, 1e-3, 4e-3, 1.6e-2), "l2": (0.0, 0.1, 1.0, 10.0), "l1": (0.0, 10.0, 100.0, 1000.0)})
    steps: int = 64
    step_ratio: float = 0.25
    """PGD step size ÷ ε (the robustness units' default)."""
    subsets: int = 5
    n: int = 1024
    corruptions: tuple[str, ...] | None = None
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)
    readout_data: str | None = None
    readout_options: dict[str, Any] = field(default_factory=dict)


def plan_missing(models: list[str], have: dict[str, dict[str, list]], metamer_stages: dict[str, set[str]],
                 settings: ProfileSettings, registry) -> dict[str, Any] | None:
    """The sweep plan (a mapping, as in a plan file) of every missing measurement; None when nothing is missing.

    metamer_stages: {model: stages it has comparable metamers at}; a model lacking one of the asked stages gets a
    metamer group (units already done in the store are skipped by the sweep)."""
    groups: list[dict[str, Any]] = []
    s = settings

    def stages_for(kinds: list[str]) -> dict[str, list[str]]:
        return {m: list(s.stages) if s.stages else registry.get(m).stage_names for m in kinds}

    need_metamers = [m for m in models if not set(stages_for([m])[m]) <= metamer_stages.get(m, set())]
    if need_metamers:
        opts: dict[str, Any] = {"recipe": s.recipe}
        if s.iterations is not None:
            opts["iterations"] = s.iterations
        if s.blocks is not None:
            opts["blocks"] = s.blocks
        opts.update({k: v for k, v in s.constants.items() if v is not None})
        groups.append({"kind": "metamer", "models": need_metamers, "stages": stages_for(need_metamers),
                       "inputs": list(s.inputs), "seeds": [s.seed], "options": opts})
    for norm in s.norms:
        done = {m for m in models for r in have.get(m, {}).get("robustness", [])
                if r.get("norm") == norm and r.get("attack", "untargeted") == "untargeted"}
        todo = [m for m in models if m not in done]
        if todo:
            groups.append({"kind": "robustness", "models": todo, "inputs": list(s.inputs), "seeds": [s.seed],
                           "options": {"norm": norm, "eps": list(s.eps[norm]), "steps": s.steps,
                                       "step_ratio": s.step_ratio, "subsets": s.subsets, "n": s.n}})
    todo = [m for m in models if not any(r.get("benchmark") == "imagenet-c" for r in have.get(m, {}).get("ood", []))]
    if todo:
        opts = {"severities": list(s.severities)}
        if s.corruptions:
            opts["corruptions"] = list(s.corruptions)
        groups.append({"kind": "ood", "models": todo, "inputs": list(s.inputs), "seeds": [s.seed], "options": opts})
    if s.readout_data:
        todo = [m for m in models if not have.get(m, {}).get("readout")]
        if todo:
            groups.append({"kind": "readout", "models": todo, "stages": stages_for(todo),
                           "inputs": [s.readout_data], "seeds": [s.seed], "options": dict(s.readout_options)})
    return {"name": "profile", "groups": groups} if groups else None


def _compare(kind: str, rec: dict[str, Any], s: ProfileSettings, inputs: frozenset[str] | None, modality: str,
             selection: tuple[list[str], list[int]]) -> tuple[str, list[str]] | None:
    """(measure, settings that differ from `s`) of a robustness or ImageNet-C record, or None for a record the
    profile does not compare. selection: the ImageNet-C (corruptions, severities) asked for."""
    from .settings import ood_differences, robustness_differences

    if kind == "robustness":
        if rec.get("attack", "untargeted") != "untargeted" or rec.get("norm") not in s.norms:
            return None
        asked = {"eps": s.eps[rec["norm"]], "steps": s.steps, "step_ratio": s.step_ratio, "subsets": s.subsets,
                 "n": s.n}
        return f"robustness {rec['norm']}", robustness_differences(rec, asked, inputs, modality)
    if rec.get("benchmark") == "imagenet-c":
        return "ImageNet-C", ood_differences(rec, *selection, inputs, modality)
    return None


def sort_by_settings(models: list[str], have: dict[str, dict[str, list]], settings: ProfileSettings, registry,
                     reuse_other: bool) -> tuple[dict[str, dict[str, list]], dict[str, dict[str, list[str]]]]:
    """(the records to use, {model: {measure: [settings that differ]}}).

    Robustness and ImageNet-C records made with other settings than `settings` are dropped (to be measured again)
    unless `reuse_other`; then the newest record of each measure is used and, when its settings differ, listed.
    """
    from ..ood.imagenet_c import check_selection, without_missing_frost
    from .settings import input_set

    s = settings
    corruptions, severities = check_selection(list(s.corruptions) if s.corruptions else None,
                                              list(s.severities), tree=False)
    corruptions = without_missing_frost(corruptions)[0]  # what a run here measures
    kept: dict[str, dict[str, list]] = {}
    differ: dict[str, dict[str, list[str]]] = {}
    for m in models:
        mine = dict(have.get(m, {}))
        modality = registry.get(m).modality
        inputs = input_set(list(s.inputs), modality)

        for kind in ("robustness", "ood"):
            out, candidates = [], {}
            for rec in mine.get(kind, []):  # newest first
                verdict = _compare(kind, rec, s, inputs, modality, (corruptions, severities))
                if verdict is None:
                    out.append(rec)
                else:
                    candidates.setdefault(verdict[0], []).append((rec, verdict[1]))
            for measure, found in candidates.items():
                same = [rec for rec, diffs in found if not diffs]
                if same:
                    out.append(same[0])
                elif reuse_other:
                    out.append(found[0][0])
                    differ.setdefault(m, {})[measure] = found[0][1]
            mine[kind] = out
        kept[m] = mine
    return kept, differ


def comparable_metamers(run, models: list[str], settings: ProfileSettings, registry, reuse_other: bool):
    """(the run with only the metamers of `models` made with the schedule asked for, or with every one when
    `reuse_other`; {model: [schedule settings that differ]} for the metamers kept although they differ)."""
    from .settings import asked_schedule, schedule_differences

    s = settings
    asked = {m: asked_schedule(registry.get(m), s.recipe, s.iterations, s.blocks, s.constants) for m in models}
    items, differ = [], {}
    for item in run.items if run is not None else []:
        diffs = schedule_differences(item.record, asked[item.model]) if item.model in asked else []
        if diffs and reuse_other:
            differ[item.model] = sorted({*differ.get(item.model, []), *diffs})
        if not diffs or reuse_other:
            items.append(item)
    return (type(run)(root=run.root, items=items, warnings=run.warnings) if run is not None else None), differ


def schedule_and_convergence(run, model: str) -> dict[str, Any] | None:
    """What the model's metamers were made with and how far they got: {"schedules": [{"recipe", "iterations",
    "blocks", "init_step"}], "stages": {stage: {"n", "final_loss_mean", "final_loss_max"}}}; final_loss is the
    normalised distance ‖a(metamer) − a(natural)‖ / ‖a(natural)‖ at the generation stage (0 = matched)."""
    items = [i for i in (run.items if run is not None else []) if i.model == model]
    if not items:
        return None
    schedules = {tuple((k, i.record.get("recipe", {}).get(k)) for k in ("name", "iterations", "blocks", "init_step"))
                 for i in items}
    stages: dict[str, list[float]] = {}
    for i in items:
        if isinstance(i.record.get("final_loss"), (int, float)):
            stages.setdefault(i.stage, []).append(float(i.record["final_loss"]))
    return {"schedules": [{("recipe" if k == "name" else k): v for k, v in sc} for sc in sorted(schedules, key=str)],
            "stages": {st: {"n": len(v), "final_loss_mean": sum(v) / len(v), "final_loss_max": max(v)}
                       for st, v in stages.items()}}


def _metamer_run(store: Path, extra: list[Path], say: Say):
    """The metamer run of the store (and of any extra run folder), or None."""
    from ..analysis.runs import Run, read_run

    runs = []
    for root in [store, *extra]:
        try:
            runs.append(read_run(root))
        except InputError:
            continue
    if not runs:
        return None
    run = Run(root=store, items=[i for r in runs for i in r.items], warnings=[w for r in runs for w in r.warnings])
    for w in run.warnings:
        say(w)
    return run


def _recognition_by_stage(table: list[dict[str, Any]], model: str) -> dict[str, dict[str, Any]]:
    """{stage: {"accuracy": mean over other models, "sem", "per_model": {recogniser: accuracy}, "self": …}}."""
    out: dict[str, dict[str, Any]] = {}
    for row in table:
        if row["generator"] != model:
            continue
        cell = out.setdefault(row["stage"], {"accuracy": None, "sem": None, "per_model": {}, "self": None})
        if row["recogniser"] == "mean":
            cell["accuracy"], cell["sem"] = row["accuracy"], row["sem"]
        elif row["self"]:
            cell["self"] = row["accuracy"]
        else:
            cell["per_model"][row["recogniser"]] = row["accuracy"]
    return out


def human_recognition(model_id: str) -> dict[str, Any] | None:
    """The study's published human recognition of the metamers of the study model named `model_id` (the first
    experiment that has it, in the study's order): {"experiment", "participants", "stages": {stage: {"accuracy",
    "sem"}}}, stages as the study's file names them (natural first); None when the study has no such model."""
    import numpy as np

    from ..humans.study import experiments, load

    for exp, names in experiments().items():
        if model_id in names:
            sm = next(m for m in load(exp) if m.model == model_id)
            n = np.sum(~np.isnan(sm.human), axis=0)
            mean = np.nanmean(sm.human, axis=0)
            sem = np.nanstd(sm.human, axis=0, ddof=1) / np.sqrt(n)
            return {"experiment": exp, "participants": int(sm.human.shape[0]),
                    "stages": {st: {"accuracy": float(a), "sem": float(e)} for st, a, e in zip(sm.stages, mean, sem)}}
    return None


def build_profiles(models: list[str], out: Path | str, store: Path | str, *, runs: list[Path] | None = None,
                   settings: ProfileSettings = ProfileSettings(), fill: bool = True, executor: str = "debug",
                   max_parallel: int | None = None, say: Say = lambda _m: None) -> dict[str, Any]:
    """Profiles of `models` written to OUT (index.html, <model>.html, profile.json, leaderboard.csv, figures/).

    Returns {"pages": [paths], "sweep": {"planned", "ran", "reused"} or None, "profiles": {model: profile}}.
    """
    from ..fileio import check_writable
    from ..plugins import registry as default_registry
    from ..sweep.executors import submit, wait
    from ..sweep.plan import parse_plan
    from ..sweep.store import Store
    from .render import write_pages

    reg = default_registry()
    for m in models:
        reg.get(m)  # unknown ids: one line with suggestions
    if len(set(models)) != len(models):
        raise InputError("a model is named twice; give each model once")
    out, store = Path(out), Path(store)
    check_writable(out)
    roots = [store, *(runs or [])]

    def on_disk():
        """(records, metamer run, {model: {measure: settings that differ}}) as the settings allow reuse."""
        have, differ = sort_by_settings(models, scan(roots, say), settings, reg, reuse_other=not fill)
        run, metamers_differ = comparable_metamers(_metamer_run(store, [r for r in (runs or []) if r != store], say),
                                                   models, settings, reg, reuse_other=not fill)
        for m, diffs in metamers_differ.items():
            differ.setdefault(m, {})["metamers"] = diffs
        return have, run, differ

    have, run, differ = on_disk()
    metamer_stages = {m: {i.stage for i in run.items if i.model == m} for m in models} if run else {}
    plan_data = plan_missing(models, have, metamer_stages, settings, reg)
    sweep = None
    if plan_data and fill:
        plan = parse_plan(plan_data, "profile", Path.cwd(), reg)
        st = Store(store)
        sub = submit(plan, st, executor=executor, max_parallel=max_parallel)
        say(f"profile sweep: {len(plan.units)} units, {sub.skipped_done} already done, {sub.todo} to run "
            f"({executor}) in {store}")
        failures = wait(sub, on_progress=lambda n: say(f"  {n}/{len(sub.chunks)} workers finished"),
                        on_unit=lambda uid, n, total: say(f"  {n}/{total} units done ({uid})"))
        sweep = {"planned": len(plan.units), "ran": sub.todo, "reused": sub.skipped_done,
                 "failed": [str(f) for f in failures], "store": str(store)}
        for f in failures:
            say(f"unit failed: {f}")
        have, run, differ = on_disk()
    elif plan_data:
        sweep = {"planned": sum(1 for _ in plan_data["groups"]), "ran": 0, "reused": 0, "failed": [],
                 "store": str(store), "skipped": "run without --fill"}
    recognition_table: list[dict[str, Any]] = []
    if run is not None:
        from ..analysis.recognition import recognise

        present = [m for m in models if m in run.models()]
        if present:
            sub_run = type(run)(root=run.root, items=[i for i in run.items if i.model in present])
            try:
                recognition_table = recognise(sub_run, models, n_boot=200, on_problem=say).table
            except MetazooError as e:
                say(f"recognition skipped: {e}")
    profiles: dict[str, Any] = {}
    for m in models:
        spec = reg.get(m)
        mine = have.get(m, {})
        profile = {"model": m, "description": spec.description, "modality": spec.modality,
                   "recognition": _recognition_by_stage(recognition_table, m),
                   "robustness": robustness_curves(mine.get("robustness", [])),
                   "ood": ood_scores(mine.get("ood", [])),
                   "readout": readout_by_stage(mine.get("readout", []), ["input_after_preproc", *spec.stage_names]),
                   "humans": human_recognition(m),
                   "metamers": schedule_and_convergence(run, m),
                   "settings_differ": differ.get(m, {}),
                   "sources": sorted({r["_path"] for recs in mine.values() for r in recs})}
        profile["leaderboard"] = leaderboard_row(m, profile)
        profiles[m] = profile
    pages = write_pages(profiles, out)
    return {"pages": pages, "sweep": sweep, "profiles": profiles}
