"""Sweeps on a real one-node SLURM cluster (started by tests/slurm_cluster.py; skipped without slurm-wlm)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from slurm_cluster import slurm_cluster  # noqa: F401  (the session fixture)

METAZOO = [sys.executable, "-m", "metazoo_cli.app"]

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

PHOTOS = ["builtin:chelsea", "builtin:coffee", "builtin:rocket", "builtin:astronaut"]
SHORT = {"recipe": "feather2023", "iterations": 4, "blocks": 2}


def write_plan(folder: Path, partition: str, **fields) -> Path:
    plan = {"name": "lite0-slurm", "kind": "metamer", "models": ["efficientnet_lite0"],
            "stages": ["blocks_1", "blocks_3", "head"], "inputs": PHOTOS, "seeds": [0], "options": SHORT,
            "retries": 1, "slurm": {"partition": partition, "time_min": 10, "cpus_per_task": 1, "units_per_task": 6},
            **fields}
    path = folder / "plan.yaml"
    path.write_text(json.dumps(plan))
    return path


def test_metamer_sweep_on_slurm_then_status_and_collect(slurm_cluster, tmp_path, cli):  # noqa: F811
    plan = write_plan(tmp_path, slurm_cluster.partition)
    run = tmp_path / "run"
    res = cli("sweep", str(plan), "--executor", "slurm", "--out", str(run), env={"OMP_NUM_THREADS": "1"},
              timeout=400)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "12 to run in 2 array task(s) (slurm)" in res.stderr
    assert "sacct" not in res.stdout  # stdout carries results only

    status = cli("status", str(run))
    assert status.returncode == 0 and "done 12 · running 0 · failed 0 · pending 0 (of 12 units)" in status.stdout

    collected = cli("collect", str(run))
    assert collected.returncode == 0 and "12 records" in collected.stdout
    df = pd.read_parquet(run / "records.parquet")
    assert len(df) == 12 and df["unit"].is_unique
    assert sorted(df.groupby("stage").size().tolist()) == [4, 4, 4]
    assert (df["recipe.iterations"] == 4).all() and (df["schema"] == "metazoo.metamer/1").all()
    jobs = {json.loads(p.read_text())["job"] for p in (run / "units").glob("*/done.json")}
    assert len(jobs) == 2 and all("_" in j for j in jobs)  # two tasks of one SLURM job array
    assert len({j.split("_")[0] for j in jobs}) == 1


def test_slurm_worker_killed_mid_unit_then_rerun(slurm_cluster, tmp_path, cli):  # noqa: F811
    plan = write_plan(tmp_path, slurm_cluster.partition, stages=["blocks_1", "head"], inputs=PHOTOS[:2],
                      slurm={"partition": slurm_cluster.partition, "time_min": 10, "cpus_per_task": 1,
                             "units_per_task": 4})
    run = tmp_path / "run"
    first = subprocess.Popen([*METAZOO, "sweep", str(plan), "--executor", "slurm", "--out", str(run)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline, killed = time.monotonic() + 240, None
    while killed is None and time.monotonic() < deadline:
        done = list((run / "units").glob("*/done.json")) if (run / "units").exists() else []
        for lock in (run / "locks").glob("*.lock") if done else []:
            try:
                info = json.loads(lock.read_text())
            except (OSError, ValueError):
                continue
            os.kill(info["pid"], signal.SIGSTOP)
            uid = lock.name.removesuffix(".lock")
            if lock.exists() and not (run / "units" / uid / "done.json").exists():
                os.kill(info["pid"], signal.SIGKILL)
                killed = (uid, info)
                break
            os.kill(info["pid"], signal.SIGCONT)
        time.sleep(0.02)
    assert killed is not None, "no unit in progress to kill"
    _, err = first.communicate(timeout=200)
    assert first.returncode == 2 and "ended abnormally" in err, err[-2000:]
    before = {p.parent.name: p.read_text() for p in (run / "units").glob("*/done.json")}
    assert killed[0] not in before

    res = cli("sweep", str(plan), "--executor", "slurm", "--out", str(run), env={"OMP_NUM_THREADS": "1"},
              timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    after = {p.parent.name: p.read_text() for p in (run / "units").glob("*/done.json")}
    assert len(after) == 4 and {u: after[u] for u in before} == before
    lost = json.loads((run / "failures" / f"{killed[0]}.json").read_text())
    assert [f["type"] for f in lost] == ["WorkerLost"] and killed[1]["job"] in lost[0]["error"]
    status = cli("status", str(run))
    assert "done 4 · running 0 · failed 0 · pending 0" in status.stdout
