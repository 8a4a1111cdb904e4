"""`metazoo profile`: one page per model and a comparison page (metamer recognisability, robustness, OOD, readouts),
reusing measurements on disk and running the missing ones as one sweep."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..console import err, out


def _floats(text: str, what: str) -> tuple[float, ...]:
    from metazoo_core.errors import InputError

    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"{what} '{text}': give comma-separated numbers, e.g. 0,0.001,0.004") from None


def _profile(
    models: list[str] = typer.Argument(..., help="model ids"),
    out_dir: Path = typer.Option(Path("profiles"), "--out", "-o", help="pages, figures, profile.json, leaderboard.csv"),
    store: Path = typer.Option(Path("runs/profile-store"), "--store",
                               help="sweep store the missing measurements go to"),
    runs: Optional[list[Path]] = typer.Option(None, "--runs", help="folders with existing records or metamer runs "
                                              "(repeatable; default: runs/)"),
    fill: bool = typer.Option(True, "--fill/--no-fill", help="run the missing measurements (one sweep)"),
    executor: str = typer.Option("debug", "--executor", help="debug (in this process), local or slurm"),
    max_parallel: Optional[int] = typer.Option(None, "--max-parallel",
                                               help="local: worker processes; slurm: array tasks running at once"),
    stages: Optional[list[str]] = typer.Option(None, "--stage", help="metamer/readout stages (default: all)"),
    inputs: Optional[list[str]] = typer.Option(None, "--inputs", "-i", help="natural images (default: builtin)"),
    iterations: Optional[int] = typer.Option(None, "--iterations", help="metamer steps per block (study: 3000)"),
    blocks: Optional[int] = typer.Option(None, "--blocks", help="metamer blocks (study: 8)"),
    recipe: str = typer.Option("feather2023", "--recipe", help="metamer recipe, as in `metazoo generate`"),
    init_step: Optional[float] = typer.Option(
        None, "--init-step", help="first metamer step size, input units, halved every block (study: 1; a short "
        "schedule needs a larger one, e.g. 8 as in docs/replication.md)"),
    step_decay: Optional[float] = typer.Option(None, "--step-decay", help="step-size factor between blocks "
                                               "(study: 0.5)"),
    noise_mean: Optional[float] = typer.Option(None, "--noise-mean", help="mean of the metamers' initial noise"),
    noise_std: Optional[float] = typer.Option(None, "--noise-std", help="std of the metamers' initial noise"),
    norms: str = typer.Option("linf", "--norms", help="robustness norms, comma-separated (l1, l2, linf)"),
    eps: Optional[str] = typer.Option(None, "--eps", help="ε grid for every norm, e.g. 0,0.001,0.004"),
    steps: int = typer.Option(64, "--steps", help="PGD steps (study: 64)"),
    subsets: int = typer.Option(5, "--subsets", help="robustness subsets (study: 5)"),
    n: int = typer.Option(1024, "--n", help="examples per subset (study: 1024; capped at what is available)"),
    corruptions: Optional[list[str]] = typer.Option(None, "--corruption", help="ImageNet-C corruptions (default: "
                                                    "all generated)"),
    severities: Optional[list[int]] = typer.Option(None, "--severity", help="ImageNet-C severities (default: 1–5)"),
    readout_data: Optional[Path] = typer.Option(None, "--readout-data", help="labelled folder for readouts"),
    readout_epochs: Optional[int] = typer.Option(None, "--readout-epochs", help="readout epochs (study: 10)"),
    seed: int = typer.Option(0, "--seed", help="seed of every planned unit (metamer noise, subset draws, "
                                                 "corruptions, readout units)"),
) -> None:
    """Profile models: metamer recognisability by stage (by the other models), adversarial robustness curves,
    ImageNet-C (and model-vs-human, when recorded) scores, readout accuracy by stage; sortable leaderboard.
    Earlier records are reused only when made with the settings asked for (with --no-fill they are shown marked
    "settings differ").

    Python: metazoo.build_profiles.
    """
    from metazoo_core.errors import InputError
    from metazoo_core.profile import ProfileSettings, build_profiles
    from metazoo_core.robustness.grids import check_norm

    from metazoo_core.metamer.recipes import tuned_recipe

    constants = {"init_step": init_step, "step_decay": step_decay, "noise_mean": noise_mean, "noise_std": noise_std}
    tuned_recipe(recipe, **constants)  # a bad recipe or constant: one line before anything runs
    norm_list = tuple(check_norm(v.strip()) for v in norms.split(",") if v.strip())
    base = ProfileSettings()
    eps_map = dict(base.eps)
    if eps is not None:
        grid = _floats(eps, "--eps")
        eps_map = {k: grid for k in eps_map}
    if executor not in ("debug", "local", "slurm"):
        raise InputError(f"--executor must be debug, local or slurm, not '{executor}'")
    settings = ProfileSettings(
        stages=tuple(stages) if stages else None, inputs=tuple(inputs) if inputs else base.inputs, seed=seed,
        recipe=recipe, iterations=iterations, blocks=blocks, constants=constants, norms=norm_list, eps=eps_map,
        steps=steps, subsets=subsets, n=n,
        corruptions=tuple(corruptions) if corruptions else None,
        severities=tuple(severities) if severities else base.severities,
        readout_data=str(readout_data) if readout_data else None,
        readout_options={"epochs": readout_epochs} if readout_epochs else {})
    roots = list(runs) if runs else [Path("runs")]
    result = build_profiles(list(models), out_dir, store, runs=roots, settings=settings, fill=fill,
                            executor=executor, max_parallel=max_parallel,
                            say=lambda m: err.print(m, highlight=False))
    sweep = result["sweep"]
    if sweep:
        err.print(f"sweep: {sweep['planned']} planned, {sweep['reused']} reused, {sweep['ran']} run, "
                  f"{len(sweep['failed'])} failed", highlight=False)
    for p in result["pages"]:
        out.print(str(p), highlight=False)


def register(app: typer.Typer) -> None:
    app.command("profile")(_profile)
