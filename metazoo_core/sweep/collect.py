"""One table of all records of a sweep store: one row per `record.json` in a finished unit.

Columns: `unit`, `kind`, `record` (path relative to the store), then every field of the record flattened with
dots (`input.name`, `measures.blocks_1.spearman`, `recipe.iterations`, …). Lists (e.g. `loss_curve`) are kept as
JSON text so that every column has one type across records of different kinds.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import MetazooError
from ..fileio import atomic_path
from .store import Store

FORMATS = {".parquet": "parquet", ".sqlite": "sqlite", ".db": "sqlite", ".csv": "csv"}


def _flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, name + "."))
        elif isinstance(value, (list, dict)):
            flat[name] = json.dumps(value)
        else:
            flat[name] = value
    return flat


def records(store: Store) -> list[dict[str, Any]]:
    """Flattened records of every finished unit, in manifest order; unreadable records raise MetazooError."""
    rows = []
    for uid, params in store.manifest()["units"].items():
        if not store.is_done(uid):
            continue
        folder = store.unit_dir(uid)
        done = json.loads((folder / "done.json").read_text())
        for rel in done["records"]:
            path = folder / rel
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError) as e:
                raise MetazooError(f"record {path} is unreadable ({e}); "
                                   "the store was modified outside metazoo") from None
            rows.append({"unit": uid, "kind": params["kind"], "record": str(path.relative_to(store.root)),
                         **_flatten(record)})
    return rows


def run_records(root: Path) -> list[dict[str, Any]]:
    """Flattened records of a plain `metazoo generate` (or demo) run folder: every RUN/<model>/<input>/<stage>/
    record.json, sorted by path (`unit` empty, `kind` metamer). MetazooError when there is none."""
    paths = sorted(Path(root).glob("*/*/*/record.json"))
    if not paths:
        raise MetazooError(f"{root} is neither a sweep store (no manifest.json) nor a metamer run (no "
                           "MODEL/INPUT/STAGE/record.json); give a folder `metazoo sweep` or `metazoo generate` wrote")
    rows = []
    for path in paths:
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise MetazooError(f"record {path} is unreadable ({e})") from None
        rows.append({"unit": None, "kind": "metamer", "record": str(path.relative_to(root)), **_flatten(record)})
    return rows


def table(source: "Store | Path"):
    """All records of a sweep store, or of a plain run folder, as a pandas DataFrame (one row per record)."""
    import pandas as pd

    return pd.DataFrame.from_records(records(source) if isinstance(source, Store) else run_records(source))


def _beyond_int64(df) -> list[str]:
    """Columns holding integers that a signed 64-bit column (Parquet int64, SQLite INTEGER) cannot store."""
    lo, hi = -(2**63), 2**63 - 1
    return [c for c in df.columns if str(df[c].dtype) == "object"
            and any(isinstance(v, int) and not isinstance(v, bool) and not lo <= v <= hi for v in df[c])]


def write_table(df, path: Path) -> str:
    """Write `df` atomically as Parquet, SQLite (table `records`) or CSV, chosen by the file suffix."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise MetazooError(f"cannot write {path}: use a .parquet, .sqlite, .db or .csv file name")
    wide = _beyond_int64(df)
    if wide and fmt != "csv":  # stores written before seeds were bounded may hold larger integers: keep them as text
        df = df.astype({c: str for c in wide})
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            df.to_parquet(tmp, index=False)
        elif fmt == "csv":
            df.to_csv(tmp, index=False)
        else:
            import sqlite3

            tmp.unlink()
            wide = [c for c in df.columns if str(df[c].dtype) == "uint64"]  # SQLite integers are signed 64-bit
            con = sqlite3.connect(tmp)
            try:
                df.astype({c: str for c in wide}).to_sql("records", con, index=False)
                con.commit()
            finally:
                con.close()
    return fmt
