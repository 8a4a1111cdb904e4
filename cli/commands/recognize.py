"""`metazoo recognize`: other models classify a run's metamers (SI Fig. 3/4): table, CSV/JSON and the plot."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ..console import err, notice, out, pick_device, print_json, problem


def _recognize(
    run_dir: Path = typer.Argument(..., help="run folder written by the metamer generator"),
    models: str = typer.Option(..., "--models", "-m", help="recognising models: M1,M2,… or all-vision / all-audio"),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="results folder (default RUN_DIR/recognition)"),
    include_failed: bool = typer.Option(False, "--include-failed",
                                        help="also classify metamers that failed the acceptance criteria"),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=1, help="resamples for the per-curve SEM"),
    seed: int = typer.Option(0, "--seed", help="seed of the bootstrap"),
    device: str = typer.Option("cpu", "--device", help="auto (best available), cpu, cuda, cuda:N or mps"),
    as_json: bool = typer.Option(False, "--json", help="print the table as JSON on stdout"),
) -> None:
    """Classify every metamer with each recognising model; recognition per (generating model, stage, recogniser).

    Python: metazoo.recognise.
    """
    import csv
    import io

    from metazoo_core.analysis import plots
    from metazoo_core.analysis.recognition import recognise, resolve_recognisers, sem_text
    from metazoo_core.analysis.runs import out_of_category, read_run
    from metazoo_core.availability import availability, offline_mode
    from metazoo_core.plugins import get_spec
    from metazoo_core.errors import MetazooError
    from metazoo_core.fileio import check_writable, write_json, write_text

    device = pick_device(device)
    run = read_run(run_dir)
    for w in run.warnings:
        problem(w)
    for line in out_of_category(i.record for i in run.items):
        notice(line)
    recognisers = resolve_recognisers(models, {run.modality(m) for m in run.models()})
    n_failed = sum(i.passed is False for i in run.items)
    if n_failed and not include_failed:
        notice(f"{n_failed} metamer{'s that' if n_failed != 1 else ' that'} failed the acceptance criteria "
               f"{'are' if n_failed != 1 else 'is'} left out (--include-failed keeps them)")
    not_evaluated = sum(i.passed is None for i in run.items)
    if not_evaluated:
        notice(f"{not_evaluated} metamer{'s were' if not_evaluated != 1 else ' was'} not checked against a null "
               f"distribution; {'they are' if not_evaluated != 1 else 'it is'} included")
    target = check_writable(out_dir or Path(run_dir) / "recognition")
    absent = [r for r in recognisers if not availability(get_spec(r)).runs] if offline_mode() else []
    recognisers = [r for r in recognisers if r not in absent]
    unloaded: list[str] = []

    def on_problem(line: str) -> None:  # recognisers that cannot load are summarised in one line below
        if line.startswith("recogniser "):
            unloaded.append(line.split()[1])
        else:
            problem(line)

    result = recognise(run, recognisers, include_failed, n_boot=bootstrap, seed=seed, on_problem=on_problem,
                       progress=lambda m: err.print(f"[dim]{escape(m)}[/]", highlight=False), device=device)
    result.failed += [f"{r}: weights not on this machine (offline)" for r in absent]
    skipped = absent + unloaded
    if skipped:
        shown = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        problem(f"{len(skipped)} of {len(skipped) + len(recognisers) - len(unloaded)} recognisers skipped, their "
                f"weights are not available here: {shown} (reasons in recognition.json; `metazoo list --available` "
                "shows what runs offline, `metazoo fetch ID` gets the rest)")
    if not result.trials:
        raise MetazooError("no recognising model could be loaded; see the errors above")
    write_json(target / "recognition.json", result.to_json())
    for name, rows in (("recognition.csv", result.table), ("trials.csv", result.trials)):
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        write_text(target / name, buf.getvalue())
    chance = 1 / 16 if run.modality(run.models()[0]) == "vision" else None
    plots.recognition_curves(result.table, target / "recognition.png", chance=chance)
    if as_json:
        print_json(result.table)
    else:
        from rich.table import Table

        table = Table(title="proportion recognised (bootstrap SEM; mean: SEM across recognising models)")
        for col in ("generator", "stage", "recogniser", "n", "recognised", "SEM"):
            table.add_column(col, justify="right" if col in ("n", "recognised", "SEM") else "left", overflow="fold")
        for r in result.table:  # names from the run folder are text, not markup
            table.add_row(escape(r["generator"]), escape(r["stage"]), "[bold]mean[/]" if r["recogniser"] == "mean"
                          else escape(r["recogniser"]), str(r["n"]), f"{r['accuracy']:.3f}",
                          sem_text(r["sem"], r["n"]))
        out.print(table)
    err.print(f"results in {target.resolve()} (recognition.csv, recognition.json, trials.csv, recognition.png)",
              highlight=False)
    if result.failed:
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.command("recognize")(_recognize)
