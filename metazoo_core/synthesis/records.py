"""What every synthesis result writes: `tensors.safetensors` and `record.json` (written last, so a folder with a
record is complete), both atomically; the record holds the method, options, seeds and software versions."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..fileio import save_tensors, write_json
from ..metamer.runs import versions

TENSORS_FILE = "tensors.safetensors"
RECORD_FILE = "record.json"


def write_result(folder: Path | str, schema: str, tensors: dict[str, Any], record: dict[str, Any]) -> Path:
    """Write the tensors, then the record (with `schema` and `versions`); returns the folder."""
    folder = Path(folder)
    save_tensors(folder / TENSORS_FILE, tensors, metadata={"schema": schema})
    write_json(folder / RECORD_FILE, {"schema": schema, **record, "versions": versions()})
    return folder


def read_result(folder: Path | str, schema: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(tensors, record) of a result folder written by `write_result` with the same schema; one-line InputError
    when the folder holds no such result."""
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        record = json.loads((folder / RECORD_FILE).read_text())
        tensors = load_file(str(folder / TENSORS_FILE))
    except (OSError, ValueError) as e:
        raise InputError(f"{folder}: not a readable synthesis result ({e}); give a folder written by .save()") from None
    if record.get("schema") != schema:
        raise InputError(f"{folder}: holds a '{record.get('schema')}' result, not '{schema}'")
    return tensors, record
