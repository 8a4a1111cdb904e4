"""The `--device` option: `auto`, `cpu`, `cuda`, `cuda:N` or `mps`, checked against what this machine has.

`auto` picks the best available device (CUDA, then Apple MPS, then the CPU) and says which; asking for a device
that is not there is one line naming the devices that are. Torch is imported only when a device is resolved.
"""
from __future__ import annotations

import re
from typing import Any

from .errors import InputError

CHOICES = "auto, cpu, cuda, cuda:N or mps"
_PATTERN = re.compile(r"^(auto|cpu|mps|cuda)(?::(\d+))?$")


def available_devices() -> list[str]:
    """The devices torch can use here: 'cpu', then 'cuda:0' … 'cuda:N-1', then 'mps' when present."""
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def check_form(request: Any) -> str:
    """The device kind ('auto', 'cpu', 'cuda', 'mps') of a well-formed `--device` value, without importing torch;
    InputError with one line otherwise."""
    text = request.strip().lower() if isinstance(request, str) else ""
    found = _PATTERN.match(text)
    if found is None or (found.group(2) is not None and found.group(1) != "cuda"):
        raise InputError(f"--device {request!r} is not a device; give {CHOICES}")
    return found.group(1)


def resolve_device(request: str) -> tuple[str, str | None]:
    """(device string for torch, notice or None) for a `--device` value; InputError with one line when the device
    is malformed or not present on this machine."""
    kind = check_form(request)
    text = request.strip().lower()
    here = available_devices()
    if kind == "auto":
        best = next((d for d in here if d.startswith("cuda")), "mps" if "mps" in here else "cpu")
        return best, f"--device auto: using {best} (available here: {', '.join(here)})"
    wanted = "cuda:0" if text == "cuda" else text
    if wanted not in here:
        raise InputError(f"--device {request}: not available on this machine (available: {', '.join(here)}); "
                         "use --device auto or one of those")
    return ("cuda" if text == "cuda" else wanted), None
