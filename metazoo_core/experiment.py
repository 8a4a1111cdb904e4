"""Trial lists for a human recognition experiment like the study's (SI Tables 5 and 6), prepared from a run.

Conditions: "natural" plus one per (model, stage) in the run. Allocation (SI Table 5): each of the N conditions
first gets ceiling(total/N) trials, then trials are removed at random from the pooled list until `total` remain
(so a condition holds at most ceiling(total/N) trials). Stimuli: the run's inputs are dealt to the trials in a
shuffled, cycling order (each input used as evenly as possible). A trial whose metamer failed the acceptance
criteria (or is missing) shows the natural input instead: for images it is analysed as an additional natural
trial (SI Table 5), for sounds it is played but not analysed (SI Table 6). Metamers whose acceptance was not
evaluated (no null distribution) are used as they are. Each participant gets an independent list (own seed).
The correct answer of a trial is the generating model's decision on the natural input; a design in which that
cannot measure recognition (one answer for every trial, or inputs outside the study's 16 categories, whose 16-way
answer is a class far down the model's list) is refused unless asked for (docs/fidelity.md, "Inputs outside the 16
categories").
"""
from __future__ import annotations

import csv
import io
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .analysis.runs import NATURAL, Run, out_of_category
from .errors import InputError
from .fileio import atomic_path, check_writable, write_json, write_text

DEFAULT_TRIALS = 400


@dataclass(frozen=True)
class Trial:
    trial: int
    condition: str
    """"natural" or "<model>:<stage>" (the allocated condition)"""
    shown: str
    """what the trial shows: the allocated condition, or "natural" for a placeholder"""
    input: str
    category: str
    """the expected answer: the generating model's decision on the natural input (16-way category or word)"""
    stimulus: str
    """the media file, relative to the experiment folder"""
    placeholder: bool
    analysed: bool


def allocate(n_conditions: int, total: int = DEFAULT_TRIALS, seed: int = 0) -> list[int]:
    """Trials per condition: ceiling(total/N) each, then random removals from the pooled trials down to `total`."""
    if n_conditions < 1 or total < 1:
        raise InputError(f"need at least one condition and one trial (got {n_conditions} and {total})")
    per = math.ceil(total / n_conditions)
    pooled = np.repeat(np.arange(n_conditions), per)
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(pooled.size, size=total, replace=False))
    return np.bincount(pooled[keep], minlength=n_conditions).tolist()


def conditions(run: Run, models: Sequence[str] | None = None) -> list[tuple[str, str | None, str | None]]:
    """[(condition, model, stage)]: natural first, then each model's stages shallow to deep."""
    chosen = list(models) if models else run.models()
    unknown = [m for m in chosen if m not in run.models()]
    if unknown:
        raise InputError(f"model(s) {', '.join(unknown)} not in run {run.root}; it holds {', '.join(run.models())}")
    modalities = {run.modality(m) for m in chosen}
    if len(modalities) > 1:
        raise InputError("an experiment mixes images and sounds; choose models of one modality with --models")
    out: list[tuple[str, str | None, str | None]] = [(NATURAL, None, None)]
    for m in chosen:
        out += [(f"{m}:{s}", m, s) for s in run.stages(m)]
    return out


def build_trials(run: Run, models: Sequence[str] | None = None, total: int = DEFAULT_TRIALS,
                 seed: int = 0) -> tuple[list[Trial], dict[str, Path], list[str]]:
    """(trials in presentation order, {stimulus path: source file}, notes)."""
    conds = conditions(run, models)
    chosen = [m for _, m, _ in conds if m]
    modality = run.modality(chosen[0])
    # natural inputs: the first model's originals (all models of one run share the inputs they were given)
    naturals: dict[str, tuple[Path, str]] = {}
    for m in dict.fromkeys(chosen):
        for name, value in run.originals(m).items():
            naturals.setdefault(name, value)
    inputs = sorted(naturals)
    counts = allocate(len(conds), total, seed)
    rng = np.random.default_rng(seed + 1)
    slots = np.repeat(np.arange(len(conds)), counts)
    rng.shuffle(slots)
    order = [inputs[i] for i in rng.permutation(len(inputs))]
    ext = ".wav" if modality == "audio" else ".png"
    trials: list[Trial] = []
    media: dict[str, Path] = {}
    notes: list[str] = []
    if len(inputs) < total:
        notes.append(f"{len(inputs)} natural inputs for {total} trials: each input is shown about "
                     f"{total / len(inputs):.1f} times (the study used a different input on every trial)")
    n_placeholder = n_unchecked = 0
    for t, c in enumerate(slots):
        name = order[t % len(order)]
        cond, model, stage = conds[c]
        item = run.get(model, name, stage) if model else None
        placeholder = model is not None and (item is None or item.passed is False)
        if model is None or placeholder:
            rel = f"stimuli/natural/{name}{ext}"
            media[rel] = naturals[name][0]
            shown = NATURAL
        else:
            rel = f"stimuli/{model}/{stage}/{name}{ext}"
            media[rel] = item.metamer_file
            shown = cond
        n_placeholder += placeholder
        n_unchecked += item is not None and item.passed is None
        trials.append(Trial(trial=t + 1, condition=cond, shown=shown, input=name, category=naturals[name][1],
                            stimulus=rel, placeholder=placeholder,
                            analysed=not (placeholder and modality == "audio")))
    if n_placeholder:
        rule = ("analysed as natural trials (SI Table 5)" if modality == "vision"
                else "played but not analysed (SI Table 6)")
        notes.append(f"{n_placeholder} trials show the natural input because the metamer failed or is missing; {rule}")
    if n_unchecked:
        notes.append(f"{n_unchecked} trials show metamers whose acceptance was not evaluated (the run had no null "
                     "distribution); the study only showed metamers that passed")
    return trials, media, notes


