"""Probes of issue 27, class 5 (`humans collect` and the trial list): missing, unreadable, latin-1 or deeply
nested --responses, a --db that is not SQLite or not metazoo's, a participant that is not a number in trials.csv —
each one line and a nonzero exit, no traceback, no summary written, nothing changed; a posted record with NaN is
skipped with a note while the other records are analysed."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

import humans_experiment as H
from metazoo_core.humans import design as D
from metazoo_core.humans.collect import plan_number
from probes import assert_one_line, invoke


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    return H.write(tmp_path_factory.mktemp("collect"))


def posted(folder: Path, pid: str) -> list[dict]:
    """The records the page would post for one participant answering every trial right."""
    design = D.load_design(folder, D.saved_settings(folder))
    plan = D.plan(design, plan_number(pid, design.n_lists))
    return [{"participant": pid, "trial": t["index"], "response": t["answer"], "rt_ms": 400.0,
             "timing": {"method": "test", "stimulus_ms": 200.0}} for t in plan]


def _case(folder: Path, tmp_path: Path, case: str) -> tuple[list[str], str]:
    """Write one hostile input; returns (collect options, a part of the expected error line)."""
    if case == "missing":
        return ["--responses", str(tmp_path / "nope.json")], "cannot be read"
    if case == "folder":
        return ["--responses", str(tmp_path)], "cannot be read"
    if case == "latin-1":
        path = tmp_path / "latin1.json"
        path.write_bytes(json.dumps({"participant": "caf\u00e9", "trials": []}, ensure_ascii=False)
                         .encode("latin-1"))
        return ["--responses", str(path)], "not UTF-8"
    if case == "nested":
        path = tmp_path / "deep.json"
        path.write_text("[" * 200_000 + "]" * 200_000)
        return ["--responses", str(path)], "nested deeper than 8"
    if case == "NaN download":
        path = tmp_path / "nan.json"
        path.write_text(json.dumps({"participant": "X", "trials": [{"trial": 0, "rt_ms": float("nan")}]}, indent=1))
        return ["--responses", str(path)], "NaN"
    if case == "db text":
        (tmp_path / "x.sqlite").write_text("plain text\n")
        return ["--db", str(tmp_path / "x.sqlite")], "not a SQLite database"
    if case == "db foreign":
        with sqlite3.connect(tmp_path / "y.sqlite") as db:
            db.execute("CREATE TABLE participants (name TEXT)")
        return ["--db", str(tmp_path / "y.sqlite")], "did not write"
    table = H.rows(folder)
    H.write_rows(folder, [*table[:3], {**table[3], "participant": "2x"}, *table[4:]])
    return [], "line 5: participant '2x'"


CASES = ["missing", "folder", "latin-1", "nested", "NaN download", "db text", "db foreign", "participant"]


@pytest.mark.parametrize("case", CASES)
def test_collect_input_errors_are_one_line(experiment, tmp_path, case):
    folder = H.copy(experiment, tmp_path / "exp")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    options, needle = _case(folder, inputs, case)
    before, given = H.tree(folder), H.tree(inputs)
    assert_one_line(invoke("humans", "collect", str(folder), *options), needle)
    assert H.tree(folder) == before and H.tree(inputs) == given
    assert not (folder / "humans.json").exists()


def test_a_posted_line_with_nan_is_skipped_and_the_rest_analysed(experiment, tmp_path):
    folder = H.copy(experiment, tmp_path / "exp")
    records = [json.dumps(r) for r in posted(folder, "A")]
    records[1] = records[1].replace("400.0", "NaN")
    path = tmp_path / "posted.jsonl"
    path.write_text("\n".join(records))
    res = invoke("humans", "collect", str(folder), "--responses", str(path), "--json")
    assert res.code == 0, res.stderr
    summary = json.loads((folder / "humans.json").read_text())
    (person,) = summary["participants"]
    assert person["trials"] == len(records) - 1 and person["reasons"] == [f"incomplete: {len(records) - 1} of "
                                                                          f"{len(records)} trials"]
    assert any("line 2" in n and "NaN" in n and "skipped" in n for n in summary["notes"])
