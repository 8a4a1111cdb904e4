"""The result store of a sweep: one folder per unit, claimed with a lock file, committed by one atomic rename.

Layout of a store RUN/:

    manifest.json          the plan and every unit's parameters (merged when a plan is rerun or extended)
    units/<id>/            finished units only; `done.json` inside is written last, then the folder is renamed here
    partial/<id>/          work in progress of the unit's lock holder (kept after a kill so the next worker resumes)
    locks/<id>.lock        claim: JSON {host, pid, pid_start, job, token, time}; refreshed (mtime) every 30 s
    failures/<id>.json     every failed attempt: error line, exception type, traceback, host, job, time
    logs/                  submitit's job scripts and worker stdout/stderr

Guarantees: a unit folder under units/ is always complete (rename of a finished folder is atomic on one file
system); a unit is worked on by at most one live worker (O_CREAT|O_EXCL lock); a lock whose owner died is broken
(same host: the pid is gone or reused; other host: no heartbeat for `stale_after_s`; SLURM requeue: the same array
task with a lower SLURM_RESTART_COUNT) and the death is recorded as a failed attempt, so a unit that kills its
worker every time stops after the configured retries.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
import traceback
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import InputError, MetazooError
from ..fileio import write_json
from .plan import Plan, Unit

SCHEMA = "metazoo.sweep/1"
HEARTBEAT_S = 30.0
STALE_AFTER_S = 600.0
"""A lock from another host without a heartbeat for this long is considered dead (20 missed heartbeats)."""
BREAK_LOCK_STALE_S = 60.0


def out_of_attempts(failures: list[dict[str, Any]], retries: int) -> bool:
    """Whether a unit with these failed attempts is not tried again: more than `retries`, or a final one."""
    return len(failures) > retries or any(f.get("final") for f in failures)


class StoreError(MetazooError):
    """A folder that is not a sweep store, or a store that cannot be written."""


def _utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _pid_start(pid: int) -> str | None:
    """Start time of `pid` in clock ticks since boot (Linux), to tell a live owner from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def slurm_task() -> str | None:
    """This process's SLURM array task (`<array job>_<task>`) or job id, plus `.<procid>` inside a multi-task
    step; None outside SLURM."""
    env = os.environ
    if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
        job = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    elif env.get("SLURM_JOB_ID"):
        job = env["SLURM_JOB_ID"]
    else:
        return None
    return job + (f".{env['SLURM_PROCID']}" if env.get("SLURM_PROCID", "0") != "0" else "")


def owner_info() -> dict[str, Any]:
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "pid_start": _pid_start(pid), "job": slurm_task(),
            "restart": int(os.environ.get("SLURM_RESTART_COUNT") or 0), "token": uuid.uuid4().hex, "time": _utc()}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def lock_is_stale(info: dict[str, Any] | None, age_s: float, stale_after_s: float = STALE_AFTER_S) -> bool:
    """Whether a lock's owner is gone. `info` None means the lock file is empty or unreadable."""
    if info is None:
        return age_s > 10.0  # owner died between creating and filling the file
    me = owner_info()
    if info.get("job") and info.get("job") == me["job"] and int(info.get("restart") or 0) < me["restart"]:
        return True  # an earlier run of this same SLURM task (requeued after a time limit or preemption)
    if info.get("host") == me["host"]:
        pid = int(info.get("pid", -1))
        if not _pid_alive(pid):
            return True
        start = info.get("pid_start")
        return start is not None and _pid_start(pid) not in (None, start)
    return age_s > stale_after_s


