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
                                     "(seeds --seed, --seed+1, …); with --serve, the participant links to create"),
    serve: bool = typer.Option(False, "--serve", help="run the experiment in a local web server (responses → "
                               "SQLite in the experiment folder)"),
    host: str = typer.Option("127.0.0.1", "--host", help="--serve: address to listen on"),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="--serve: port (0: any free port)"),
    db: Optional[Path] = typer.Option(None, "--db", help="--serve: SQLite file (default EXPERIMENT/responses.sqlite)"),
    export: Optional[Path] = typer.Option(None, "--export", help="write the experiment as a static bundle for an "
                                          "online platform into this folder (new, empty or an earlier bundle; "
                                          "outside the experiment folder)"),
    post_url: str = typer.Option("", "--post-url", help="--export: URL each answered trial is POSTed to"),
    participant_param: str = typer.Option("PROLIFIC_PID", "--participant-param",
                                          help="--export: URL parameter with the participant id"),
    code_param: str = typer.Option("cc", "--code-param", help="--export: URL parameter with the completion code"),
    fixation_ms: int = typer.Option(300, "--fixation-ms", help="fixation cross (ms; SI: 300)"),
    stimulus_ms: int = typer.Option(200, "--stimulus-ms", help="image on screen (ms; SI: 200)"),
    mask_ms: int = typer.Option(200, "--mask-ms", help="pink-noise mask (ms; SI: 200)"),
    practice: int = typer.Option(16, "--practice", help="practice trials, the first half slower (500/400/400 ms)"),
    catch: int = typer.Option(16, "--catch", help="catch trials appended to the list"),
    stimulus_px: int = typer.Option(224, "--stimulus-px", help="image size on screen in CSS pixels"),
    headphone_pass: int = typer.Option(5, "--headphone-pass", help="sounds: headphone-check trials (of 6) "
                                       "needed to continue"),
    allow_degenerate: bool = typer.Option(False, "--allow-degenerate", "--allow-out-of-category",
                                          help="write the design even when its correct answers are degenerate: "
                                          "one answer for every trial, or inputs whose top-1 class is outside the "
                                          "16 categories (kept in experiment.json)"),
) -> None:
    """Write trials.csv, experiment.json and the stimuli: ceiling(trials/N) per condition (N conditions: natural
    plus one per model and stage of the run), trimmed to --trials.
    With --serve or --export, run that experiment (RUN_DIR may also be an experiment folder).

    Python: metazoo_core.experiment.write_experiment (no facade twin yet).
    """
    if serve or export:
        from metazoo_core.humans.design import Settings

        settings = Settings(fixation_ms=fixation_ms, stimulus_ms=stimulus_ms, mask_ms=mask_ms, practice=practice,
                            catch=catch, stimulus_px=stimulus_px, headphone_pass=headphone_pass, seed=seed)
        folder = Path(run_dir) if (Path(run_dir) / "trials.csv").is_file() else out_dir or Path(run_dir) / "experiment"
        if not (folder / "trials.csv").is_file():
            _write(run_dir, folder, models, trials, seed, participants, allow_degenerate)
        if export:
            from metazoo_core.humans.export import export_bundle

            index = export_bundle(folder, export, settings, post_url, participant_param, code_param)
            out.print(f"static bundle: {index.resolve()}", highlight=False)
        if serve:
            from metazoo_core.humans.server import serve as run_server

            run_server(folder, settings, host, port, participants if participants > 1 else None, db,
                       say=lambda m: err.print(m, highlight=False))
        return
    _write(run_dir, out_dir or Path(run_dir) / "experiment", models, trials, seed, participants, allow_degenerate)


def _write(run_dir: Path, target: Path, models: Optional[str], trials: int, seed: int, participants: int,
           allow_degenerate: bool) -> None:
    from metazoo_core.analysis.runs import read_run
    from metazoo_core.experiment import out_of_category_inputs, write_experiment

    run = read_run(run_dir)
    for w in run.warnings:
        problem(w)
    chosen = [m.strip() for m in models.split(",") if m.strip()] if models else None
    for line in out_of_category_inputs(run, chosen):
        notice(line)
    path, notes = write_experiment(run, target, chosen, trials, seed, participants, allow_degenerate)
    for n in notes:
        notice(n)
    out.print(f"trial list: {path.resolve()}", highlight=False)
    err.print(f"stimuli under {(target / 'stimuli').resolve()}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("experiment")(_experiment)
