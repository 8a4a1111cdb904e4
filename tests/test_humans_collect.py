"""`metazoo humans collect`: simulated participants with known answers give the exact proportions, the expected
exclusions, and SI Table 1/2 F values equal to an independent computation (pingouin via analysis.stats)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from metazoo_core.humans import design as D
from metazoo_core.humans.collect import Thresholds, collect, plan_number
from metazoo_core.humans.store import ResponseStore

pytestmark = pytest.mark.usefixtures("jspsych_cached")  # the page needs jsPsych in the run's cache

M1, M2 = "efficientnet_lite0", "efficientnet_lite1"
SETTINGS = D.Settings(practice=2, catch=4)


def right(pid: int, trial: dict) -> bool:
    """The simulated participant's rule: wrong on every (pid + 2)-th trial index, and on all catch trials for
    participant 5 (an inattentive participant)."""
    if trial["kind"] == "catch":
        return pid != 5
    return trial["index"] % (pid + 2) != 0


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    from metazoo_core.analysis.runs import read_run
    from metazoo_core.experiment import write_experiment
    from test_recognition import write_run

    root = tmp_path_factory.mktemp("collect")
    labels = {"chelsea": "cat", "coffee": "bottle", "clock": "clock"}
    for model in (M1, M2):
        write_run(root / "run", model, labels=labels)
    for rec in (root / "run" / M1).glob("*/final/record.json"):  # the network misses its own final-stage metamers
        data = json.loads(rec.read_text())
        data["prediction"]["match"] = False
        rec.write_text(json.dumps(data))
    write_experiment(read_run(root / "run"), root / "run" / "experiment", total=20, seed=0, participants=6)
    folder = root / "run" / "experiment"
    design = D.load_design(folder, SETTINGS)
    D.save_settings(design, keep_existing=False)
    store = ResponseStore(folder / "responses.sqlite")
    for participant, _, number in store.ensure_participants(6):
        plan = D.plan(design, number)
        stop = len(plan) // 2 if number == 6 else len(plan)  # participant 6 leaves halfway
        for t in plan[:stop]:
            wrong = next(c for c in design.responses if c != t["answer"])
            store.record(D.check_submission(design, plan, participant, {
                "trial": t["index"], "response": t["answer"] if right(number, t) else wrong, "rt_ms": 500}))
    store.close()
    return folder


def expected(folder: Path) -> dict[int, dict[str, float]]:
    """Proportions from the plans and the rule, computed without the collect code."""
    design = D.load_design(folder, SETTINGS)
    out = {}
    for pid in range(1, 7):
        plan = D.plan(design, pid)
        if pid == 6:
            plan = plan[:len(plan) // 2]
        hits: dict[str, list[bool]] = {}
        for t in plan:
            if t["kind"] == "main" and t["analysed"]:
                hits.setdefault(t["condition"], []).append(right(pid, t))
        out[pid] = {c: sum(v) / len(v) for c, v in hits.items()}
    return out


def test_proportions_and_exclusions_are_exact(experiment):
    result = collect(experiment.parent)  # the run folder: its experiment/ is found
    people = {p["participant"]: p for p in result["participants"]}
    want = expected(experiment)
    for pid in range(1, 7):
        assert people[f"P{pid:03d}"]["human"] == pytest.approx(want[pid], abs=1e-12)
    assert [p["included"] for p in result["participants"]] == [True] * 4 + [False, False]
    assert people["P005"]["reasons"] == ["catch trials 0.00 correct < 0.75"]
    assert people["P006"]["reasons"][0].startswith("incomplete: ")
    assert result["included"] == 4
    # the network: correct on natural and input_after_preproc, wrong on its final-stage metamers (record.json)
    net = people["P001"]["network"]
    assert net[f"{M1}:final"] == 0.0 and net[f"{M1}:input_after_preproc"] == 1.0 and net["natural"] == 1.0
    # thresholds are options
    lenient = collect(experiment, thresholds=Thresholds(catch_min=0.0, require_complete=False))
    assert lenient["included"] == 6


def test_si_tables_equal_an_independent_computation(experiment):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pingouin")
    from metazoo_core.analysis.stats import model_comparison_anova, observer_stage_anova

    result = collect(experiment)
    want = expected(experiment)
    stages = {m: ["natural", f"{m}:input_after_preproc", f"{m}:final"] for m in (M1, M2)}
    rows = []
    for pid in range(1, 5):
        for m in (M1, M2):
            for s in stages[m]:
                net = 0.0 if s == f"{M1}:final" else 1.0
                rows += [{"subject": f"h{pid}", "observer": "human", "model": m, "stage": s.split(":")[-1],
                          "accuracy": want[pid][s]},
                         {"subject": f"n{pid}", "observer": "network", "model": m, "stage": s.split(":")[-1],
                          "accuracy": net}]
    frame = pd.DataFrame(rows)
    models = {m["model"]: m for m in result["models"]}
    for m in (M1, M2):
        ref = observer_stage_anova(frame[frame.model == m])
        got = models[m]["observer_stage"]
        for key in ("main", "interaction"):
            assert got[key]["F"] == pytest.approx(ref[key].F, rel=1e-9)
            assert (got[key]["df1"], got[key]["df2"]) == (ref[key].df1, ref[key].df2)
            assert got[key]["np2"] == pytest.approx(ref[key].np2, rel=1e-9)
    humans = frame[frame.observer == "human"].rename(columns={"subject": "participant"})
    ref = model_comparison_anova(humans, subject="participant")
    (comparison,) = result["comparisons"]
    assert (comparison["model_1"], comparison["model_2"]) == (M1, M2)
    for key in ("main", "interaction"):
        assert comparison[key]["F"] == pytest.approx(ref[key].F, rel=1e-9)
        assert comparison[key]["df2"] == ref[key].df2 == (3 if key == "main" else 6)
    assert models[M1]["human"]["mean"] == pytest.approx(
        [np.mean([want[p][s] for p in range(1, 5)]) for s in stages[M1]])


def test_exported_files_are_validated_like_posts(experiment, tmp_path):
    design = D.load_design(experiment, SETTINGS)
    pid = "PROLIFIC_abc"
    plan = D.plan(design, plan_number(pid, design.n_lists))
    records = [{"participant": pid, "trial": t["index"], "response": t["answer"], "rt_ms": 400} for t in plan]
    records.append({"participant": pid, "trial": 0, "response": "zebra"})  # invalid: skipped with a note
    download = tmp_path / "download.json"
    download.write_text(json.dumps({"participant": pid, "trials": records}))
    lines = tmp_path / "posted.jsonl"
    lines.write_text("\n".join(json.dumps({**r, "participant": "other"}) for r in records[:3]))
    result = collect(experiment, db=experiment / "responses.sqlite", files=[download, lines])
    people = {p["participant"]: p for p in result["participants"]}
    assert people[pid]["included"] and all(v == 1.0 for v in people[pid]["human"].values())
    assert people["other"]["reasons"][0].startswith("incomplete: 3 of")
    assert any("zebra" in n for n in result["notes"])


def test_cli_collect_json_and_bad_input(experiment, tmp_path):
    from typer.testing import CliRunner

    from metazoo_cli.app import app
    from metazoo_core.errors import InputError

    res = CliRunner().invoke(app, ["humans", "collect", str(experiment), "--json", "--out", str(tmp_path / "h.json"),
                                   "--permutations", "500", "--plot", str(tmp_path / "c.svg")])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["included"] == 4 and json.loads((tmp_path / "h.json").read_text()) == data
    assert 1 / 500 <= data["comparisons"][0]["main"]["p"] <= 1 and (tmp_path / "c.svg").read_text().startswith("<?xml")
    res = CliRunner().invoke(app, ["humans", "collect", str(experiment), "--compare", "onlyone"])
    assert isinstance(res.exception, InputError) and "\n" not in str(res.exception)  # main() prints one line


def test_report_shows_the_human_results(experiment, tmp_path):
    """`metazoo report RUN` includes what `humans collect` wrote: curves, the SI Table 1/2 effects as collect
    computed them, and every participant with the reasons for an exclusion; values are shown as text."""
    from metazoo_core.analysis.stats import Effect, format_F
    from metazoo_core.fileio import write_json
    from metazoo_core.report import build_report

    result = collect(experiment.parent)
    hostile = json.loads(json.dumps(result))
    hostile["participants"][0]["participant"] = "<script>document.title='x'</script>"
    write_json(experiment / "humans.json", hostile)
    try:
        page, _ = build_report(experiment.parent, tmp_path / "r.html")
    finally:
        (experiment / "humans.json").unlink()
    html = page.read_text()
    assert "<h2>Human recognition</h2>" in html
    assert f"{result['included']} of {len(result['participants'])} participants included" in html
    assert 'src="data:image/png;base64,' in html.split("<h2>Human recognition</h2>")[1]
    for m in result["models"]:
        main = m["observer_stage"]["main"]
        assert format_F(Effect(source="", **main)) in html
    assert "&lt;script&gt;document.title" in html and "<script>document.title" not in html
    assert "incomplete: " in html  # participant 6's exclusion reason
