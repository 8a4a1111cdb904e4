"""The submitit side of a sweep: the job callable, the executor for SLURM or local processes, and a job's outcome.

Imported only for the `local` and `slurm` executors, which need the `cluster` extra (submitit); `debug` runs in
this process without it.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import submitit
from submitit.helpers import Checkpointable, DelayedSubmission

from ..process import die_with_parent
from .plan import SlurmOptions
from .store import Store
from .worker import release_current, run_units

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


def make_executor(kind: str, store: Store, plan_name: str, slurm: SlurmOptions, max_parallel: int | None):
    """A submitit executor for `kind` (slurm or local) writing its job files under the store's logs folder."""
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


def outcome(job: Any) -> str | None:
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
