"""The worker loop: claim a unit, run it in its work folder, commit it; retry failures up to the plan's bound.

Runs the same way in-process (debug), in a local subprocess, or in a SLURM array task. Units already done, held
by a live worker elsewhere, or out of attempts are skipped, so any number of workers (and sweeps) can share a store.
"""
from __future__ import annotations

import os
import socket
import time
from typing import Any

from .plan import Unit
from .store import Lock, Store, out_of_attempts, owner_info

current_lock: Lock | None = None
"""The lock this process holds right now (released by the SLURM checkpoint handler before a requeue)."""


def _utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def run_unit(store: Store, unit_id: str, unit: Unit, retries: int) -> str:
    """Work on one unit until it is done or out of attempts. Returns its outcome:
    done | skipped-done | skipped-busy (another live worker holds it, or took it over) | failed.
    """
    global current_lock
    from .units import RUNNERS

    while True:
        if store.is_done(unit_id):
            return "skipped-done"
        if out_of_attempts(store.failures(unit_id), retries):
            return "failed"
        lock = store.claim(unit_id)
        if lock is None:
            return "skipped-busy"
        current_lock = lock
        try:
            # re-check under the lock: another worker may have finished it, or a broken lock used the last attempt
            if store.is_done(unit_id):
                return "skipped-done"
            if out_of_attempts(store.failures(unit_id), retries):
                return "failed"
            started, t0 = _utc(), time.perf_counter()
            work = store.fresh_partial(unit_id)
            try:
                records = RUNNERS[unit.kind](unit, work)
            except Exception as exc:  # noqa: BLE001 - every failure is recorded and retried, never fatal to the sweep
                store.record_exception(unit_id, exc)
                continue
            me = owner_info()
            committed = store.commit(unit_id, {
                "schema": "metazoo.unit/1", "unit": unit_id, "params": unit.params(),
                "records": [str(p.relative_to(work)) for p in records],
                "attempt": len(store.failures(unit_id)) + 1, "host": me["host"], "pid": me["pid"], "job": me["job"],
                "started": started, "finished": _utc(), "wall_time_s": round(time.perf_counter() - t0, 3),
            }, lock)
            return "done" if committed else "skipped-busy"
        finally:
            current_lock = None
            lock.release()


def run_units(root: str, unit_ids: list[str]) -> dict[str, Any]:
    """Run units one after another (one local process or array task); returns counts by outcome."""
    store = Store(root)
    retries = int(store.manifest()["retries"])
    units = store.units()
    outcomes: dict[str, list[str]] = {}
    for uid in unit_ids:
        outcomes.setdefault(run_unit(store, uid, units[uid], retries), []).append(uid)
    return {"host": socket.gethostname(), "pid": os.getpid(), "outcomes": outcomes}


def release_current() -> None:
    """Give up the unit in progress without counting a failure (before a SLURM requeue)."""
    if current_lock is not None:
        current_lock.release()
