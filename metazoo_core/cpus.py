"""CPUs this process may actually use, and how to split them into workers × threads without oversubscription.

A node's core count (`os.cpu_count()`, torch's default thread count) is not what a job gets: the scheduler limits
it by CPU affinity (taskset, SLURM's cgroup cpuset), by a CFS quota (cgroup v2 `cpu.max`, v1
`cpu.cfs_quota_us`/`cpu.cfs_period_us`: containers, Kubernetes limits) and SLURM tells it `SLURM_CPUS_PER_TASK`.
Running more compute threads than that makes every process wait for the others (measured on this project's 2-core
machine: three processes with 2 threads each made an EfficientNet-Lite0 step take ~4.9 s instead of ~0.1 s).
Imports no torch (the CLI calls it before torch is loaded).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Mapping

CGROUP = Path("/sys/fs/cgroup")


def _cgroup_quota(root: Path) -> float | None:
    """CPUs allowed by a CFS quota (may be fractional), or None when unlimited or unreadable."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]  # cgroup v2: "max 100000" or "200000 100000"
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())  # cgroup v1: -1 when unlimited
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def allotted_cpus(environ: Mapping[str, str] | None = None, cgroup: Path = CGROUP) -> int:
    """The number of CPUs this process may use: the smallest of its affinity mask, its cgroup CPU quota (rounded
    up) and SLURM_CPUS_PER_TASK; at least 1."""
    environ = os.environ if environ is None else environ
    try:
        limits = [len(os.sched_getaffinity(0))]
    except (AttributeError, OSError):  # not Linux
        limits = [os.cpu_count() or 1]
    quota = _cgroup_quota(cgroup)
    if quota is not None:
        limits.append(math.ceil(quota))
    slurm = environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        limits.append(int(slurm))
    return max(1, min(limits))


def cpu_budget(environ: Mapping[str, str] | None = None) -> int:
    """CPUs a command may fill: OMP_NUM_THREADS when the user (or `default_thread_env`) set it, else
    `allotted_cpus()`."""
    environ = os.environ if environ is None else environ
    value = environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else allotted_cpus(environ)


def workers_and_threads(tasks: int, cpus: int, max_workers: int | None = None) -> tuple[int, int]:
    """Split `cpus` among at most `tasks` worker processes (and at most `max_workers`): (workers, threads per
    worker) with workers × threads ≤ cpus, one thread per worker when there are enough tasks (independent
    processes scale better than threads inside one small-batch step)."""
    workers = max(1, min(tasks, cpus, max_workers or cpus))
    return workers, max(1, cpus // workers)


def default_thread_env(environ: dict[str, str] | None = None) -> None:
    """Set OMP_NUM_THREADS (torch's intra-op threads) to the allotted CPUs unless the user set it."""
    environ = os.environ if environ is None else environ
    if not environ.get("OMP_NUM_THREADS"):
        environ["OMP_NUM_THREADS"] = str(allotted_cpus(environ))
