"""A real one-node SLURM cluster for the tests: munged + slurmctld + slurmd on this machine, in a temp folder.

Needs Debian's `slurm-wlm` (with munge) and root. The cluster gets its own slurm.conf, state folders and free
ports, so it never touches /etc/slurm or a cluster that is already running; `SLURM_CONF` points the client
commands (sbatch, squeue, scancel — and so submitit and its workers) at it. Daemons are stopped by the pids in
their pid files; munged only if this fixture started it.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

MUNGE_SOCKET = Path("/run/munge/munge.socket.2")
PARTITION = "debug"


@dataclass
class SlurmCluster:
    conf: Path
    folder: Path
    partition: str
    node: str


def missing_reason() -> str | None:
    if not shutil.which("slurmctld") or not shutil.which("slurmd") or not shutil.which("munged"):
        return "slurm-wlm is not installed (apt-get install -y slurm-wlm; .ci/system-packages.sh lists it)"
    if os.geteuid() != 0:
        return "starting a one-node SLURM cluster needs root (slurmd runs jobs as their user)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _write_conf(folder: Path, node: str) -> Path:
    for sub in ("ctld", "d", "log"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    mem_mb = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 2
    conf = folder / "slurm.conf"
    conf.write_text("\n".join([
        "ClusterName=metazoo-test",
        f"SlurmctldHost={node}",
        f"SlurmctldPort={_free_port()}",
        f"SlurmdPort={_free_port()}",
        "SlurmUser=root", "SlurmdUser=root",
        "AuthType=auth/munge", "CredType=cred/munge",
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
        "SchedulerType=sched/backfill", "SelectType=select/cons_tres", "SelectTypeParameters=CR_CPU",
        "ReturnToService=2", "MpiDefault=none", "SlurmctldTimeout=30", "SlurmdTimeout=30",
        "MinJobAge=30", "KillWait=2",
        f"StateSaveLocation={folder / 'ctld'}",
        f"SlurmdSpoolDir={folder / 'd'}",
        f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
        f"SlurmdPidFile={folder / 'slurmd.pid'}",
        f"SlurmctldLogFile={folder / 'log' / 'slurmctld.log'}",
        f"SlurmdLogFile={folder / 'log' / 'slurmd.log'}",
        f"PlugStackConfig={folder / 'plugstack.conf'}",
        f"NodeName={node} CPUs={os.cpu_count()} RealMemory={mem_mb} State=UNKNOWN",
        f"PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP",
        "",
    ]))
    (folder / "plugstack.conf").write_text("")
    return conf


def _munge_works() -> bool:
    if not MUNGE_SOCKET.exists():
        return False
    cred = subprocess.run(["munge", "-n"], capture_output=True)
    return cred.returncode == 0 and subprocess.run(["unmunge"], input=cred.stdout, capture_output=True).returncode == 0


def _start_munge() -> int | None:
    """Start munged unless one answers already; returns its pid when this call started it."""
    if _munge_works():
        return None
    run = Path("/run/munge")
    run.mkdir(parents=True, exist_ok=True)
    shutil.chown(run, "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"], check=True, capture_output=True)
    for _ in range(50):
        if _munge_works():
            return int((run / "munged.pid").read_text())
        time.sleep(0.1)
    raise RuntimeError("munged did not come up")


def _stop(pidfile: Path) -> None:
    try:
        pid = int(pidfile.read_text())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def _wait_idle(env: dict, node: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    state = ""
    while time.monotonic() < deadline:
        res = subprocess.run(["sinfo", "-h", "-n", node, "-o", "%t"], capture_output=True, text=True, env=env)
        state = res.stdout.strip()
        if state == "idle":
            return
        time.sleep(0.5)
    raise RuntimeError(f"SLURM node {node} did not become idle (state '{state}')")


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """Start the cluster once per test session; yields a SlurmCluster and sets SLURM_CONF meanwhile."""
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    node = socket.gethostname()
    folder = tmp_path_factory.mktemp("slurm")
    conf = _write_conf(folder, node)
    old_conf = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)
    munge_pid = _start_munge()
    started: list[Path] = []
    try:
        for daemon, pidfile in (("slurmctld", "slurmctld.pid"), ("slurmd", "slurmd.pid")):
            subprocess.run([f"/usr/sbin/{daemon}", "-f", str(conf)], check=True, capture_output=True)
            started.append(folder / pidfile)
        _wait_idle(dict(os.environ), node)
        yield SlurmCluster(conf=conf, folder=folder, partition=PARTITION, node=node)
    finally:
        for pidfile in reversed(started):
            _stop(pidfile)
        if munge_pid is not None:
            _stop(Path("/run/munge/munged.pid"))
        if old_conf is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old_conf
