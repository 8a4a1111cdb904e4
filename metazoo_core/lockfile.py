"""The weights lockfile: the sha256 of every checkpoint file metazoo has loaded, recorded at first use.

One JSON file next to the cache (`$METAZOO_CACHE/weights.lock.json`), keyed by model id and source:
`{model: {source: {"sha256": hex, "size": bytes, "recorded": ISO time}}}`. Every later load of the same
model from the same source checks the file against it, so a checkpoint that changed on disk (or upstream, behind
an unchanged URL) gives one clear line instead of silently different results. Files given with `--weights PATH`
are the user's own and are not locked.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import WeightsError
from .fileio import write_json

LOCK_NAME = "weights.lock.json"


def lock_path(cache: Path) -> Path:
    return cache / LOCK_NAME


def read_lock(cache: Path) -> dict[str, dict[str, Any]]:
    """The lockfile's entries ({} when there is none); WeightsError (one line) when it is not valid JSON or an entry
    is not `{source: {"sha256": 64 hex digits, "size": bytes, …}}` (a hand edit)."""
    path = lock_path(cache)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise WeightsError(f"weights lockfile {path} is unreadable ({e.__class__.__name__}); "
                           "delete it to record the checkpoints afresh") from None
    if not isinstance(data, dict):
        raise WeightsError(f"weights lockfile {path} is not a JSON object; delete it to record afresh")
    for model, by_source in data.items():
        if not isinstance(by_source, dict):
            raise WeightsError(f"weights lockfile {path}: entry '{model}' is a {type(by_source).__name__}, not "
                               "{source: {sha256, size}}; delete that entry (or the file) to record it afresh")
        for source, entry in by_source.items():
            if not _well_formed(entry):
                raise WeightsError(f"weights lockfile {path}: entry '{model}' / {source} is not {{\"sha256\": 64 "
                                   "hex digits, \"size\": bytes}; delete that entry (or the file) to record it afresh")
    return data


def _well_formed(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    sha, size = entry.get("sha256"), entry.get("size")
    return (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)
            and isinstance(size, int) and not isinstance(size, bool) and size >= 0)


def recorded_size(cache: Path, model: str, source: str) -> int | None:
    """The size in bytes recorded (sha256-verified) for `model` from `source`, or None (none, or unreadable)."""
    try:
        entry = read_lock(cache).get(model, {}).get(source)
    except WeightsError:
        return None
    return entry["size"] if entry else None


def check_or_record(cache: Path, model: str, source: str, sha256: str, size: int) -> dict[str, Any]:
    """Compare a loaded file with the lockfile; record it when the model (from this source) is new.

    Raises WeightsError (one line: model, source, both hashes, the way out) when the file changed.
    """
    from filelock import FileLock

    cache.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_path(cache)) + ".lock"):
        data = read_lock(cache)
        by_source = data.setdefault(model, {})
        entry = by_source.get(source)
        if entry:
            if entry.get("sha256") != sha256:
                raise WeightsError(
                    f"weights of '{model}' from {source} changed since first use (sha256 was "
                    f"{str(entry.get('sha256'))[:16]}…, now {sha256[:16]}…); if the new file is intended run "
                    f"`metazoo fetch {model} --relock`, else delete it from the cache and fetch again")
            return entry
        entry = {"sha256": sha256, "size": size,
                 "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        by_source[source] = entry
        write_json(lock_path(cache), data)
        return entry


def forget(cache: Path, model: str) -> bool:
    """Drop `model` from the lockfile (the next load records it afresh); True when it was there."""
    from filelock import FileLock

    if not lock_path(cache).is_file():
        return False
    with FileLock(str(lock_path(cache)) + ".lock"):
        data = read_lock(cache)
        if data.pop(model, None) is None:
            return False
        write_json(lock_path(cache), data)
        return True


def entries_for(cache: Path, model: str) -> dict[str, dict[str, Any]]:
    """{source: entry} recorded for `model` ({} when none or unreadable: used by `metazoo info`)."""
    try:
        found = read_lock(cache).get(model)
    except WeightsError:
        return {}
    return found if isinstance(found, dict) else {}

