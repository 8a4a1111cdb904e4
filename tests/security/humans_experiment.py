"""A small image experiment folder (3 inputs, 2 participants, 8 trials each) for the human-experiment probes,
written once per test module and copied by each test that changes it."""
from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path


def write(root: Path) -> Path:
    from metazoo_core.analysis.runs import read_run
    from metazoo_core.experiment import write_experiment
    from test_recognition import VISION, write_run

    write_run(root / "run", VISION, labels={"chelsea": "cat", "coffee": "bottle", "clock": "clock"})
    write_experiment(read_run(root / "run"), root / "experiment", total=8, seed=0, participants=2)
    return root / "experiment"


def copy(folder: Path, target: Path) -> Path:
    shutil.copytree(folder, target, symlinks=True)
    return target


def rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "trials.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def write_rows(folder: Path, table: list[dict[str, str]], encoding: str = "utf-8") -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(table[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    (folder / "trials.csv").write_bytes(buf.getvalue().encode(encoding))


def tree(folder: Path) -> dict[str, bytes]:
    """Every entry below folder → its bytes (files) or the link target / b'<dir>' — to prove nothing changed."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        out[rel] = (b"->" + str(p.readlink()).encode()) if p.is_symlink() else b"<dir>" if p.is_dir() \
            else p.read_bytes()
    return out
