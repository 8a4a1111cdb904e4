"""Shared output helpers for commands: rich console on stderr for progress/notices, stdout for results."""
from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def notice(message: str) -> None:
    err.print(f"[yellow]notice:[/] {message}", highlight=False)


def problem(message: str) -> None:
    """A per-item error that does not stop the run: one line on stderr."""
    err.print(f"[red]error:[/] {message}", highlight=False)
