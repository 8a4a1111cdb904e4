"""`metazoo humans`: the study's published human data (`study`) and responses collected with `metazoo experiment
--serve/--export` (`collect`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from ..console import err, notice, out, print_json

humans_app = typer.Typer(help="Human recognition data: the study's published data and your own experiments.",
                         no_args_is_help=True)


def _fmt(e: dict[str, Any]) -> str:
    from metazoo_core.analysis.stats import Effect, format_F, format_np2, format_p

    effect = Effect(source="", **e)
    return f"{format_F(effect)}  {format_p(effect.p)}  {format_np2(effect.np2)}"


def _render_study(result: dict[str, Any], permutations: int = 0) -> None:
    from rich.table import Table

    from metazoo_core.humans.study import EXCLUDED_STAGES

    t = Table(title=f"{result['experiment']}: human vs generating model (SI Table 1 form; parametric p)")
    for col in ("model", "N", "stages", "human, natural → deepest", "observer main effect", "observer × stage"):
        t.add_column(col)
    for m in result["models"]:
        h = m["human"]["mean"]
        skip = EXCLUDED_STAGES.get((result["experiment"], m["model"]), ())
        stages = f"{len(m['stages'])}" + (f" ({', '.join(skip)} not analysed)" if skip else "")
        t.add_row(m["model"], str(m["participants"]), stages, f"{h[0]:.2f} → {h[-1]:.2f}",
                  _fmt(m["observer_stage"]["main"]), _fmt(m["observer_stage"]["interaction"]))
    out.print(t)
    if result["comparisons"]:
        kind = f"permutation p, {permutations} permutations" if permutations else "parametric p"
        c = Table(title=f"{result['experiment']}: human recognition, Model 1 vs Model 2 (SI Table 2 form; {kind})")
        for col in ("model 1", "model 2", "model main effect", "model × stage"):
            c.add_column(col)
        for row in result["comparisons"]:
            c.add_row(row["model_1"], row["model_2"], _fmt(row["main"]), _fmt(row["interaction"]))
        out.print(c)


def _plot(result: dict[str, Any], path: Path) -> None:
    from metazoo_core.errors import InputError
    from metazoo_core.fileio import check_writable
    from metazoo_core.humans.plots import plot_curves

    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise InputError(f"--plot {path}: use a .png, .svg or .pdf file name")
    check_writable(path.parent if str(path.parent) else Path("."))
    err.print(f"curves → {plot_curves(result, path).resolve()}", highlight=False)


def _study(
    experiment: Optional[str] = typer.Argument(None, help="vision-exp1, …, audio-exp1, …; omit to list them"),
    as_json: bool = typer.Option(False, "--json", help="print the tables as JSON"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="write human and network curves (PNG or SVG)"),
    permutations: int = typer.Option(0, "--permutations", min=0, help="SI Table 2 p-values from this many "
                                     "random permutations (the study: 10000); default parametric"),
) -> None:
    """The study's per-participant human data (MIT, Feather et al. 2023) with SI Table 1 and 2 analyses.

    Python: metazoo.human_study.
    """
    from metazoo_core.humans import study

    if experiment is None:
        listing = study.experiments()
        if as_json:
            print_json({"experiments": listing})
            return
        for name, models in listing.items():
            out.print(f"{name:13s} {len(models)} models: {', '.join(models)}", highlight=False)
        return
    result = study.analyse(experiment, permutations)
    if plot:
        _plot(result, plot)
    if as_json:
        print_json(result)
    else:
        _render_study(result, permutations)


def _collect(
    run_dir: Path = typer.Argument(..., help="run folder (its experiment/ subfolder) or an experiment folder"),
    db: Optional[Path] = typer.Option(None, "--db", help="the --serve database (default EXPERIMENT/responses.sqlite)"),
    responses: Optional[list[Path]] = typer.Option(None, "--responses", help="exported files: the page's download "
                                                   "or posted records (JSON lines); repeatable"),
    catch_min: float = typer.Option(0.75, "--catch-min", min=0.0, max=1.0,
                                    help="exclude participants with catch-trial accuracy below this"),
    headphone_min: Optional[int] = typer.Option(None, "--headphone-min", min=0, max=6,
                                                help="sounds: headphone-check trials correct needed "
                                                     "(default: the session's --headphone-pass, 5)"),
    allow_incomplete: bool = typer.Option(False, "--allow-incomplete", help="keep participants who did not "
                                          "finish (default: excluded)"),
    compare: Optional[list[str]] = typer.Option(None, "--compare", help="SI Table 2 pair MODEL1,MODEL2 "
                                                "(repeatable; default: every pair with equally many stages)"),
    out_file: Optional[Path] = typer.Option(None, "--out", "-o", help="JSON summary (default "
                                            "EXPERIMENT/humans.json)"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="write human and network curves (PNG or SVG)"),
    permutations: int = typer.Option(0, "--permutations", min=0, help="SI Table 2 p-values from this many "
                                     "random permutations (the study: 10000); default parametric"),
) -> None:
    """Responses → proportions correct per participant and condition, exclusions with reasons, SI Table 1/2.

    Python: metazoo_core.humans.collect.collect (no facade twin yet).
    """
    from metazoo_core.errors import InputError
    from metazoo_core.fileio import write_json
    from metazoo_core.humans.collect import Thresholds, collect

    pairs = []
    for c in compare or []:
        parts = [x.strip() for x in c.split(",")]
        if len(parts) != 2 or not all(parts):
            raise InputError(f"--compare needs MODEL1,MODEL2 (got '{c}')")
        pairs.append((parts[0], parts[1]))
    result = collect(run_dir, db, responses or [], Thresholds(catch_min, headphone_min, not allow_incomplete),
                     pairs or None, permutations)
    target = out_file or Path(result["experiment"]) / "humans.json"
    write_json(target, result)
    if plot:
        _plot(result, plot)
    if as_json:
        print_json(result)
        return
    from rich.table import Table

    t = Table(title="participants")
    for col in ("participant", "trials", "catch", "headphone", "included", "reasons"):
        t.add_column(col)
    for p in result["participants"]:
        catch = "–" if p["catch_accuracy"] is None else f"{p['catch_accuracy']:.2f}"
        t.add_row(p["participant"], f"{p['trials']}/{p['planned']}", catch,
                  "–" if p["headphone_correct"] is None else str(p["headphone_correct"]),
                  "yes" if p["included"] else "no", "; ".join(p["reasons"]))
    out.print(t)
    _render_study({"experiment": f"{result['included']} included participants", "models": [
        m for m in result["models"] if m["observer_stage"]], "comparisons": result["comparisons"]}, permutations)
    for n in result["notes"]:
        notice(n)
    err.print(f"summary → {target.resolve()}", highlight=False)


def register(app: typer.Typer) -> None:
    humans_app.command("study")(_study)
    humans_app.command("collect")(_collect)
    app.add_typer(humans_app, name="humans")
