"""`metazoo humans`: the study's published human data (`study`) and responses collected with `metazoo experiment
--serve/--export` (`collect`)."""
from __future__ import annotations

from typing import Any, Optional

import typer

from ..console import out, print_json

humans_app = typer.Typer(help="Human recognition data: the study's published data and your own experiments.",
                         no_args_is_help=True)


def _fmt(e: dict[str, Any]) -> str:
    from metazoo_core.analysis.stats import Effect, format_F, format_np2, format_p

    effect = Effect(source="", **e)
    return f"{format_F(effect)}  {format_p(effect.p)}  {format_np2(effect.np2)}"


def _render_study(result: dict[str, Any]) -> None:
    from rich.table import Table

    from metazoo_core.humans.study import excluded

    t = Table(title=f"{result['experiment']}: human vs generating model (SI Table 1 form; parametric p)")
    for col in ("model", "N", "stages", "human, natural → deepest", "observer main effect", "observer × stage"):
        t.add_column(col)
    for m in result["models"]:
        h = m["human"]["mean"]
        skip = excluded(result["experiment"], m["model"])
        stages = f"{len(m['stages'])}" + (f" ({', '.join(skip)} not analysed)" if skip else "")
        t.add_row(m["model"], str(m["participants"]), stages, f"{h[0]:.2f} → {h[-1]:.2f}",
                  _fmt(m["observer_stage"]["main"]), _fmt(m["observer_stage"]["interaction"]))
    out.print(t)
    if result["comparisons"]:
        c = Table(title=f"{result['experiment']}: human recognition, Model 1 vs Model 2 (SI Table 2 form)")
        for col in ("model 1", "model 2", "model main effect", "model × stage"):
            c.add_column(col)
        for row in result["comparisons"]:
            c.add_row(row["model_1"], row["model_2"], _fmt(row["main"]), _fmt(row["interaction"]))
        out.print(c)


def _study(
    experiment: Optional[str] = typer.Argument(None, help="vision-exp1, …, audio-exp1, …; omit to list them"),
    as_json: bool = typer.Option(False, "--json", help="print the tables as JSON"),
) -> None:
    """The study's per-participant human data (MIT, Feather et al. 2023) with SI Table 1 and 2 analyses."""
    from metazoo_core.humans import study

    if experiment is None:
        listing = study.experiments()
        if as_json:
            print_json({"experiments": listing})
            return
        for name, models in listing.items():
            out.print(f"{name:13s} {len(models)} models: {', '.join(models)}", highlight=False)
        return
    result = study.analyse(experiment)
    if as_json:
        print_json(result)
    else:
        _render_study(result)


def register(app: typer.Typer) -> None:
    humans_app.command("study")(_study)
    app.add_typer(humans_app, name="humans")
