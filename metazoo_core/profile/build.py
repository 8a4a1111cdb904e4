"""`build_profiles`: reuse what is on disk, run the missing measurements as one sweep, then write the pages.

Measurements per model and where they come from:
- metamers (metamer units of the sweep, at `stages` from `inputs`), scored by every other profiled model (and the
  model itself, shown apart) with `metazoo_core.analysis.recognition.recognise`;
- adversarial robustness (robustness units, untargeted PGD at the input, one per norm);
- ImageNet-C (ood units, generated corruptions of `inputs`);
- per-stage linear readout (readout units) when `readout_data` (a labelled folder) is given;
- human recognition of the model's metamers: the study's published data when the model is a study model of the same
  name (`metazoo_core.humans.study`).
A measurement found on disk (records under `runs`, or units already done in the store) is not planned again.
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
    norms: tuple[str, ...] = ("linf",)
    eps: dict[str, tuple[float, ...]] = field(default_factory=lambda: {
        "linf": (0.0, 1e-3, 4e-3, 1.6e-2), "l2": (0.0, 0.1, 1.0, 10.0), "l1": (0.0, 10.0, 100.0, 1000.0)})
    steps: int = 64
    subsets: int = 5
    n: int = 1024
    corruptions: tuple[str, ...] | None = None
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)
    readout_data: str | None = None
    readout_options: dict[str, Any] = field(default_factory=dict)


def plan_missing(models: list[str], have: dict[str, dict[str, list]], metamer_models: set[str],
                 settings: ProfileSettings, registry) -> dict[str, Any] | None:
    """The sweep plan (a mapping, as in a plan file) of every missing measurement; None when nothing is missing."""
    groups: list[dict[str, Any]] = []
    s = settings

    def stages_for(kinds: list[str]) -> dict[str, list[str]]:
        return {m: list(s.stages) if s.stages else registry.get(m).stage_names for m in kinds}

    need_metamers = [m for m in models if m not in metamer_models]
    if need_metamers:
        opts: dict[str, Any] = {"recipe": s.recipe}
        if s.iterations is not None:
            opts["iterations"] = s.iterations
        if s.blocks is not None:
            opts["blocks"] = s.blocks
        groups.append({"kind": "metamer", "models": need_metamers, "stages": stages_for(need_metamers),
                       "inputs": list(s.inputs), "seeds": [s.seed], "options": opts})
    for norm in s.norms:
        done = {m for m in models for r in have.get(m, {}).get("robustness", [])
                if r.get("norm") == norm and r.get("attack", "untargeted") == "untargeted"}
        todo = [m for m in models if m not in done]
        if todo:
            groups.append({"kind": "robustness", "models": todo, "inputs": list(s.inputs), "seeds": [s.seed],
                           "options": {"norm": norm, "eps": list(s.eps[norm]), "steps": s.steps,
                                       "subsets": s.subsets, "n": s.n}})
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
    have = scan(roots)
    run = _metamer_run(store, [r for r in (runs or []) if r != store], say)
    metamer_models = set(run.models()) if run else set()
    plan_data = plan_missing(models, have, metamer_models, settings, reg)
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
        have = scan(roots)
        run = _metamer_run(store, [r for r in (runs or []) if r != store], say)
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
                   "sources": sorted({r["_path"] for recs in mine.values() for r in recs})}
        profile["leaderboard"] = leaderboard_row(m, profile)
        profiles[m] = profile
    pages = write_pages(profiles, out)
    return {"pages": pages, "sweep": sweep, "profiles": profiles}
