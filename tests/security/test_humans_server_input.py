"""Probes of issue 27, classes 2 and 5 (server): the response server refuses non-finite, out-of-range and deeply
nested numbers with 422 and stores nothing for them; a bad row put into SQLite behind its back is skipped and
reported, so `GET /results` answers, also after a restart; every startup error is one line and writes nothing.
A real server process on 127.0.0.1 and a real SQLite file."""
from __future__ import annotations

import json
import re
import sqlite3
import urllib.request
from pathlib import Path

import pytest

import humans_experiment as H
from metazoo_core.humans import design as D
from probes import assert_one_line, invoke
from test_humans_server import OPTIONS, Server, call, rows

pytestmark = pytest.mark.usefixtures("jspsych_cached")  # the page needs jsPsych in the run's cache

SETTINGS = D.Settings(practice=2, catch=2)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    return H.write(tmp_path_factory.mktemp("server"))


def trial(plan: list[dict], i: int, timing: str = '{"method": "test"}', rt: str = "321.5") -> bytes:
    return (f'{{"trial": {i}, "response": "{plan[i]["answer"]}", "rt_ms": {rt}, "timing": {timing}}}').encode()


HOSTILE = {
    "NaN in timing": {"timing": '{"method": "x", "stimulus_ms": NaN}'},
    "Infinity deep in timing": {"timing": '{"frames": [1, 2, {"t": Infinity}]}'},
    "-Infinity in timing": {"timing": '{"x": -Infinity}'},
    "overflowing float": {"timing": '{"x": 1e400}'},
    "float beyond 2^53": {"timing": '{"x": 1e300}'},
    "5000-digit integer": {"timing": '{"x": ' + "9" * 5000 + "}"},
    "NaN rt": {"rt": "NaN"},
    "nesting 3000 deep": {"timing": "[" * 3000 + "]" * 3000},
    "nesting 9 deep": {"timing": '{"a":' * 9 + "1" + "}" * 9},
}


