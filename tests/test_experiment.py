"""Human-experiment trial lists: the allocation SI Table 5 describes, placeholders for failed metamers, the files."""
import csv
import json
import math

import pytest

from metazoo_core.analysis.runs import NATURAL, read_run
from metazoo_core.errors import InputError
from metazoo_core.experiment import allocate, build_trials, summary
from test_recognition import AUDIO, VISION, write_run


@pytest.mark.parametrize("n_conditions, total", [(4, 400), (25, 400), (37, 400), (43, 400), (6, 200), (27, 400)])
def test_allocation_follows_si_table5(n_conditions, total):
    per = math.ceil(total / n_conditions)
    for seed in range(5):
        counts = allocate(n_conditions, total, seed)
        assert len(counts) == n_conditions and sum(counts) == total
        assert max(counts) <= per
        assert sum(per - c for c in counts) == per * n_conditions - total  # exactly the surplus was removed


def test_allocation_matches_si_table5_rows():
    # Visual Experiment 10: 4 conditions → 100 trials each; Experiment 12: 25 conditions → 16 each
    assert allocate(4, 400) == [100] * 4
    assert allocate(25, 400) == [16] * 25
    # Experiment 1: 37 conditions → ceiling 11, 7 surplus trials removed at random (average 10.8, SI: "10")
    counts = allocate(37, 400, seed=3)
    assert sum(counts) / 37 == pytest.approx(400 / 37) and max(counts) == 11
    assert allocate(37, 400, seed=3) == counts and allocate(37, 400, seed=4) != counts  # seeded


def test_trials_with_failed_metamers_become_natural_placeholders(tmp_path):
    failed = {("coffee", "final"): False, ("clock", "final"): False, ("chelsea", "final"): True}
    run = read_run(write_run(tmp_path / "run", passed=failed))
    trials, media, notes = build_trials(run, total=30, seed=1)
    counts = allocate(3, 30, seed=1)  # natural, input_after_preproc, final
    s = summary(trials)
    assert s["allocated"] == {NATURAL: counts[0], f"{VISION}:input_after_preproc": counts[1],
                              f"{VISION}:final": counts[2]}
    final = [t for t in trials if t.condition == f"{VISION}:final"]
    placeholders = [t for t in final if t.input in ("coffee", "clock")]
    assert all(t.placeholder and t.shown == NATURAL and t.analysed for t in placeholders)
    assert all(not t.placeholder and t.shown == t.condition for t in final if t.input == "chelsea")
    # SI Table 5: a placeholder is analysed as an additional natural trial
    assert s["analysed"][NATURAL] == counts[0] + len(placeholders)
    assert s["analysed"].get(f"{VISION}:final", 0) == len(final) - len(placeholders)
    assert all(t.stimulus in media for t in trials)
    assert any("each input is shown" in n for n in notes) and any("natural input" in n for n in notes)


def test_audio_placeholders_are_not_analysed(tmp_path):
    run = read_run(write_run(tmp_path / "run", AUDIO, inputs=("apple", "water"),
                             passed={("apple", "final"): False}, labels={"apple": "3", "water": "9"}))
    trials, _, _ = build_trials(run, total=24, seed=0)
    ph = [t for t in trials if t.placeholder]
    assert ph and all(not t.analysed and t.stimulus.endswith(".wav") for t in ph)  # SI Table 6
    assert {t.category for t in trials} == {"3", "9"}


def test_cli_writes_trial_list_and_stimuli(cli, tmp_path):
    root = write_run(tmp_path / "run", passed={("coffee", "final"): False},
                     labels={"chelsea": "cat", "coffee": "bottle", "clock": "clock"})  # one answer only is refused
    r = cli("experiment", str(root), "--trials", "40", "--seed", "2", "--participants", "3")
    assert r.returncode == 0, r.stderr
    out = root / "experiment"
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert len(rows) == 3 * 40
    assert [int(r["trial"]) for r in rows if r["participant"] == "2"] == list(range(1, 41))
    assert all((out / r["stimulus"]).is_file() for r in rows)
    meta = json.loads((out / "experiment.json").read_text())
    for p, seed in zip(meta["participants"], (2, 3, 4)):  # one seed per participant
        assert p["seed"] == seed and p["n_conditions"] == 3 and sum(p["allocated"].values()) == 40
        assert sorted(p["allocated"].values()) == sorted(allocate(3, 40, seed=seed))
    # a metamer file is copied byte for byte
    shown = next(r for r in rows if r["shown"] == f"{VISION}:final")
    assert next(r for r in rows if r["placeholder"] == "True")["shown"] == NATURAL
    src = root / VISION / shown["input"] / "final" / "metamer.png"
    assert (out / shown["stimulus"]).read_bytes() == src.read_bytes()


def test_bad_model_choice_and_empty_run(cli, tmp_path):
    root = write_run(tmp_path / "run", inputs=("chelsea",))
    with pytest.raises(InputError, match="not in run"):
        build_trials(read_run(root), models=["alexnet"])
    (tmp_path / "empty").mkdir()
    r = cli("experiment", str(tmp_path / "empty"))
    assert r.returncode == 2 and "no usable metamer records" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "empty" / "experiment").exists()
