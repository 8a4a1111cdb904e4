"""Reading an experiment's trials.csv (written by `metazoo experiment`, metazoo_core/experiment.py) and the one
rule for every file a session page references: a relative path inside the experiment folder, reached through no
symbolic link, naming a regular file.

The folder is uploaded (`--export`) or served (`--serve`), so a path in a hand-edited trials.csv must not reach a
file outside it (`../`, an absolute path, a link) nor a private file of the folder (the answer key trials.csv, the
response store): stimuli live under `stimuli/`, as `metazoo experiment` writes them.
"""
from __future__ import annotations

import csv
import os
import stat
from pathlib import Path

from ..errors import InputError

COLUMNS = ("participant", "trial", "condition", "shown", "category", "stimulus", "analysed")
"""Columns a trial list must have (others are kept and ignored)."""

STIMULI = "stimuli"
"""The folder of the experiment that holds every stimulus file."""


def media_file(root: Path, rel: str, what: str) -> Path:
    """`root/rel` when rel is a relative POSIX path without `.`/`..`/empty parts and every part below `root` is
    a real folder or, last, a regular file (no symbolic links); else one line naming `what` and the path."""
    parts = rel.split("/")
    if "\\" in rel or ":" in parts[0] or any(p in ("", ".", "..") for p in parts):
        raise InputError(f"{what} '{rel}' must be a path relative to the experiment folder {root} "
                         "(no '..', no absolute path); rewrite the experiment with `metazoo experiment RUN`")
    path = root
    for i, part in enumerate(parts):
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            raise InputError(f"{what} {path} is missing; rewrite the experiment with `metazoo experiment RUN`") \
                from None
        last = i == len(parts) - 1
        if stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) if last else stat.S_ISDIR(mode)):
            kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file" if last else "not a folder"
            raise InputError(f"{what} {path} is {kind}; an experiment holds its own files (replace it with a copy)")
    return path


def read_trial_list(root: Path) -> list[dict[str, str]]:
    """The rows of root/trials.csv, checked: UTF-8 CSV with COLUMNS, positive integer participant numbers, every
    stimulus a regular file under root/stimuli/ (media_file). One line naming the file and row otherwise."""
    path = root / "trials.csv"
    if not path.is_file():
        raise InputError(f"{path} not found; write the experiment first with `metazoo experiment RUN --out {root}`")
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"{path} is not a UTF-8 CSV trial list ({e}); rewrite it with `metazoo experiment RUN`") \
            from None
    if not rows or set(COLUMNS) - set(rows[0]):
        raise InputError(f"{path} is not a metazoo trial list (needs columns {', '.join(sorted(COLUMNS))})")
    checked: set[str] = set()
    for line, r in enumerate(rows, start=2):
        if any(r.get(c) is None for c in COLUMNS):
            raise InputError(f"{path}, line {line}: the row has fewer fields than the header")
        number = r["participant"].strip()
        if not (number.isascii() and number.isdigit() and 0 < int(number) < 10**6):
            raise InputError(f"{path}, line {line}: participant '{number[:40]}' is not a list number 1, 2, …; "
                             "rewrite the trial list with `metazoo experiment RUN --participants N`")
        r["participant"] = number
        stimulus = r["stimulus"]
        if stimulus in checked:
            continue
        if stimulus.split("/")[0] != STIMULI:
            raise InputError(f"{path}, line {line}: stimulus '{stimulus[:200]}' is not under {STIMULI}/ of the "
                             "experiment folder; rewrite the experiment with `metazoo experiment RUN`")
        media_file(root, stimulus, f"{path}, line {line}: stimulus")
        checked.add(stimulus)
    return rows
