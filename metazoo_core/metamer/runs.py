"""The run folder: where each (input, stage) item's files live, and its resumable state.

    RUN/<model_id>/<input_name>/original.png|.wav, original.safetensors (key "original")
    RUN/<model_id>/<input_name>/<stage>/metamer.png|.wav, metamer.safetensors (key "metamer"),
                                        state.safetensors (while running), record.json (written last: "done")

State files are safetensors (tensors "x" and Adam moments) whose metadata holds the JSON progress (step, loss curve,
wall time) and the item's fingerprint; a state or record is only reused when its fingerprint equals the current
command's (same model, weights, input, stage, recipe, seed), otherwise the item starts afresh.
"""
from __future__ import annotations

import hashlib
import json
import platform
import re
from pathlib import Path
from typing import Any

import torch

from ..fileio import save_tensors
from .optimise import ItemState

SCHEMA = "metazoo.metamer/1"
STATE_FILE = "state.safetensors"
RECORD_FILE = "record.json"


def safe_name(name: str) -> str:
    """A folder name for an input or stage (path separators and odd characters replaced by '_')."""
    cleaned = re.sub(r"[^A-Za-z0-9._+-]", "_", name).strip(".") or "input"
    return cleaned


def unique_names(names: list[str]) -> list[str]:
    """Folder names for the inputs, made unique with -2, -3, … suffixes in input order."""
    seen: dict[str, int] = {}
    out = []
    for n in map(safe_name, names):
        if n in seen:
            seen[n] += 1
            candidate = f"{n}-{seen[n]}"
            while candidate in seen:
                seen[n] += 1
                candidate = f"{n}-{seen[n]}"
            n = candidate
        seen.setdefault(n, 1)
        out.append(n)
    return out


def tensor_sha256(x: torch.Tensor) -> str:
    return hashlib.sha256(x.detach().cpu().contiguous().float().numpy().tobytes()).hexdigest()


def parameters_sha256(model) -> str:
    """Identity of weights that come from no file (random or constructed): sha256 of every parameter and buffer."""
    h = hashlib.sha256()
    for name, t in [*model.net.named_parameters(), *model.net.named_buffers()]:
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return "params:" + h.hexdigest()


def weights_identity(model) -> str:
    """The checkpoint's sha256, or for weights from no file (random, constructed) the parameters' sha256."""
    return model.weights_sha256 or parameters_sha256(model)


def fingerprint(**fields: Any) -> str:
    """A short hash of everything that determines an item's result."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:32]


def versions() -> dict[str, str]:
    import numpy

    from .. import __version__

    return {"metazoo": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version()}


def save_state(folder: Path, state: ItemState, fp: str) -> None:
    """The item's resumable state, atomically."""
    tensors = {"x": state.x, **{f"adam.{k}": v for k, v in state.adam.items()}}
    meta = {"fingerprint": fp, "step": state.step, "losses": state.losses, "wall_time_s": state.wall_time_s,
            "stopped_early": state.stopped_early}
    save_tensors(folder / STATE_FILE, tensors, metadata={"schema": SCHEMA + "/state", "json": json.dumps(meta)})


def load_state(folder: Path, fp: str) -> ItemState | None:
    """The saved state when it exists, is readable and has fingerprint `fp`; otherwise None."""
    path = folder / STATE_FILE
    if not path.is_file():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("json", "{}"))
            if meta.get("fingerprint") != fp:
                return None
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception:  # a state from an older or foreign run: start afresh
        return None
    return ItemState(x=tensors["x"], step=int(meta["step"]), losses=[list(p) for p in meta["losses"]],
                     adam={k[5:]: v for k, v in tensors.items() if k.startswith("adam.")},
                     wall_time_s=float(meta["wall_time_s"]), stopped_early=bool(meta.get("stopped_early")))


def holds_other(folder: Path, fp: str) -> bool:
    """Whether `folder` holds a finished record or a saved state made by a different command (fingerprint ≠ `fp`):
    writing there would replace another run's results."""
    record = folder / RECORD_FILE
    if record.is_file():
        try:
            return json.loads(record.read_text()).get("fingerprint") != fp
        except (OSError, ValueError):
            return True
    return (folder / STATE_FILE).is_file() and load_state(folder, fp) is None


def load_record(folder: Path, fp: str) -> dict[str, Any] | None:
    """A finished item's record when it exists and was made by the same command (fingerprint)."""
    path = folder / RECORD_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("fingerprint") == fp else None
