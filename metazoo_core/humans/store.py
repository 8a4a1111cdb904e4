"""Durable storage of human responses: one SQLite file in WAL mode, one transaction per trial.

Tables:
- `participants(participant, token, plan, created)`: participant ids P001…, each with a secret URL token;
- `trials(participant, trial, …)`: one row per answered trial, primary key (participant, trial); a resubmitted
  trial is ignored (INSERT OR IGNORE), so a trial is stored once however often the browser retries.

`synchronous=FULL` makes each committed trial survive a crash of the server process (SIGKILL) or of the machine.
"""
from __future__ import annotations

import math
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import InputError
from .strict_json import MAX_NUMBER, loads

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

SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite 3 database file (sqlite.org/fileformat.html, section 1.3)."""

COLUMNS = ("participant", "trial", "kind", "condition", "stimulus", "mask", "answer", "response", "correct", "rt_ms",
           "practice", "catch", "analysed", "fixation_ms", "stimulus_ms", "mask_ms", "requested", "timing",
           "received")


class ResponseStore:
    """Thread-safe access to one responses database (created on first use; an existing file must be one)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        check_database(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.text_factory = _text
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as e:
            raise InputError(f"{self.path}: cannot open it as a responses database ({e}); give another --db") \
                from None

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
        return self.participants()

    def participants(self) -> list[tuple[str, str, int]]:
        """Every participant as (participant, token, plan), in plan order."""
        with self._lock:
            return [tuple(r) for r in self._db.execute(
                "SELECT participant, token, plan FROM participants ORDER BY plan")]

    def counts(self) -> dict[str, int]:
        """Trials stored per participant."""
        with self._lock:
            return dict(self._db.execute("SELECT participant, COUNT(*) FROM trials GROUP BY participant"))

    def by_token(self, token: str) -> tuple[str, int] | None:
        """(participant, plan number) for a URL token, or None."""
        with self._lock:
            row = self._db.execute("SELECT participant, plan FROM participants WHERE token = ?", (token,)).fetchone()
        return (row[0], row[1]) if row else None

    def record(self, row: dict[str, Any]) -> bool:
        """Store one trial in its own transaction; False when (participant, trial) was already stored. A row that
        could not be read back (checked_row) is refused with InputError before anything is written."""
        values = [row.get(c) for c in COLUMNS]
        checked_row(values)
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

    def trials(self, participant: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
        """(stored trials as dicts with requested/timing parsed, ordered by participant and trial; one line per
        row that was skipped because it is not a valid trial — see checked_row)."""
        where, args = ("WHERE participant = ?", (participant,)) if participant else ("", ())
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(COLUMNS)} FROM trials {where} "
                                    "ORDER BY participant, trial", args).fetchall()
        out, skipped = [], []
        for r in rows:
            try:
                out.append(checked_row(r))
            except InputError as e:
                skipped.append(f"{self.path}: a stored trial (participant {str(r[0])[:40]!r}, trial "
                               f"{str(r[1])[:20]}) was skipped: {e}")
        return out, skipped

    def snapshot(self) -> dict[str, Any]:
        """{"participants": [{participant, plan, created}], "trials": [...], "skipped": [lines]}; participants
        and trials that are not what the server writes are left out and named under "skipped"."""
        with self._lock:
            rows = self._db.execute("SELECT participant, plan, created FROM participants ORDER BY plan").fetchall()
        people, skipped = [], []
        for participant, plan, created in rows:
            if isinstance(participant, str) and _integer(plan) and _finite(created):
                people.append({"participant": participant, "plan": plan, "created": created})
            else:
                skipped.append(f"{self.path}: a stored participant ({str(participant)[:40]!r}, plan "
                               f"{str(plan)[:20]}) was skipped: not a participant the server wrote")
        trials, bad = self.trials()
        return {"participants": people, "trials": trials, "skipped": skipped + bad}


def _text(data: bytes) -> str | bytes:
    """SQLite text as str; bytes when it is not UTF-8 (checked_row then names the column instead of failing)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_NUMBER


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and abs(value) <= MAX_NUMBER


_TEXT = ("participant", "kind", "condition", "stimulus", "answer", "response")
_FLAGS = ("correct", "practice", "catch", "analysed")
_TIMES = ("rt_ms", "fixation_ms", "stimulus_ms", "mask_ms")


def checked_row(values) -> dict[str, Any]:
    """A trials row (values in COLUMNS order) as a dict with `requested` and `timing` parsed; InputError naming
    the first column that is not what the server writes (text, 0/1 flags, finite numbers, strict JSON)."""
    d = dict(zip(COLUMNS, values))
    bad = next((c for c in _TEXT if not isinstance(d[c], str)), None)
    bad = bad or next((c for c in _FLAGS if d[c] not in (0, 1) or isinstance(d[c], float)), None)
    bad = bad or next((c for c in (*_TIMES, "received") if d[c] is not None and not _finite(d[c])), None)
    if bad or not _integer(d["trial"]):
        raise InputError(f"column '{bad or 'trial'}' holds {str(d[bad or 'trial'])[:40]!r}")
    if d["mask"] is not None and not isinstance(d["mask"], str):
        raise InputError("column 'mask' is not text")
    for c in ("requested", "timing"):
        if d[c] is None and c == "timing":
            continue
        if not isinstance(d[c], str):
            raise InputError(f"column '{c}' is not JSON text")
        d[c] = loads(d[c], f"column '{c}'")
        if not isinstance(d[c], dict):
            raise InputError(f"column '{c}' is not a JSON object")
    return d


def check_database(path: Path) -> None:
    """One line (InputError) unless `path` is absent, empty, or a SQLite file whose tables (if any) are this
    module's; nothing is created or changed."""
    if not path.exists():
        folder = next((p for p in path.parents if p.exists()), None)
        if folder is not None and not folder.is_dir():
            raise InputError(f"--db {path}: {folder} is a file, not a folder; give a SQLite file name in a folder")
        return
    if not path.is_file():
        raise InputError(f"--db {path} is not a file; give a SQLite file name (it is created if missing)")
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except OSError as e:
        raise InputError(f"--db {path} cannot be read ({e.strerror or e})") from None
    if not head:
        return
    if head != SQLITE_HEADER:
        raise InputError(f"--db {path} is not a SQLite database; give the responses.sqlite that --serve wrote "
                         "or a new file name")
    expected = {"participants": ("participant", "token", "plan", "created"), "trials": COLUMNS}
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            found = {t: tuple(r[1] for r in db.execute(f"PRAGMA table_info({t})")) for t in expected}
        finally:
            db.close()
    except sqlite3.Error as e:
        raise InputError(f"--db {path} is not a readable SQLite database ({e}); give another --db") from None
    wrong = [t for t in expected if found[t] and found[t] != expected[t]]
    if wrong:
        raise InputError(f"--db {path} has a '{wrong[0]}' table that metazoo did not write; give the "
                         "responses.sqlite that --serve wrote or a new file name")
