"""`metazoo experiment`: the trial list and stimuli of a 16-way human recognition experiment (SI Table 5)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..console import err, notice, out, problem


def _experiment(
    run_dir: Path = typer.Argument(..., help="run folder written by the metamer generator"),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="experiment folder (default RUN_DIR/experiment)"),
    models: Optional[str] = typer.Option(None, "--models", "-m", help="models of the run to include (M1,M2,…)"),
    trials: int = typer.Option(400, "--trials", min=1, help="trials per participant (the study: 400)"),
    seed: int = typer.Option(0, "--seed", help="seed of the first participant's allocation and order"),
    participants: int = typer.Option(1, "--participants", min=1, help="one trial list per participant "
                                     "(seeds --seed, --seed+1, …)"),
) -> None:
    """Write trials.csv, experiment.json and the stimuli: ceiling(trials/N) per condition, trimmed to --trials."""
    from metazoo_core.analysis.runs import read_run
    from metazoo_core.experiment import write_experiment
    from metazoo_core.fileio import check_writable

    run = read_run(run_dir)
    for w in run.warnings:
        problem(w)
    target = check_writable(out_dir or Path(run_dir) / "experiment")
    chosen = [m.strip() for m in models.split(",") if m.strip()] if models else None
    path, notes = write_experiment(run, target, chosen, trials, seed, participants)
    for n in notes:
        notice(n)
    out.print(f"trial list: {path.resolve()}", highlight=False)
    err.print(f"stimuli under {(target / 'stimuli').resolve()}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("experiment")(_experiment)