def test_non_finite_numbers_get_422_and_bad_rows_never_break_results(experiment, tmp_path):
    folder = H.copy(experiment, tmp_path / "exp")
    plan = D.plan(D.load_design(folder, SETTINGS), 1)
    server = Server(folder)
    try:
        link = server.links["P001"]
        assert call(f"{link}/trials", trial(plan, 0))[0] == 200
        for name, parts in HOSTILE.items():
            status, body = call(f"{link}/trials", trial(plan, 1, **parts))
            assert status == 422, (name, status, body)
            assert "\n" not in body["error"] and "Traceback" not in body["error"]
        assert [r[1] for r in rows(folder)] == [0]  # nothing stored for them
        status, results = call(f"{server.base}/results?token={server.token}")
        assert status == 200 and len(results["trials"]) == 1 and results["skipped"] == []
    finally:
        server.stop()

    # rows written into SQLite behind the server's back: non-finite JSON, an infinite time, text that is not
    # JSON (and not UTF-8), a flag that is not 0/1, a participant without a plan number
    good = dict(zip(("participant", "trial", "kind", "condition", "stimulus", "mask", "answer", "response",
                     "correct", "rt_ms", "practice", "catch", "analysed", "fixation_ms", "stimulus_ms",
                     "mask_ms", "requested", "timing", "received"),
                    ("P001", 0, "main", "natural", "stimuli/x.png", None, "cat", "cat", 1, 300.0, 0, 0, 1, 300.0,
                     200.0, 200.0, '{"fixation": 300}', "{}", 1.0)))
    bad = [{"trial": 5, "timing": '{"stimulus_ms": NaN}'}, {"trial": 6, "rt_ms": float("inf")},
           {"trial": 7, "requested": "not json"}, {"participant": "P002", "trial": 0, "correct": "yes"}]
    with sqlite3.connect(folder / "responses.sqlite") as db:
        for b in bad:
            row = {**good, **b}
            db.execute(f"INSERT INTO trials ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                       list(row.values()))
        # a response that is not UTF-8, a participant without a plan number
        db.execute("UPDATE trials SET response = CAST(X'FFFE' AS TEXT) WHERE participant = 'P001' AND trial = 7")
        db.execute("INSERT INTO participants VALUES ('P999', 'tok-P999-0123456789', 'x', 1.0)")
    server = Server(folder)
    try:
        status, results = call(f"{server.base}/results", headers={"Authorization": f"Bearer {server.token}"})
        with urllib.request.urlopen(f"{server.base}/", timeout=10) as res:
            page_status, page = res.status, res.read().decode()
        tokens = [server.token, *(u.rsplit("/", 1)[1] for u in server.links.values())]
    finally:
        log = server.stop()
    assert status == 200
    assert [(r["participant"], r["trial"]) for r in results["trials"]] == [("P001", 0)]
    assert [p["participant"] for p in results["participants"]] == ["P001", "P002"]
    assert len(results["skipped"]) == 5 and all("skipped" in line for line in results["skipped"])
    assert "P999" in results["skipped"][0]
    for line, column in zip(results["skipped"][1:], ("timing", "rt_ms", "response", "correct")):
        assert f"'{column}'" in line, line
    assert sum("was skipped" in line for line in log.splitlines()) == 5
    # the status page: experiment name and counts, no secret
    assert page_status == 200 and page.startswith("<!DOCTYPE html>")
    assert "exp" in page and re.search(r'id="participants">2<', page)
    assert re.search(r'id="completed">0<', page) and re.search(r'id="trials">5<', page)
    assert not any(t in page for t in tokens)


def _corrupt(folder: Path, case: str) -> list[str]:
    """Damage the experiment for one startup probe; returns the extra command-line options."""
    table = H.rows(folder)
    if case == "db text":
        (folder / "notes.db").write_text("not a database\n")
        return ["--db", str(folder / "notes.db")]
    if case == "db folder":
        (folder / "dbdir").mkdir()
        return ["--db", str(folder / "dbdir")]
    if case == "db under a file":
        return ["--db", str(folder / "trials.csv" / "responses.sqlite")]
    if case == "db foreign":
        with sqlite3.connect(folder / "other.sqlite") as db:
            db.execute("CREATE TABLE trials (id INTEGER, note TEXT)")
        return ["--db", str(folder / "other.sqlite")]
    if case == "session corrupt":
        (folder / "session.json").write_text('{"schema": "metazoo.session/1", "settings": ')
    elif case == "session latin-1":
        (folder / "session.json").write_bytes('{"settings": {"seed": "caf\u00e9"}}'.encode("latin-1"))
    elif case == "session list":
        (folder / "session.json").write_text("[1, 2]")
    elif case == "session folder":
        (folder / "session.json").mkdir()
    elif case == "participant not a number":
        H.write_rows(folder, [{**table[0], "participant": "P1"}, *table[1:]])
    elif case == "trials latin-1":
        H.write_rows(folder, [{**table[0], "condition": "caf\u00e9"}, *table[1:]], encoding="latin-1")
    return []


CASES = {"db text": "not a SQLite database", "db folder": "not a file", "db under a file": "not a folder",
         "db foreign": "did not write", "session corrupt": "session file", "session latin-1": "session file",
         "session list": "session file", "session folder": "not a file",
         "participant not a number": "'P1' is not a list number", "trials latin-1": "not a UTF-8 CSV"}


@pytest.mark.parametrize("case", list(CASES))
def test_startup_errors_are_one_line_and_write_nothing(experiment, tmp_path, case):
    folder = H.copy(experiment, tmp_path / "exp")
    extra = _corrupt(folder, case)
    before = H.tree(folder)
    assert_one_line(invoke("experiment", str(folder), "--serve", "--port", "0", *OPTIONS, *extra), CASES[case])
    assert H.tree(folder) == before
    assert_one_line(invoke("experiment", str(folder), "--export", str(tmp_path / "b"), *OPTIONS, *extra)
                    if not extra else invoke("humans", "collect", str(folder), *extra))
    assert H.tree(folder) == before and not (tmp_path / "b").exists()


def test_posted_json_is_parsed_strictly():
    from metazoo_core.errors import InputError
    from metazoo_core.humans.strict_json import MAX_NUMBER, NotJson, RefusedValue, depth, loads

    assert loads(b'{"a": [1, 2.5, "[[[{"], "b": {"c": -9007199254740992}}', "x") == {
        "a": [1, 2.5, "[[[{"], "b": {"c": -MAX_NUMBER}}
    assert depth('{"a": "[[[[", "b": [[1]]}') == 3 and depth("1") == 0
    for text, kind in [("NaN", RefusedValue), ("[1e309]", RefusedValue), ("9007199254740993", RefusedValue),
                       ("[" * 9 + "]" * 9, RefusedValue), ("{", NotJson), (b"\xff", InputError)]:
        with pytest.raises(kind):
            loads(text, "x")
    assert json.dumps(loads("[" * 8 + "]" * 8, "x")).count("[") == 8
