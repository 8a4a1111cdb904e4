"""`metazoo replicate mini`: the offline replications of the study's key effects (docs/replication.md)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from ..console import err, out

REQUIRES = ["sklearn", "pandas", "pingouin"]
"""Modules beyond the core install (the `analysis` extra): the digits data set (B) and the statistics (B's ANOVA)."""

replicate_app = typer.Typer(help="Reproduce the study's key effects offline (docs/replication.md).",
                            no_args_is_help=True)


def _mini(
    ci: bool = typer.Option(False, "--ci", help="CI-sized run (minutes): checks the pipeline, not the effects"),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o",
                                           help="where results.json, results.md and the figures go "
                                                "(default WORK/results, e.g. runs/replicate-full/results; never the "
                                                "checkout's docs/ unless given)"),
    work: Optional[Path] = typer.Option(None, "--work",
                                        help="metamers, nulls and trained models (default runs/replicate-<plan>); "
                                             "re-running resumes from it"),
    only: str = typer.Option("ab", "--only", help="a, b or ab: which experiments to run"),
) -> None:
    """Experiment A (EfficientNet-Lite0/1/2 metamers, cross-model recognition) and Experiment B (digit CNNs with
    standard, adversarial and random-perturbation training; SI Table 2 ANOVA), from scratch on the CPU.

    Python: metazoo_core.replication (no facade twin yet).
    """
    from metazoo_core.errors import MetazooError
    from metazoo_core.extras import require

    only = only.lower().strip()
    if not only or set(only) - {"a", "b"}:
        raise MetazooError(f"--only must be a, b or ab (got '{only}')")
    require(REQUIRES, "analysis", "metazoo replicate")
    from metazoo_core.replication.plan import CI, FULL
    from metazoo_core.replication.run import run_mini

    plan = CI if ci else FULL
    work = work or Path("runs") / f"replicate-{plan.name}"
    out_dir = out_dir or work / "results"
    t0 = time.time()

    def say(message: str) -> None:
        err.print(f"[dim]{time.strftime('%H:%M:%S')} +{(time.time() - t0) / 60:5.1f} min[/] {message}",
                  highlight=False)

    say(f"replicate mini ({plan.name} plan): experiments {only.upper()}, results → {out_dir}, work → {work}")
    results = run_mini(plan, out_dir, work, say, experiments=only)
    out.print(f"wrote {out_dir / 'results.json'}, {out_dir / 'results.md'} and figures "
              f"({results['wall_time_s'] / 60:.1f} min)")


def register(app: typer.Typer) -> None:
    replicate_app.command("mini")(_mini)
    app.add_typer(replicate_app, name="replicate")
