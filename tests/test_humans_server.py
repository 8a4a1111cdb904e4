"""`metazoo experiment … --serve`: durable SQLite storage across a SIGKILL, one row per trial however often it is
posted, and bad requests / bad set-ups rejected with a 4xx or one line while nothing stored changes."""
from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from metazoo_core.humans import design as D
from metazoo_core.humans import jspsych

SERVE = [sys.executable, "-m", "metazoo_cli.app", "experiment"]
OPTIONS = ["--practice", "2", "--catch", "2"]


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, jspsych_cached) -> Path:
    from metazoo_core.analysis.runs import read_run
    from metazoo_core.experiment import write_experiment
    from test_recognition import VISION, write_run

    root = tmp_path_factory.mktemp("humans")
    labels = {"chelsea": "cat", "coffee": "bottle", "clock": "clock"}
    write_run(root / "run", VISION, labels=labels)
    write_experiment(read_run(root / "run"), root / "experiment", total=8, seed=0, participants=2)
    return root / "experiment"


class Server:
    """`metazoo experiment FOLDER --serve` in a subprocess; waits (with a deadline) for its links to be printed."""

    def __init__(self, folder: Path, *extra: str, timeout: float = 120):
        self.proc = subprocess.Popen([*SERVE, str(folder), "--serve", "--port", "0", *OPTIONS, *extra],
                                     stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while not lines or "results:" not in lines[-1]:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                self.proc.kill()
                raise AssertionError(f"no links within {timeout} s: {''.join(lines)}") from None
            assert line is not None, f"server exited: {''.join(lines)}"
            lines.append(line)
        text = "".join(lines)
        self.links = dict(re.findall(r"(P\d+): (http://\S+)", text))
        self.base, self.token = re.search(r"results: (http://\S+)/results\s+\(token (\S+)\)", text).groups()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> str:
        """Terminate (kill if it does not exit in 30 s); returns what the server printed after its links."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=30)
        rest = []
        while (line := self.lines.get_nowait() if not self.lines.empty() else None) is not None:
            rest.append(line)
        return "".join(rest)


def call(url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})},
                                 method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as e:
        text = e.read()
        return e.code, json.loads(text) if text.startswith(b"{") else {"text": text.decode()}


def answer(link: str, plan: list[dict], i: int, response: str | None = None) -> tuple[int, dict]:
    body = {"trial": i, "response": response or plan[i]["answer"], "rt_ms": 321.5,
            "timing": {"method": "test", "fixation_ms": 300.0, "stimulus_ms": 200.0, "mask_ms": 200.0}}
    return call(f"{link}/trials", json.dumps(body).encode())


def rows(folder: Path) -> list[tuple]:
    with sqlite3.connect(folder / "responses.sqlite") as db:
        return db.execute("SELECT participant, trial, response, correct FROM trials ORDER BY participant, trial"
                          ).fetchall()


def test_sigkill_midway_then_continue_without_loss_or_duplicates(experiment, tmp_path):
    folder = tmp_path / "exp"
    import shutil

    shutil.copytree(experiment, folder)
    design = D.load_design(folder, D.Settings(practice=2, catch=2))
    plan = D.plan(design, 1)
    assert len(plan) == 2 + 8 + 2
    half = len(plan) // 2
    server = Server(folder)
    link = server.links["P001"]
    for i in range(half):
        assert answer(link, plan, i) == (200, {"stored": True, "trial": i, "next": i + 1})
    assert answer(link, plan, half - 1) == (200, {"stored": False, "trial": half - 1, "next": half})  # posted twice
    server.kill()
    assert [r[1] for r in rows(folder)] == list(range(half))

    server = Server(folder)
    assert server.links["P001"].split("/p/")[1] == link.split("/p/")[1]  # the link survives the restart
    link = server.links["P001"]  # (on the new port)
    status, session = call(f"{link}/session")
    assert status == 200 and session["next"] == half and session["done"] == list(range(half))
    assert all("answer" not in t for t in session["trials"])  # answers stay on the server
    for i in range(session["next"], len(plan)):
        assert answer(link, plan, i)[1]["stored"] is True
    assert answer(link, plan, 0)[1]["stored"] is False
    status, results = call(f"{server.base}/results", headers={"Authorization": f"Bearer {server.token}"})
    server.stop()
    assert status == 200
    stored = [(r["participant"], r["trial"]) for r in results["trials"]]
    assert stored == [("P001", i) for i in range(len(plan))]  # nothing lost, nothing twice
    assert all(r["correct"] == 1 and r["rt_ms"] == 321.5 for r in results["trials"])
    first = results["trials"][0]
    assert first["practice"] == 1 and first["requested"] == {"fixation": 500, "stimulus": 400, "mask": 400}
    assert results["trials"][-1]["catch"] == 1 and results["trials"][-1]["stimulus"].startswith("icons/")
    assert first["mask"].startswith("masks/") and first["timing"]["method"] == "test"
    assert len({r["mask"] for r in results["trials"]}) == len(plan)  # a different mask on every trial


def test_bad_requests_get_4xx_a_log_line_and_change_nothing(experiment, tmp_path):
    import shutil

    folder = tmp_path / "exp"
    shutil.copytree(experiment, folder)
    plan = D.plan(D.load_design(folder, D.Settings(practice=2, catch=2)), 1)
    server = Server(folder)
    link = server.links["P001"]
    assert answer(link, plan, 0)[0] == 200
    before = rows(folder)
    other = server.links["P002"]
    cases = [
        (400, call(f"{link}/trials", b"{not json")),
        (413, call(f"{link}/trials", b'{"trial": 1, "response": "cat", "pad": "' + b"x" * 20000 + b'"}')),
        (404, call(f"{server.base}/p/not-a-participant/trials", json.dumps({"trial": 1, "response": "cat"}).encode())),
        (422, answer(link, plan, 1, response="zebra")),
        (422, call(f"{link}/trials", json.dumps({"trial": 999, "response": "cat"}).encode())),
        (422, call(f"{link}/trials", json.dumps({"trial": "1", "response": "cat"}).encode())),
        (422, call(f"{link}/trials", json.dumps([1, 2]).encode())),
        (422, call(f"{link}/trials", json.dumps({"trial": 1, "response": "cat", "rt_ms": "fast"}).encode())),
        (401, call(f"{server.base}/results")),
        (401, call(f"{server.base}/results?token=wrong")),
        (404, call(f"{server.base}/media/trials.csv")),  # the trial lists (answers) are not served
    ]
    for expected, (status, body) in cases:
        assert status == expected, (expected, status, body)
    # a participant reads only their own session; another participant's link gives that one's plan
    assert call(f"{other}/session")[1]["participant"] == "P002"
    log = server.stop()
    assert rows(folder) == before
    assert len([line for line in log.splitlines() if "metazoo.humans.server" in line]) == 10
    assert "unknown participant" in log and "zebra" in log and link.rsplit("/", 1)[1] not in log


def _one_line_failure(args: list[str]) -> str:
    res = subprocess.run([*SERVE, *args], capture_output=True, text=True, timeout=120)
    assert res.returncode != 0
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr, res.stderr
    return res.stderr


def test_missing_stimulus_and_port_in_use_are_one_line(experiment, tmp_path):
    import shutil

    folder = tmp_path / "exp"
    shutil.copytree(experiment, folder)
    victim = sorted((folder / "stimuli").rglob("*.png"))[0]
    victim.unlink()
    msg = _one_line_failure([str(folder), "--serve", "--port", "0"])
    assert victim.name in msg and "missing" in msg
    assert not (folder / "responses.sqlite").exists()

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        port = busy.getsockname()[1]
        msg = _one_line_failure([str(experiment), "--serve", "--port", str(port)])
        assert str(port) in msg and "--port" in msg
    finally:
        busy.close()


def test_export_bundle_has_the_page_plans_and_media(experiment, tmp_path, jspsych_cached):
    out = tmp_path / "bundle"
    res = subprocess.run([*SERVE, str(experiment), "--export", str(out), "--post-url", "https://example.org/x",
                          *OPTIONS], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    html = (out / "index.html").read_text()
    assert '"mode": "export"' in html and "https://example.org/x" in html and "PROLIFIC_PID" in html
    plans = json.loads((out / "plans.json").read_text())
    assert len(plans) == 2 and all("answer" not in t for p in plans for t in p)
    for t in plans[0]:
        assert (out / t["stimulus"]).is_file() and (out / t["mask"]).is_file()
    assert len(list((out / "icons").glob("*.svg"))) == 16
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert len(scripts) == 4 and all((out / src).is_file() for src in scripts)
    for pkg in jspsych.PACKAGES:  # the browser builds of the integrity-checked npm packages, byte for byte
        assert (out / "static" / "jspsych" / pkg.served).read_bytes() == (jspsych_cached / pkg.served).read_bytes()


def test_jspsych_is_served_from_the_cache(experiment, tmp_path, jspsych_cached):
    import shutil

    folder = tmp_path / "exp"
    shutil.copytree(experiment, folder)
    server = Server(folder)
    try:
        for pkg in jspsych.PACKAGES:
            with urllib.request.urlopen(f"{server.base}/static/jspsych/{pkg.served}", timeout=10) as res:
                assert res.read() == (jspsych_cached / pkg.served).read_bytes()
        with urllib.request.urlopen(f"{server.base}/static/experiment.js", timeout=10) as res:
            assert res.status == 200  # the project's own static files still come from the package
    finally:
        server.stop()
