"""Run a plan's pending units through submitit (SLURM job arrays, local subprocesses) or in this process (debug).

Units are chunked: one SLURM array task (or one local process) runs a contiguous chunk of units one after another
with `worker.run_units`, so small units do not each pay for a job start and a model load. On SLURM a task that hits
its time limit or is preempted is requeued by submitit (`ChunkWorker.checkpoint`) and resumes: finished units are
skipped and the unit in progress restarts from its work folder.
"""
from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..cpus import cpu_budget, workers_and_threads
from ..errors import MetazooError
from ..extras import require
from .plan import Plan, SlurmOptions
from .store import Store
from .worker import run_units

EXECUTORS = ("slurm", "local", "debug")


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
        require("submitit", "cluster", f"--executor {executor}")
        from .jobs import ChunkWorker, make_executor

        ex = make_executor(executor, store, plan.name, slurm, max_parallel)
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


def wait(submission: Submission, on_progress: Callable[[int], None] | None = None,
         poll_s: float = 2.0, on_unit: Callable[[str, int, int], None] | None = None) -> list[str]:
    """Block until every job ends; returns one line per job that ended abnormally (killed, crashed, timed out).

    `on_progress(n_finished_jobs)` is called whenever that number changes (local and slurm); debug runs the units
    here, one after another, and calls `on_unit(unit_id, n_done, n_total)` after each.
    """
    if submission.executor == "debug":
        ids = [uid for chunk_ids in submission.chunks for uid in chunk_ids]
        for n, uid in enumerate(ids, 1):
            run_units(str(submission.root), [uid])
            if on_unit:
                on_unit(uid, n, len(ids))
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
    from .jobs import outcome

    problems = []
    for job, ids in zip(submission.jobs, submission.chunks):
        why = outcome(job)
        if why:
            problems.append(f"job {job.job_id} ({len(ids)} units) ended abnormally: {why}")
    return problems
