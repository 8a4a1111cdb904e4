"""The trial logic of a human recognition session, shared by `--serve` and `--export`.

An experiment folder (written by `metazoo experiment`: trials.csv with one list per participant, experiment.json,
stimuli/) becomes, per participant, a `plan`: a list of trials the page runs in order. Images: 16 practice trials
(the first half slower), the participant's main trials, then 16 catch trials that show a category icon itself
(the study's online task). Sounds: a headphone check (6 antiphase-tone trials, Woods et al. 2017), practice, main
trials and catch trials (clips of words from the 793-word vocabulary). Every trial index is the trial's key in
storage; answers and allowed responses are fixed here, never taken from the browser.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..labels import categories16
from .trial_list import read_trial_list

PRACTICE_SLOW = (500, 400, 400)
"""Fixation, image, mask (ms) of the first half of the practice trials (the study's online example)."""

HEADPHONE_TRIALS = 6
"""Trials of the antiphase headphone check (Woods et al. 2017: 6 trials, pass with at least 5 correct)."""


@dataclass(frozen=True)
class Settings:
    """Durations in ms (SI defaults: fixation 300, image 200, pink-noise mask 200), trial counts, sizes in CSS px."""

    fixation_ms: int = 300
    stimulus_ms: int = 200
    mask_ms: int = 200
    practice: int = 16
    catch: int = 16
    stimulus_px: int = 224
    icon_px: int = 96
    headphone_pass: int = 5
    seed: int = 0

    def check(self) -> None:
        for name in ("fixation_ms", "stimulus_ms", "mask_ms", "stimulus_px", "icon_px"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be a positive number (got {getattr(self, name)})")
        if self.practice < 0 or self.catch < 0:
            raise InputError("--practice and --catch must be 0 or more")
        if not 0 <= self.headphone_pass <= HEADPHONE_TRIALS:
            raise InputError(f"--headphone-pass must be between 0 and {HEADPHONE_TRIALS}")


@lru_cache(maxsize=1)
def vocabulary() -> list[str]:
    """The study's 793 words, alphabetical (the `all_words` list of its released audio page; MIT)."""
    return json.loads(resources.files(__package__).joinpath("vocabulary793.json").read_text())["words"]


def word_answer(category: str) -> str:
    """The expected word of an audio trial: the label itself when it is a word, else the network's output index
    (794 outputs: the null class at 0, then the words in `vocabulary` order, `labels.WORD_ORDER_SOURCE`)."""
    words = vocabulary()
    if category in words:
        return category
    try:
        i = int(category)
    except ValueError:
        raise InputError(f"audio label '{category}' is neither a vocabulary word nor an output index") from None
    if not 1 <= i <= len(words):
        raise InputError(f"audio label {i} is outside the 793-word vocabulary (indices 1–793; 0 is the null class)")
    return words[i - 1]


@dataclass
class Design:
    """An experiment folder read for serving: modality, per-participant main trials, allowed responses."""

    root: Path
    modality: str  # "vision" or "audio"
    lists: dict[int, list[dict[str, str]]]  # participant number (1-based) → trials.csv rows in order
    settings: Settings
    responses: list[str] = field(default_factory=list)

    @property
    def n_lists(self) -> int:
        return len(self.lists)


def load_design(folder: Path | str, settings: Settings | None = None) -> Design:
    """Read trials.csv and check that every stimulus file is inside the folder (trial_list.read_trial_list)."""
    root = Path(folder)
    settings = settings or Settings()
    settings.check()
    path = root / "trials.csv"
    rows = read_trial_list(root)
    modality = "audio" if rows[0]["stimulus"].endswith(".wav") else "vision"
    lists: dict[int, list[dict[str, str]]] = {}
    for r in rows:
        lists.setdefault(int(r["participant"]), []).append(r)
    responses = vocabulary() if modality == "audio" else categories16()
    bad = sorted({r["category"] for r in rows} - set(responses)) if modality == "vision" else []
    if bad:
        raise InputError(f"{path}: answer(s) {', '.join(bad[:3])} are not among the 16 categories")
    if modality == "audio":
        for r in rows:
            word_answer(r["category"])
    return Design(root=root, modality=modality, lists=lists, settings=settings, responses=list(responses))


def _answer(design: Design, category: str) -> str:
    return word_answer(category) if design.modality == "audio" else category


def plan(design: Design, participant: int) -> list[dict[str, Any]]:
    """The participant's trials in order; participant n (1-based) uses list ((n−1) mod lists) + 1.

    Each trial: index, kind (headphone/practice/main/catch), condition, stimulus (URL path relative to the
    experiment), mask (image trials), answer, durations {fixation, stimulus, mask} in ms, analysed.
    """
    s = design.settings
    rows = design.lists[(participant - 1) % design.n_lists + 1]
    rng = np.random.default_rng([s.seed, participant])
    out: list[dict[str, Any]] = []

    def add(kind: str, condition: str, stimulus: str, answer: str, durations: tuple[int, int, int],
            analysed: bool = False) -> None:
        if design.modality == "audio" and kind != "headphone":
            durations = (0, clip_ms(design.root / stimulus), 0)
        out.append({"index": len(out), "kind": kind, "condition": condition, "stimulus": stimulus,
                    "answer": answer, "analysed": analysed,
                    "durations": dict(zip(("fixation", "stimulus", "mask"), durations))})

    main_d = (s.fixation_ms, s.stimulus_ms, s.mask_ms)
    if design.modality == "audio":
        from .media import GAP_S, TONE_S

        for quiet, anti in headphone_order(rng):
            add("headphone", "headphone", f"headphone/tones_{quiet}{anti}.wav", str(quiet + 1),
                (0, round(1000 * (3 * TONE_S + 2 * GAP_S)), 0))
    naturals = [r for r in rows if r["shown"] == "natural"] or rows
    for i in range(s.practice):
        r = naturals[int(rng.integers(len(naturals)))]
        add("practice", r["shown"], r["stimulus"], _answer(design, r["category"]),
            PRACTICE_SLOW if i < s.practice // 2 else main_d)
    for r in rows:
        add("main", r["shown"], r["stimulus"], _answer(design, r["category"]), main_d,
            analysed=r["analysed"].lower() == "true")
    if design.modality == "vision":
        cats = categories16()
        for c in np.resize(rng.permutation(len(cats)), s.catch):
            add("catch", "catch", f"icons/{cats[c]}.svg", cats[c], main_d)
    else:
        for _ in range(s.catch):
            r = naturals[int(rng.integers(len(naturals)))]
            add("catch", "catch", r["stimulus"], _answer(design, r["category"]), main_d)
    if design.modality == "vision":
        masks = rng.permutation(n_masks(design))
        for t in out:
            t["mask"] = f"masks/mask_{int(masks[t['index'] % len(masks)]):04d}.png"
    return out


@lru_cache(maxsize=4096)
def clip_ms(path: Path) -> int:
    """Length of a sound file in ms (what an audio trial requests to be played)."""
    import soundfile as sf

    info = sf.info(str(path))
    return round(1000 * info.frames / info.samplerate)


def n_masks(design: Design) -> int:
    """Masks in the pool: one per trial of the longest plan, so no mask repeats within a session."""
    s = design.settings
    return s.practice + max(len(v) for v in design.lists.values()) + s.catch


def headphone_order(rng: np.random.Generator) -> list[tuple[int, int]]:
    """HEADPHONE_TRIALS (quiet tone position, antiphase tone position) pairs, positions 0–2, quiet ≠ antiphase."""
    pairs = [(q, a) for q in range(3) for a in range(3) if q != a]
    return [pairs[i] for i in rng.permutation(len(pairs))[:HEADPHONE_TRIALS]]


def allowed(design: Design, trial: dict[str, Any]) -> list[str]:
    """The responses the page may send for this trial."""
    return ["1", "2", "3"] if trial["kind"] == "headphone" else design.responses


def browser_plan(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The plan as sent to the page: answers removed except the headphone check's (the page decides pass/fail),
    the last headphone trial flagged `last_check`."""
    checks = [t["index"] for t in trials if t["kind"] == "headphone"]
    return [{k: v for k, v in t.items() if k != "answer" or t["kind"] == "headphone"}
            | ({"last_check": True} if checks and t["index"] == checks[-1] else {}) for t in trials]


SESSION_FILE = "session.json"
"""Written into the experiment folder by --serve/--export: the settings the plans were made with."""


def save_settings(design: Design, keep_existing: bool) -> None:
    """Record the settings; with keep_existing (responses already stored), refuse settings that differ, since
    the plans — and so the stored trial indices — depend on them."""
    from ..fileio import write_json

    path = design.root / SESSION_FILE
    current = asdict(design.settings)
    if keep_existing and path.is_file():
        before = json.loads(path.read_text()).get("settings", {})
        changed = sorted(k for k in current if before.get(k) != current[k])
        if changed:
            raise InputError(f"{path}: responses were collected with other settings ({', '.join(changed)}); "
                             "use the same options, or start a new database with --db")
    write_json(path, {"schema": "metazoo.session/1", "settings": current})


def saved_settings(folder: Path | str) -> Settings:
    """The settings of an experiment's sessions (defaults when it was never served or exported)."""
    path = Path(folder) / SESSION_FILE
    if not path.is_file():
        return Settings()
    try:
        return Settings(**json.loads(path.read_text())["settings"])
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"{path} is not a metazoo session file ({e}); delete it or serve the experiment again") \
            from None


def public_settings(design: Design) -> dict[str, Any]:
    return {"modality": design.modality, **asdict(design.settings), "responses": design.responses}


MAX_TIMING_MS = 60_000.0


def _number(payload: dict[str, Any], key: str, where: str) -> float | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) \
            or not 0 <= value <= MAX_TIMING_MS * 10:
        raise InputError(f"{where}: '{key}' must be a number of ms between 0 and {MAX_TIMING_MS * 10:.0f}")
    return float(value)


def check_submission(design: Design, trials: list[dict[str, Any]], participant: str,
                     payload: Any) -> dict[str, Any]:
    """Validate one posted trial against the participant's plan; returns the row to store (see store.COLUMNS).

    The payload carries only what the browser measured: trial (index), response, rt_ms and timing
    {fixation_ms, stimulus_ms, mask_ms, method, …}; condition, stimulus, mask and answer come from the plan.
    """
    import time

    where = f"participant {participant}"
    if not isinstance(payload, dict):
        raise InputError(f"{where}: the body must be a JSON object")
    index = payload.get("trial")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(trials):
        raise InputError(f"{where}: 'trial' must be an integer 0–{len(trials) - 1} (got {index!r})")
    trial = trials[index]
    response = payload.get("response")
    choices = allowed(design, trial)
    if not isinstance(response, str) or response.strip().lower() not in choices:
        shown = response if isinstance(response, str) and len(response) < 40 else type(response).__name__
        raise InputError(f"{where}, trial {index}: response {shown!r} is not one of the {len(choices)} allowed "
                         "answers")
    response = response.strip().lower()
    timing = payload.get("timing") or {}
    if not isinstance(timing, dict) or len(json.dumps(timing)) > 4000:
        raise InputError(f"{where}, trial {index}: 'timing' must be a small JSON object")
    measured = {k: _number(timing, k, f"{where}, trial {index}") for k in ("fixation_ms", "stimulus_ms", "mask_ms")}
    return {"participant": participant, "trial": index, "kind": trial["kind"], "condition": trial["condition"],
            "stimulus": trial["stimulus"], "mask": trial.get("mask"), "answer": trial["answer"],
            "response": response, "correct": int(response == trial["answer"].lower()),
            "rt_ms": _number(payload, "rt_ms", f"{where}, trial {index}"), "practice": int(trial["kind"] == "practice"),
            "catch": int(trial["kind"] == "catch"), "analysed": int(trial["analysed"]), **measured,
            "requested": json.dumps(trial["durations"]), "timing": json.dumps(timing), "received": time.time()}