def summary(trials: Sequence[Trial]) -> dict[str, Any]:
    """Counts per allocated condition and per analysed condition (placeholders counted as natural for images)."""
    allocated: dict[str, int] = {}
    analysed: dict[str, int] = {}
    for t in trials:
        allocated[t.condition] = allocated.get(t.condition, 0) + 1
        if t.analysed:
            analysed[t.shown] = analysed.get(t.shown, 0) + 1
    return {"n_trials": len(trials), "n_conditions": len(allocated), "allocated": allocated, "analysed": analysed}


def out_of_category_inputs(run: Run, models: Sequence[str] | None = None) -> list[str]:
    """One line per input of the chosen models whose top-1 ImageNet class is outside the 16 categories: its
    correct answer would be a category far down the model's list (`analysis.runs.out_of_category`)."""
    chosen = set(models) if models else set(run.models())
    return out_of_category(i.record for i in run.items if i.model in chosen)


def degenerate_answers(rows: Sequence[dict[str, Any]], outside: Sequence[str]) -> list[str]:
    """Why a design's correct answers cannot measure recognition (empty when they can): every analysed trial has
    the same answer, or inputs' answers come from outside the 16 categories (`outside`: their notice lines)."""
    reasons = []
    answers = sorted({r["category"] for r in rows if r["analysed"]})
    if len(answers) == 1:
        reasons.append(f"all {sum(bool(r['analysed']) for r in rows)} analysed trials have the answer "
                       f"'{answers[0]}', so always answering it scores 100 %")
    if outside:
        reasons.append(f"{len(outside)} input(s) have a top-1 class outside the study's 16 categories, so their "
                       f"answer is arbitrary ({outside[0].split(';')[0]})")
    return reasons


def aggregate_notes(notes: Sequence[tuple[int, str]], participants: int) -> list[str]:
    """One line per kind of note over participants: notes that differ only in their leading count ("12 trials show
    …", "15 trials show …") become "participants 1–3, 5: 12–15 trials show …" (all participants: "each participant:
    …"); notes without a count are kept once. Order: first appearance."""
    import re

    groups: dict[str, list[tuple[int, int | None]]] = {}
    for participant, note in notes:
        m = re.match(r"(\d+) (.*)", note)
        key = m.group(2) if m else note
        groups.setdefault(key, []).append((participant, int(m.group(1)) if m else None))
    lines = []
    for text, hits in groups.items():
        counts = sorted({c for _, c in hits if c is not None})
        if not counts:
            lines.append(text)
            continue
        who = sorted({p for p, _ in hits})
        span = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
        head = "each participant" if participants > 1 and len(who) == participants else \
            ("" if participants == 1 else f"participant{'s' if len(who) > 1 else ''} {_ranges(who)}")
        lines.append(f"{head}: {span} {text}" if head else f"{span} {text}")
    return lines


def _ranges(ids: list[int]) -> str:
    """"1–3, 5" for [1, 2, 3, 5] (sorted ids)."""
    parts, start = [], ids[0]
    for prev, cur in zip(ids, [*ids[1:], None]):
        if cur is None or cur != prev + 1:
            parts.append(f"{start}" if start == prev else f"{start}–{prev}")
            start = cur
    return ", ".join(parts)


def write_experiment(run: Run, out_dir: Path | str, models: Sequence[str] | None = None,
                     total: int = DEFAULT_TRIALS, seed: int = 0, participants: int = 1,
                     allow_degenerate: bool = False) -> tuple[Path, list[str]]:
    """Under `out_dir`: trials.csv (one list per participant, seeds seed, seed+1, …; a `participant` column),
    experiment.json (settings, counts per participant, `degenerate` reasons and `allow_degenerate`) and stimuli/;
    returns (csv path, notes). A design with degenerate answers (`degenerate_answers`) is refused with one line,
    nothing written, unless `allow_degenerate`; an unwritable `out_dir` is one line too."""
    if participants < 1:
        raise InputError(f"--participants must be at least 1 (got {participants})")
    rows: list[dict[str, Any]] = []
    counts: list[dict[str, Any]] = []
    media: dict[str, Path] = {}
    per_participant: list[tuple[int, str]] = []
    for p in range(participants):
        trials, used, notes_p = build_trials(run, models, total, seed + p)
        media.update(used)
        per_participant += [(p + 1, n) for n in notes_p]
        rows += [{"participant": p + 1, **asdict(t)} for t in trials]
        counts.append({"participant": p + 1, "seed": seed + p, **summary(trials)})
    notes = aggregate_notes(per_participant, participants)
    outside = out_of_category_inputs(run, models)
    reasons = degenerate_answers(rows, outside)
    if reasons and not allow_degenerate:
        raise InputError("the design's correct answers are degenerate: " + "; ".join(reasons) + ". Use inputs of "
                         "at least 2 of the 16 categories, or pass --allow-degenerate to write it anyway")
    out_dir = check_writable(out_dir)
    for rel, src in media.items():
        with atomic_path(out_dir / rel) as tmp:
            shutil.copyfile(src, tmp)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(out_dir / "trials.csv", buf.getvalue())
    write_json(out_dir / "experiment.json", {"schema": "metazoo.experiment/1", "run": str(run.root), "total": total,
                                             "seed": seed, "participants": counts, "notes": notes,
                                             "degenerate": reasons, "allow_degenerate": allow_degenerate,
                                             "out_of_category": outside})
    return out_dir / "trials.csv", notes