class Lock:
    """A held claim on one unit. Keeps its file's mtime fresh from a daemon thread until released."""

    def __init__(self, path: Path, info: dict[str, Any], heartbeat_s: float = HEARTBEAT_S):
        self.path, self.info = path, info
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(heartbeat_s,), daemon=True)
        self._thread.start()

    def _beat(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                os.utime(self.path)
            except OSError:
                return

    def held(self) -> bool:
        """Whether the lock file is still this claim's (False after a stale-lock breaker took the unit over)."""
        current = _read_json(self.path)
        return bool(current) and current.get("token") == self.info["token"]

    def release(self) -> None:
        """Remove the lock file, but only if it is still ours (a stale-lock breaker may have replaced it)."""
        self._stop.set()
        if self.held():
            self.path.unlink(missing_ok=True)


@dataclass
class UnitState:
    id: str
    state: str  # done | running | failed | pending
    attempts: int
    last_error: str | None = None
    owner: str | None = None


class Store:
    """A sweep's result folder. All methods are safe to call from many processes and hosts at once."""

    def __init__(self, root: Path | str, stale_after_s: float = STALE_AFTER_S):
        self.root = Path(root)
        self.stale_after_s = stale_after_s

    # -- paths -----------------------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def unit_dir(self, unit_id: str) -> Path:
        return self.root / "units" / unit_id

    def partial_dir(self, unit_id: str) -> Path:
        return self.root / "partial" / unit_id

    def lock_path(self, unit_id: str) -> Path:
        return self.root / "locks" / f"{unit_id}.lock"

    def failures_path(self, unit_id: str) -> Path:
        return self.root / "failures" / f"{unit_id}.json"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    # -- manifest --------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, root: Path | str, stale_after_s: float = STALE_AFTER_S) -> "Store":
        """An existing store; StoreError if `root` holds no manifest."""
        store = cls(root, stale_after_s)
        if not store.manifest_path.is_file():
            raise StoreError(f"{root} is not a sweep store (no manifest.json); give the folder `metazoo sweep` wrote")
        return store

    @contextmanager
    def _manifest_lock(self) -> Iterator[None]:
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".manifest.lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def write_manifest(self, plan: Plan) -> dict[str, Any]:
        """Create or extend the manifest with `plan`'s units (a union: units of earlier plans stay listed)."""
        from .. import __version__

        try:
            for sub in ("units", "partial", "locks", "failures", "logs"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create sweep store {self.root} ({e.strerror}); "
                             "choose another with --out") from None
        with self._manifest_lock():
            old = _read_json(self.manifest_path) or {}
            units = dict(old.get("units", {}))
            for u in plan.units:
                units.setdefault(u.id, u.params())
            plans = list(old.get("plans", []))
            if not any(p["plan"] == plan.source for p in plans):  # a rerun of the same plan adds nothing
                plans.append({"name": plan.name, "added": _utc(), "plan": plan.source, "units": len(plan.units)})
            manifest = {
                "schema": SCHEMA,
                "name": old.get("name", plan.name),
                "created": old.get("created", _utc()),
                "updated": _utc(),
                "metazoo": __version__,
                "retries": plan.retries,
                "plans": plans,
                "units": units,
            }
            write_json(self.manifest_path, manifest)
        return manifest

    def manifest(self) -> dict[str, Any]:
        data = _read_json(self.manifest_path)
        if data is None:
            raise StoreError(f"{self.manifest_path} is missing or unreadable; is {self.root} a sweep store?")
        return data

    def units(self) -> dict[str, Unit]:
        return {uid: Unit.from_params(p) for uid, p in self.manifest()["units"].items()}

    # -- claims ----------------------------------------------------------------------------------------------
    def is_done(self, unit_id: str) -> bool:
        return (self.unit_dir(unit_id) / "done.json").is_file()

    def failures(self, unit_id: str) -> list[dict[str, Any]]:
        return _read_json(self.failures_path(unit_id)) or []

    def _lock_state(self, path: Path) -> tuple[dict[str, Any] | None, bool] | None:
        """(info, stale) of an existing lock file, or None when there is none."""
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return None
        info = _read_json(path)
        return info, lock_is_stale(info, age, self.stale_after_s)

    def _create(self, path: Path, info: dict[str, Any]) -> bool:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(info))
            f.flush()
            os.fsync(f.fileno())
        return True

    def _break_stale(self, path: Path) -> dict[str, Any] | None:
        """Remove `path` if its owner is dead; returns the dead owner's info (or {}), None if not stale.

        Breakers serialise on `<lock>.break` (itself O_EXCL) and re-check staleness while holding it, so a fresh
        lock taken by another worker in the meantime is never removed.
        """
        breaker = path.with_name(path.name + ".break")
        if not self._create(breaker, owner_info()):
            try:
                if time.time() - breaker.stat().st_mtime > BREAK_LOCK_STALE_S:
                    breaker.unlink(missing_ok=True)
            except FileNotFoundError:
                pass
            return None
        try:
            state = self._lock_state(path)
            if state is None or not state[1]:
                return None
            path.unlink(missing_ok=True)
            return state[0] or {}
        finally:
            breaker.unlink(missing_ok=True)

    def claim(self, unit_id: str) -> Lock | None:
        """Take the unit's lock, breaking a dead owner's lock (recorded as a failed attempt); None if busy."""
        path = self.lock_path(unit_id)
        for _ in range(3):
            info = owner_info()
            if self._create(path, info):
                return Lock(path, info)
            dead = self._break_stale(path)
            if dead is not None:
                self.record_failure(unit_id, {
                    "error": f"worker {dead.get('host', '?')}:{dead.get('pid', '?')}"
                             + (f" (SLURM job {dead['job']})" if dead.get("job") else "")
                             + " stopped mid-unit without finishing (killed, out of memory, or past its time limit?)",
                    "type": "WorkerLost", "traceback": None, "owner": dead})
        return None

    def record_failure(self, unit_id: str, failure: dict[str, Any]) -> int:
        """Append one failed attempt (call while holding the unit's lock, or when breaking it); returns the count."""
        attempts = self.failures(unit_id)
        me = owner_info()
        attempts.append({"attempt": len(attempts) + 1, "time": _utc(), "host": me["host"], "pid": me["pid"],
                         "job": me["job"], **failure})
        write_json(self.failures_path(unit_id), attempts)
        return len(attempts)

    def record_exception(self, unit_id: str, exc: BaseException) -> int:
        """Record a failed attempt; an input error (a file that is not an image, …) is `final`: the same input
        would fail again, so the unit is not retried (until `--retry-failed`)."""
        line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return self.record_failure(unit_id, {
            "error": line, "type": type(exc).__name__, "final": isinstance(exc, InputError),
            "traceback": None if isinstance(exc, MetazooError) else "".join(traceback.format_exception(exc))})

    def clear_failures(self, unit_ids: list[str]) -> int:
        """Forget failed attempts of units that are not done (for `--retry-failed`); returns how many."""
        n = 0
        for uid in unit_ids:
            if not self.is_done(uid) and self.failures_path(uid).exists():
                self.failures_path(uid).unlink(missing_ok=True)
                n += 1
        return n

    def commit(self, unit_id: str, done: dict[str, Any], lock: Lock) -> Path | None:
        """Write done.json into the unit's partial folder, then rename the folder into units/ (atomic).

        Returns None without committing when `lock` is no longer held (this worker stalled past the stale limit
        and another one took the unit over; its result is the one that counts).
        """
        partial, final = self.partial_dir(unit_id), self.unit_dir(unit_id)
        if not lock.held():
            return None
        write_json(partial / "done.json", done)
        if final.exists():
            raise StoreError(f"{final} exists although this worker holds the unit's lock; "
                             "was the store edited by hand?")
        os.rename(partial, final)
        fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return final

    def fresh_partial(self, unit_id: str) -> Path:
        """The unit's work folder, kept from an interrupted attempt (engines resume from it)."""
        path = self.partial_dir(unit_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def discard_partial(self, unit_id: str) -> None:
        shutil.rmtree(self.partial_dir(unit_id), ignore_errors=True)

    # -- status ---------------------------------------------------------------------------------------------------
    def state(self, unit_id: str, retries: int) -> UnitState:
        return self._state(unit_id, retries, self.is_done(unit_id), self.lock_path(unit_id).exists(),
                           self.failures_path(unit_id).exists())

    def _state(self, unit_id: str, retries: int, done: bool, locked: bool, failed_before: bool) -> UnitState:
        failures = self.failures(unit_id) if failed_before else []
        last = failures[-1]["error"] if failures else None
        if done:
            return UnitState(unit_id, "done", len(failures) + 1, last)
        lock = self._lock_state(self.lock_path(unit_id)) if locked else None
        if lock is not None and not lock[1]:
            info = lock[0] or {}
            job = f" job {info['job']}" if info.get("job") else ""
            owner = f"{info.get('host', '?')}:{info.get('pid', '?')}{job}"
            return UnitState(unit_id, "running", len(failures), last, owner)
        if out_of_attempts(failures, retries):
            return UnitState(unit_id, "failed", len(failures), last)
        return UnitState(unit_id, "pending", len(failures), last)

    def status(self) -> list[UnitState]:
        """Every unit's state, in manifest order (one directory listing per folder, not one stat per unit)."""
        manifest = self.manifest()

        def names(sub: str, suffix: str = "") -> set[str]:
            try:
                return {n.removesuffix(suffix) for n in os.listdir(self.root / sub) if n.endswith(suffix)}
            except FileNotFoundError:
                return set()

        done = names("units")  # a folder appears there only by the atomic rename of a finished unit
        locked, failed = names("locks", ".lock"), names("failures", ".json")
        return [self._state(uid, manifest["retries"], uid in done, uid in locked, uid in failed)
                for uid in manifest["units"]]
