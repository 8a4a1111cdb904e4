"""Probe S7: stopping a local sweep by the job id it prints (submitit's wrapper process) stops its worker too,
and a rerun reports the true state and finishes the work."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from metazoo_core.sweep.store import Store

PLAN = {"name": "kill", "kind": "activations", "models": ["efficientnet_lite0"], "stages": ["blocks_1", "head"],
        "inputs": ["builtin:chelsea"], "seeds": [0], "retries": 2}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _sweep(plan: Path, root: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "metazoo_cli.app", "sweep", str(plan), "--executor", "local",
                             "-j", "1", "--out", str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.slow
def test_killing_the_printed_job_id_stops_the_worker(tmp_path):
    plan = tmp_path / "kill.yaml"
    plan.write_text(json.dumps(PLAN))
    store = Store(tmp_path / "run")
    sweep = _sweep(plan, store.root)
    deadline = time.monotonic() + 180
    worker = None
    while worker is None and time.monotonic() < deadline:
        for lock in (store.root / "locks").glob("*.lock"):
            try:
                worker = json.loads(lock.read_text())["pid"]
                os.kill(worker, signal.SIGSTOP)  # hold it mid-unit
                break
            except (OSError, ValueError, KeyError):
                worker = None
        time.sleep(0.02)
    assert worker is not None, "the worker never claimed a unit"
    wrapper = _ppid(worker)  # submitit's wrapper: the job id the sweep prints
    try:
        os.kill(wrapper, signal.SIGKILL)
        out, err = sweep.communicate(timeout=120)
        for _ in range(100):
            if not _alive(worker):
                break
            time.sleep(0.05)
        assert not _alive(worker), "the worker outlived its job"
    finally:
        if _alive(worker):
            os.kill(worker, signal.SIGKILL)
    assert sweep.returncode == 2 and f"job {wrapper}" in err, err  # 2: some units failed (user guide)
    assert f"local job(s) {wrapper} (`kill ID` stops that job's worker)" in err
    rerun = _sweep(plan, store.root)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert "done 2 · running 0 · failed 0 · pending 0" in out
