"""Execute the tutorials (jupytext percent scripts in docs/tutorials/) into notebooks with their outputs
(docs/tutorials/NAME.ipynb, not versioned), which the documentation site renders and the tutorial test checks.

A notebook whose source is unchanged since its last execution is kept (its source sha256 is stored in the notebook's
metadata), so `make docs` executes only what changed; `--force` executes everything. Each runs offline
(HF_HUB_OFFLINE=1) in a fresh temporary folder, so the run folders it writes never land in docs/.

    python scripts/execute_tutorials.py [--force] [NAME ...]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

TUTORIALS = Path(__file__).resolve().parents[1] / "docs" / "tutorials"


def sources() -> list[Path]:
    """The tutorial scripts, in reading order (their names start with the number)."""
    return sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))


def digest(source: Path) -> str:
    return hashlib.sha256(source.read_bytes()).hexdigest()


def is_current(source: Path) -> bool:
    """Whether the executed notebook beside `source` was made from this very source."""
    import nbformat

    target = source.with_suffix(".ipynb")
    if not target.is_file():
        return False
    meta = nbformat.read(target, as_version=4).metadata.get("metazoo", {})
    return meta.get("source_sha256") == digest(source)


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def execute(source: Path, timeout: float = 600) -> float:
    """Execute `source` into source.ipynb (written atomically); returns the wall time in seconds. The notebook's
    metadata also records the kernel's CPU time (user + system, all threads: what a busy shared machine does not
    inflate) and the 1-minute load average. A failing cell raises nbclient's CellExecutionError naming the cell."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    os.environ["HF_HUB_OFFLINE"] = "1"
    # tqdm's "IProgress not found" (no ipywidgets in a headless kernel) is not about the tutorial
    os.environ["PYTHONWARNINGS"] = "ignore:IProgress not found"
    notebook = jupytext.read(source)
    with tempfile.TemporaryDirectory(prefix="metazoo-tutorial-") as work:
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": work}})
        start, cpu = time.perf_counter(), _children_cpu_s()
        client.execute()  # the kernel is shut down and reaped here, so its CPU time is counted below
        seconds, cpu = time.perf_counter() - start, _children_cpu_s() - cpu
    notebook.metadata["metazoo"] = {"source_sha256": digest(source), "seconds": round(seconds, 1),
                                    "kernel_cpu_seconds": round(cpu, 1),
                                    "load_average_1min": round(os.getloadavg()[0], 1)}
    target = source.with_suffix(".ipynb")
    partial = target.with_suffix(".ipynb.partial")
    nbformat.write(notebook, partial)
    partial.replace(target)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="tutorial names (e.g. 01_first_metamer); default all")
    parser.add_argument("--force", action="store_true", help="execute even when the notebook is current")
    args = parser.parse_args(argv)
    chosen = [s for s in sources() if not args.names or s.stem in args.names]
    unknown = set(args.names) - {s.stem for s in chosen}
    if unknown:
        print(f"unknown tutorial(s): {', '.join(sorted(unknown))}; choose from "
              f"{', '.join(s.stem for s in sources())}", file=sys.stderr)
        return 2
    for source in chosen:
        if not args.force and is_current(source):
            print(f"{source.stem}: current (cached)")
            continue
        print(f"{source.stem}: {execute(source):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
