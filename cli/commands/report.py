"""`metazoo report`: one self-contained HTML page of a run (grids, players, badges, loss curves, recognition)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..console import err, problem


def _report(
    run_dir: Path = typer.Argument(..., help="run folder written by the metamer generator"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="HTML file to write (default RUN_DIR/report.html)"),
    figures: Optional[Path] = typer.Option(None, "--figures", help="also write PNG figures (metamer grids, loss "
                                           "curves) into this folder"),
    link_media: bool = typer.Option(False, "--link-media", help="link the run's images and sounds by relative path "
                                    "instead of embedding them (smaller page for large runs; keep it beside the run)"),
) -> None:
    """Write a static HTML report that works offline (media embedded in the page). Records that cannot be read
    are skipped with an `error:` line each; the page is still written, and the exit status is then 2.

    Python: metazoo.build_report.
    """
    from metazoo_core.report import build_report

    target = out or Path(run_dir) / "report.html"
    if target.is_dir():
        target = target / "report.html"
    path, warnings = build_report(run_dir, target, figures, link_media)
    for w in warnings:
        problem(w)
    err.print(f"report written to {path.resolve()}"
              + (f", without {len(warnings)} skipped record(s)" if warnings else ""), highlight=False)
    if figures is not None:
        err.print(f"figures in {figures.resolve()}", highlight=False)
    if warnings:  # the page is written, but it does not show the whole run
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.command("report")(_report)
