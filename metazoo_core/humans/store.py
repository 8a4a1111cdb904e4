"""Durable storage of human responses: one SQLite file in WAL mode, one transaction per trial.

Tables:
- `participants(participant, token, plan, created)`: participant ids P001…, each with a secret URL token;
- `trials(participant, trial, …)`: one row per answered trial, primary key (participant, trial); a resubmitted
  trial is ignored (INSERT OR IGNORE), so a trial is stored once however often the browser retries.

`synchronous=FULL` makes each committed trial survive a crash of the server process (SIGKILL) or of the machine.
"""
from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS participants (
    participant TEXT PRIMARY KEY,
    token TEXT UNIQUE NOT NULL,
    plan INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    participant TEXT NOT NULL REFERENCES participants(participant),
    trial INTEGER NOT NULL,
    kind TEXT NOT NULL,
    condition TEXT NOT NULL,
    stimulus TEXT NOT NULL,
    mask TEXT,
    answer TEXT NOT NULL,
    response TEXT NOT NULL,
    correct INTEGER NOT NULL,
    rt_ms REAL,
    practice INTEGER NOT NULL,
    catch INTEGER NOT NULL,
    analysed INTEGER NOT NULL,
    fixation_ms REAL,
    stimulus_ms REAL,
    mask_ms REAL,
    requested TEXT NOT NULL,
    timing TEXT,
    received REAL NOT NULL,
    PRIMARY KEY (participant, trial)
);
"""

COLUMNS = ("participant", "trial", "kind", "condition", "stimulus", "mask", "answer", "response", "correct", "rt_ms",
           "practice", "catch", "analysed", "fixation_ms", "stimulus_ms", "mask_ms", "requested", "timing",
           "received")


class ResponseStore:
    """Thread-safe access to one responses database (created on first use)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def ensure_participants(self, n: int) -> list[tuple[str, str, int]]:
        """At least n participants exist (new ones get P{k:03d}, a random token and plan k); returns all of them
        as (participant, token, plan), in order."""
        with self._lock:
            have = self._db.execute("SELECT COUNT(*) FROM participants").fetchone()[0]
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for k in range(have + 1, n + 1):
                    self._db.execute("INSERT INTO participants VALUES (?, ?, ?, ?)",
                                     (f"P{k:03d}", secrets.token_urlsafe(16), k, time.time()))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return [tuple(r) for r in self._db.execute(
                "SELECT participant, token, plan FROM participants ORDER BY plan")]

    def by_token(self, token: str) -> tuple[str, int] | None:
        """(participant, plan number) for a URL token, or None."""
        with self._lock:
            row = self._db.execute("SELECT participant, plan FROM participants WHERE token = ?", (token,)).fetchone()
        return (row[0], row[1]) if row else None

    def record(self, row: dict[str, Any]) -> bool:
        """Store one trial in its own transaction; False when (participant, trial) was already stored."""
        values = [row.get(c) for c in COLUMNS]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(f"INSERT OR IGNORE INTO trials ({', '.join(COLUMNS)}) "
                                       f"VALUES ({', '.join('?' * len(COLUMNS))})", values)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return cur.rowcount == 1

    def done(self, participant: str) -> list[int]:
        """Trial indices stored for this participant, ascending."""
        with self._lock:
            return [r[0] for r in self._db.execute(
                "SELECT trial FROM trials WHERE participant = ? ORDER BY trial", (participant,))]

    def trials(self, participant: str | None = None) -> list[dict[str, Any]]:
        """Stored trials as dicts (timing parsed from JSON), ordered by participant and trial."""
        where, args = ("WHERE participant = ?", (participant,)) if participant else ("", ())
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(COLUMNS)} FROM trials {where} "
                                    "ORDER BY participant, trial", args).fetchall()
        out = []
        for r in rows:
            d = dict(zip(COLUMNS, r))
            d["requested"] = json.loads(d["requested"])
            d["timing"] = json.loads(d["timing"]) if d["timing"] else None
            out.append(d)
        return out

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            people = [dict(zip(("participant", "plan", "created"), r)) for r in self._db.execute(
                "SELECT participant, plan, created FROM participants ORDER BY plan")]
        return {"participants": people, "trials": self.trials()}
