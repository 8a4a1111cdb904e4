"""Shared output helpers for commands: rich console on stderr for progress/notices, stdout for results."""
from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

_PIPE_WIDTH = 140
"""Columns used when output goes to a file or pipe (rich would assume 80 and truncate tables)."""
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
for _console in (out, err):
    if not _console.is_terminal:
        _console.width = max(_console.width, _PIPE_WIDTH)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


_CONTROL = {i: f"\\x{i:02x}" for i in [*range(32), 127]}


def one_line(message: str) -> str:
    """`message` as one printable line: control characters (a newline in a file name) and the bytes of non-UTF-8
    file names shown as \\xNN."""
    return message.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace").translate(_CONTROL)


def _text(message: str) -> str:
    """`message` as one line of rich text: markup characters escaped."""
    return escape(one_line(message))


def notice(message: str) -> None:
    """A notice on stderr; the message is text (file names such as `a[/]b.png` are not read as markup)."""
    err.print(f"[yellow]notice:[/] {_text(message)}", highlight=False)


def problem(message: str) -> None:
    """A per-item error that does not stop the run: one line on stderr (the message is text, not markup)."""
    err.print(f"[red]error:[/] {_text(message)}", highlight=False)


def load_inputs(sources: list[str], spec: Any) -> tuple[list[Any], int]:
    """Load every source for `spec` (builtin and folders expanded); bad ones are reported and counted, not fatal.

    Returns (loaded items with their notices printed, number of sources that failed).
    """
    from metazoo_core.inputs import load_many, skipped_folders

    for line in skipped_folders(sources):
        notice(line)
    items, problems = load_many(sources, spec)
    for line in problems:
        problem(line)
    for n in (n for item in items for n in item.notices):
        notice(n)
    return items, len(problems)


def pick_device(request: str) -> str:
    """The torch device for a `--device` value (auto/cpu/cuda[:N]/mps), with a notice when `auto` chose one;
    one-line InputError when it is not on this machine."""
    from metazoo_core.devices import resolve_device

    device, message = resolve_device(request)
    if message:
        notice(message)
    return device


class PlainProgress:
    """Progress as plain lines on stderr, for a pipe or a file (where rich bars print nothing until the end):
    `label: done/total extra (N s)`, at most one line per label every `every_s` seconds, plus the last one."""

    def __init__(self, every_s: float = 5.0) -> None:
        import time

        self.every_s = every_s
        self.clock = time.monotonic
        self.t0 = self.clock()
        self.last: dict[str, float] = {}

    def __call__(self, label: str, done: int, total: int, extra: str = "") -> None:
        now = self.clock()
        if done < total and now - self.last.get(label, -self.every_s) < self.every_s:
            return
        self.last[label] = now
        err.print(f"{_text(label)}: {done}/{total}{' ' + _text(extra) if extra else ''} ({now - self.t0:.0f} s)",
                  highlight=False)
