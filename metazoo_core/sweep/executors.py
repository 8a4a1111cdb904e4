"""Run a plan's pending units through submitit (SLURM job arrays, local subprocesses) or in this process (debug).

Units are chunked: one SLURM array task (or one local process) runs a contiguous chunk of units one after another
with `worker.run_units`, so small units do not each pay for a job start and a model load. On SLURM a task that hits
its time limit or is preempted is requeued by submitit (`ChunkWorker.checkpoint`) and resumes: finished units are
skipped and the unit in progress restarts from its work folder.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import submitit
from submitit.helpers import Checkpointable, DelayedSubmission

from ..cpus import cpu_budget, workers_and_threads
from ..errors import MetazooError
from .plan import Plan, SlurmOptions
from .store import Store
from .worker import release_current, run_units

EXECUTORS = ("slurm", "local", "debug")
LOCAL_TIMEOUT_MIN = 30 * 24 * 60
"""Local workers have no time limit worth the name (submitit's local default is 2 minutes)."""

for _handler in list(logging.getLogger("submitit").handlers):  # keep stdout for results; warnings stay on stderr
    if getattr(_handler, "stream", None) is sys.stdout:
        logging.getLogger("submitit").removeHandler(_handler)


class ChunkWorker(Checkpointable):
    """The callable submitted to each job: runs a chunk of units; requeued with the same chunk on timeout.
    `threads`: torch threads of this worker (local workers share the allotted CPUs), None to keep the default."""

    def __init__(self, threads: int | None = None):
        self.threads = threads

    def __call__(self, root: str, unit_ids: list[str]) -> dict[str, Any]:
        if os.environ.get("SUBMITIT_EXECUTOR") == "local":
            die_with_parent()
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        return run_units(root, unit_ids)

    def checkpoint(self, root: str, unit_ids: list[str]) -> DelayedSubmission:
        release_current()
        return DelayedSubmission(self, root, unit_ids)


PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal this process gets when its parent thread ends (Linux)."""


def die_with_parent() -> None:
    """Make this local worker end when submitit's job wrapper (its parent, whose PID the sweep prints as the job
    id) ends, even by SIGKILL: otherwise the worker lives on as an orphan, holding its unit's lock and the CPU.
    The lock is then broken as a lost worker's (the unit counts one failed attempt and is retried). Linux only;
    elsewhere a no-op."""
    import ctypes
    import signal

    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # no prctl in this libc: keep the old behaviour
        return
    if os.getppid() != parent:  # the wrapper ended before prctl took effect
        os._exit(1)


@dataclass
class Submission:
    executor: str
    root: Path
    jobs: list[Any]
    chunks: list[list[str]]
    todo: int
    skipped_done: int
    skipped_failed: int
    job_ids: list[str] = field(default_factory=list)


def chunk(ids: list[str], n_chunks: int | None = None, size: int | None = None) -> list[list[str]]:
    """Contiguous chunks (units of one model stay together): either `n_chunks` nearly equal ones or `size` each."""
    if not ids:
        return []
    if size is None:
        n = max(1, min(n_chunks or 1, len(ids)))
        q, r = divmod(len(ids), n)
        bounds = [i * q + min(i, r) for i in range(n + 1)]
        return [ids[bounds[i]:bounds[i + 1]] for i in range(n)]
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def _executor(kind: str, store: Store, plan_name: str, slurm: SlurmOptions, max_parallel: int | None):
    folder = store.logs_dir / "%j"
    ex = submitit.AutoExecutor(folder=folder, cluster=kind)
    params: dict[str, Any] = {"name": f"metazoo-{plan_name}",
                              "timeout_min": slurm.time_min if kind == "slurm" else LOCAL_TIMEOUT_MIN}
    if kind == "slurm":
        params.update(
            slurm_partition=slurm.partition, cpus_per_task=slurm.cpus_per_task,
            slurm_array_parallelism=max_parallel or slurm.array_parallelism,
            slurm_setup=list(slurm.setup), slurm_additional_parameters=dict(slurm.additional))
        if slurm.gpus_per_node:
            params["gpus_per_node"] = slurm.gpus_per_node
        if slurm.mem_gb:
            params["mem_gb"] = slurm.mem_gb
        for key in ("account", "qos", "constraint"):
            if getattr(slurm, key):
                params[f"slurm_{key}"] = getattr(slurm, key)
        params = {k: v for k, v in params.items() if v is not None}
    ex.update_parameters(**params)
    return ex


def submit(plan: Plan, store: Store, executor: str = "local", max_parallel: int | None = None,
           slurm: SlurmOptions | None = None, retry_failed: bool = False) -> Submission:
    """Record the plan in the store's manifest and start workers for the units that are neither done nor failed.

    local: `max_parallel` processes (default: the CPU budget, `cpus.cpu_budget`), each with a contiguous chunk
    and budget ÷ processes threads; slurm: one array task per
    `units_per_task` units, at most `max_parallel` running at once; debug: one chunk, run in this process (no
    submitit) by `wait`.
    """
    if executor not in EXECUTORS:
        raise MetazooError(f"unknown executor '{executor}'; choose one of {', '.join(EXECUTORS)}")
    slurm = slurm or plan.slurm
    store.write_manifest(plan)
    ids = [u.id for u in plan.units]
    if retry_failed:
        store.clear_failures(ids)
    done = failed = 0
    todo: list[str] = []
    for uid in ids:
        if store.is_done(uid):
            done += 1
        elif len(store.failures(uid)) > plan.retries:
            failed += 1
        else:
            todo.append(uid)
    threads = None
    if executor == "slurm":
        chunks = chunk(todo, size=slurm.units_per_task)
    elif executor == "local":
        workers, threads = workers_and_threads(len(todo), cpu_budget(), max_parallel)
        chunks = chunk(todo, n_chunks=max_parallel or workers)
    else:
        chunks = chunk(todo, n_chunks=1)
    jobs: list[Any] = []
    if chunks and executor != "debug":
        ex = _executor(executor, store, plan.name, slurm, max_parallel)
        try:
            jobs = ex.map_array(ChunkWorker(threads), [str(store.root.resolve())] * len(chunks), chunks)
        except Exception as e:  # noqa: BLE001 - sbatch's refusal (bad partition, account, limits) as one line
            lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            why = next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else type(e).__name__)
            raise MetazooError(f"submitting {len(chunks)} {executor} jobs failed: {why[:300]}; check the plan's "
                               f"slurm: options (partition, account, time) or the flags") from None
    return Submission(executor, store.root.resolve(), jobs, chunks, len(todo), done, failed,
                      [str(j.job_id) for j in jobs])


def _slurm_queued(job_ids: list[str]) -> set[str]:
    """Array tasks (`<job>_<task>`) and jobs still pending or running, from `squeue` (no accounting database needed)."""
    arrays = sorted({j.split("_")[0] for j in job_ids})
    res = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(arrays)], capture_output=True, text=True)
    if res.returncode == 0:
        return set(res.stdout.split())
    if "invalid job id" in res.stderr.lower():  # every listed job has left the controller's memory
        return set()
    return set(job_ids)  # controller not answering right now: count everything as still queued, ask again later


def _finished(submission: Submission) -> list[bool]:
    if submission.executor == "slurm":
        queued = _slurm_queued(submission.job_ids)
        return [jid not in queued for jid in submission.job_ids]
    return [job.done() for job in submission.jobs]


def _outcome(job: Any) -> str | None:
    """None if the job returned normally, else one line on why it did not (read from submitit's result file)."""
    path = job.paths.result_pickle
    for _ in range(10):  # the result file may appear a moment after the job leaves the queue (shared file systems)
        if path.exists():
            break
        time.sleep(0.5)
    if not path.exists():
        return (f"no result: the worker was killed or hit its time limit (see {job.paths.stderr})")
    status, value = submitit.core.utils.pickle_load(path)
    if status == "success":
        return None
    lines = [ln for ln in str(value).strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else status


def wait(submission: Submission, on_progress: Callable[[int], None] | None = None,
         poll_s: float = 2.0) -> list[str]:
    """Block until every job ends; returns one line per job that ended abnormally (killed, crashed, timed out).

    `on_progress(n_finished_jobs)` is called whenever that number changes.
    """
    if submission.executor == "debug":
        for ids in submission.chunks:
            run_units(str(submission.root), ids)
        return []
    finished = -1
    while True:
        n = sum(_finished(submission))
        if n != finished and on_progress:
            on_progress(n)
        finished = n
        if n == len(submission.jobs):
            break
        time.sleep(poll_s)
    problems = []
    for job, ids in zip(submission.jobs, submission.chunks):
        why = _outcome(job)
        if why:
            problems.append(f"job {job.job_id} ({len(ids)} units) ended abnormally: {why}")
    return problems
