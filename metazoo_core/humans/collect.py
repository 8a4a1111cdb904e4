"""`metazoo humans collect RUN`: stored responses → per-participant proportions correct, exclusions with reasons,
and the study's analyses (human recognition per condition with SEM; SI Table 1 per model; SI Table 2 per pair).

Sources: the `--serve` database (EXPERIMENT/responses.sqlite) and/or files from an online platform: the page's
download (`{"participant", "trials": [...]}`) or the posted records (one JSON object per line). Every file record
is validated against the participant's plan exactly as the server validates a POST (design.check_submission).

Proportions use the main trials that are analysed (SI Tables 5/6: image placeholders count as natural, sound
placeholders are dropped). The network's score on a trial is 1 when the generating model's decision on the metamer
shown equals its decision on the natural input (record.json "prediction"), and 1 on natural trials.
Exclusions (defaults, all options): catch-trial accuracy below 0.75; headphone check (sounds) below the session's
pass mark (5 of 6); an incomplete session (not every trial of the plan answered).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..analysis.runs import NATURAL, Run, read_run
from ..errors import InputError
from . import design as D
from .anova import comparison_permutation_p, model_comparison, observer_stage
from .strict_json import NotJson, RefusedValue, loads


@dataclass(frozen=True)
class Thresholds:
    """Exclusion rules: minimum catch accuracy in [0, 1], minimum headphone-check trials correct (None: the
    session's pass mark), and whether an unfinished session excludes the participant."""

    catch_min: float = 0.75
    headphone_min: int | None = None
    require_complete: bool = True


def plan_number(participant: str, n_lists: int) -> int:
    """The list an exported page gives this participant id (the same hash as static/experiment.js; ids of
    characters outside the Basic Multilingual Plane hash differently there)."""
    h = 0
    for ch in participant:
        h = (h * 31 + ord(ch)) & 0xFFFFFFFF
    return h % n_lists + 1


def _from_db(path: Path) -> tuple[dict[str, tuple[int, list[dict[str, Any]]]], list[str]]:
    """Participants → (plan, stored trials), and one line per stored row that was skipped."""
    from .store import ResponseStore

    if not path.exists():
        raise InputError(f"{path} not found; serve the experiment first or give exported files with --responses")
    store = ResponseStore(path)
    try:
        snapshot = store.snapshot()
    finally:
        store.close()
    out = {p["participant"]: (p["plan"], []) for p in snapshot["participants"]}
    for row in snapshot["trials"]:
        if row["participant"] in out:
            out[row["participant"]][1].append(row)
    return out, snapshot["skipped"]


def _records(path: Path) -> tuple[list[tuple[str, Any]], list[str]]:
    """(participant id, record) pairs of one --responses file (the page's download or JSON lines), and one line
    per JSON line that was skipped for holding a refused value (NaN, a number out of range, deep nesting)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"--responses {path} cannot be read ({e.strerror or e}); give the page's download or "
                         "the posted records") from None
    where = f"--responses {path}"
    problems: list[str] = []
    lines = [(i, line) for i, line in enumerate(data.splitlines(), start=1) if line.strip()]
    if len(lines) > 1 and _one_value(lines[0][1]):  # JSON lines: a refused line is skipped, the rest kept
        parsed = []
        for i, line in lines:
            try:
                parsed.append(loads(line, f"{where}, line {i}"))
            except RefusedValue as e:
                problems.append(f"{e}; skipped")
    else:
        parsed = loads(data, where)
    if isinstance(parsed, dict) and isinstance(parsed.get("trials"), list):
        return [(str(parsed.get("participant", "")), r) for r in parsed["trials"]], problems
    if isinstance(parsed, list):
        return [(str(r.get("participant", "")) if isinstance(r, dict) else "", r) for r in parsed], problems
    raise InputError(f"{path}: expected the page's download or one posted record per line")


def _one_value(line: bytes) -> bool:
    """Whether a line is a JSON value by itself (the first line of JSON lines, not of a pretty-printed file)."""
    try:
        loads(line, "")
    except NotJson:
        return False
    except InputError:  # a value, but a refused one
        pass
    return True


def _from_files(design: D.Design, files: Sequence[Path]) -> tuple[dict[str, tuple[int, list]], list[str]]:
    out: dict[str, tuple[int, list[dict[str, Any]]]] = {}
    problems: list[str] = []
    for path in files:
        records, skipped = _records(Path(path))
        problems += skipped
        for participant, record in records:
            if not participant:
                problems.append(f"{path}: a record without a participant id was skipped")
                continue
            number = plan_number(participant, design.n_lists)
            plan = D.plan(design, number)
            try:
                row = D.check_submission(design, plan, participant, record)
            except InputError as e:
                problems.append(f"{path}: {e}; skipped")
                continue
            rows = out.setdefault(participant, (number, []))[1]
            if all(r["trial"] != row["trial"] for r in rows):
                rows.append(row)
    return out, problems


def _network_correct(run: Run, stimulus: str) -> float | None:
    """1/0: the generating model's decision on the shown metamer matches its decision on the natural input."""
    parts = stimulus.split("/")
    if len(parts) != 4 or parts[0] != "stimuli" or parts[1] == NATURAL:
        return 1.0
    model, stage, name = parts[1], parts[2], parts[3].rsplit(".", 1)[0]
    item = run.get(model, name, stage)
    match = ((item.record.get("prediction") or {}).get("match")) if item else None
    return None if match is None else float(bool(match))


def _mean_sem(x: np.ndarray) -> dict[str, list[float | None]]:
    mean = np.nanmean(x, axis=0) if len(x) else np.full(x.shape[1], np.nan)
    n = np.sum(~np.isnan(x), axis=0)
    sem = np.where(n > 1, np.nanstd(x, axis=0, ddof=1) / np.sqrt(np.maximum(n, 1)), np.nan) if len(x) else mean
    return {"mean": [None if np.isnan(v) else float(v) for v in mean],
            "sem": [None if np.isnan(v) else float(v) for v in sem]}


def _effects(effects: dict) -> dict[str, dict[str, float]]:
    return {k: {"F": e.F, "df1": e.df1, "df2": e.df2, "p": e.p, "np2": e.np2} for k, e in effects.items()}


def collect(folder: Path | str, db: Path | str | None = None, files: Sequence[Path] = (),
            thresholds: Thresholds = Thresholds(), compare: Sequence[tuple[str, str]] | None = None,
            permutations: int = 0) -> dict[str, Any]:
    """Read responses of the experiment in `folder` (or RUN/experiment) and analyse them; see the module doc."""
    folder = Path(folder)
    if not (folder / "trials.csv").is_file() and (folder / "experiment" / "trials.csv").is_file():
        folder = folder / "experiment"
    design = D.load_design(folder, D.saved_settings(folder))
    meta = loads((folder / "experiment.json").read_bytes(), str(folder / "experiment.json"), max_depth=64) \
        if (folder / "experiment.json").is_file() else {}
    run_dir = Path(meta["run"]) if isinstance(meta, dict) and isinstance(meta.get("run"), str) else folder.parent
    run = read_run(run_dir)
    notes: list[str] = list(run.warnings)
    sources: dict[str, tuple[int, list[dict[str, Any]]]] = {}
    if db is not None or not files:
        stored, skipped = _from_db(Path(db or folder / "responses.sqlite"))
        sources.update(stored)
        notes += skipped
    if files:
        extra, problems = _from_files(design, files)
        notes += problems
        for pid, (number, rows) in extra.items():
            if pid in sources:
                notes.append(f"participant {pid} appears in the database and in files; the database is used")
                continue
            sources[pid] = (number, rows)
    if not sources:
        raise InputError(f"no participants found for {folder}")

    conditions = [NATURAL] + [f"{m}:{s}" for m in run.models() for s in run.stages(m)]
    headphone_min = design.settings.headphone_pass if thresholds.headphone_min is None else thresholds.headphone_min
    people = []
    for pid, (number, rows) in sorted(sources.items()):
        plan = D.plan(design, number)
        by_kind = {k: [r for r in rows if r["kind"] == k] for k in ("main", "catch", "headphone", "practice")}
        reasons = []
        if thresholds.require_complete and len(rows) < len(plan):
            reasons.append(f"incomplete: {len(rows)} of {len(plan)} trials")
        catch_acc = (np.mean([r["correct"] for r in by_kind["catch"]]) if by_kind["catch"] else None)
        if catch_acc is not None and catch_acc < thresholds.catch_min:
            reasons.append(f"catch trials {catch_acc:.2f} correct < {thresholds.catch_min:.2f}")
        heard = sum(r["correct"] for r in by_kind["headphone"])
        if design.modality == "audio" and by_kind["headphone"] and heard < headphone_min:
            reasons.append(f"headphone check {heard} of {D.HEADPHONE_TRIALS} < {headphone_min}")
        human: dict[str, list[float]] = {}
        network: dict[str, list[float]] = {}
        for r in by_kind["main"]:
            if not r["analysed"]:
                continue
            human.setdefault(r["condition"], []).append(float(r["correct"]))
            net = _network_correct(run, r["stimulus"])
            network.setdefault(r["condition"], []).append(np.nan if net is None else net)
        people.append({"participant": pid, "plan": number, "included": not reasons, "reasons": reasons,
                       "trials": len(rows), "planned": len(plan),
                       "catch_accuracy": None if catch_acc is None else float(catch_acc),
                       "headphone_correct": heard if design.modality == "audio" else None,
                       "human": {c: float(np.mean(v)) for c, v in human.items()},
                       "network": {c: float(np.mean(v)) for c, v in network.items()},
                       "n": {c: len(v) for c, v in human.items()}})
    included = [p for p in people if p["included"]]

    def matrix(key: str, conds: list[str]) -> np.ndarray:
        return np.array([[p[key].get(c, np.nan) for c in conds] for p in included], dtype=float).reshape(
            len(included), len(conds))

    models = []
    for m in run.models():
        conds = [NATURAL] + [f"{m}:{s}" for s in run.stages(m)]
        h, n = matrix("human", conds), matrix("network", conds)
        entry: dict[str, Any] = {"model": m, "stages": conds, "participants": len(included),
                                 "human": _mean_sem(h), "network": _mean_sem(n), "observer_stage": None}
        complete = ~np.isnan(h).any(axis=1) & ~np.isnan(n).any(axis=1)
        if complete.sum() >= 2:
            if complete.sum() < len(included):
                notes.append(f"{m}: {len(included) - int(complete.sum())} participant(s) lack a condition and are "
                             "left out of SI Table 1's ANOVA")
            entry["observer_stage"] = _effects(observer_stage(h[complete], n[complete]))
        else:
            notes.append(f"{m}: fewer than 2 participants with every condition; SI Table 1's ANOVA skipped")
        models.append(entry)
    pairs = list(compare) if compare else [(a, b) for i, a in enumerate(run.models()) for b in run.models()[i + 1:]
                                           if len(run.stages(a)) == len(run.stages(b))]
    comparisons = []
    for a, b in pairs:
        if a not in run.models() or b not in run.models():
            raise InputError(f"--compare {a},{b}: the run has models {', '.join(run.models())}")
        if len(run.stages(a)) != len(run.stages(b)):
            raise InputError(f"--compare {a},{b}: the models have different numbers of stages")
        ha = matrix("human", [NATURAL] + [f"{a}:{s}" for s in run.stages(a)])
        hb = matrix("human", [NATURAL] + [f"{b}:{s}" for s in run.stages(b)])
        ok = ~np.isnan(ha).any(axis=1) & ~np.isnan(hb).any(axis=1)
        if ok.sum() < 2:
            notes.append(f"{a} vs {b}: fewer than 2 participants with every condition; SI Table 2's ANOVA skipped")
            continue
        effects = _effects(model_comparison(ha[ok], hb[ok]))
        if permutations:
            for key in effects:
                effects[key]["p"] = comparison_permutation_p(ha[ok], hb[ok], key, permutations)
        comparisons.append({"model_1": a, "model_2": b, **effects})
    return {"experiment": str(folder), "modality": design.modality, "conditions": conditions,
            "thresholds": {"catch_min": thresholds.catch_min, "headphone_min": headphone_min,
                           "require_complete": thresholds.require_complete},
            "participants": people, "included": len(included), "models": models, "comparisons": comparisons,
            "notes": notes}
