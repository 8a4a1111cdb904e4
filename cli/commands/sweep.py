"""Sweep commands: sweep (run a plan through SLURM / local processes / in-process), status, collect."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from metazoo_core.extras import require

from ..console import err, out, print_json, problem


def _sweep(
    plan_file: Path = typer.Argument(..., help="plan YAML (models × stages × inputs × seeds; see docs/cluster.md)"),
    executor: str = typer.Option("local", "--executor", "-e",
                                 help="slurm, local (processes here) or debug (in-process)"),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o",
                                           help="result store (default: the plan's `store:` or runs/<plan name>)"),
    max_parallel: Optional[int] = typer.Option(None, "--max-parallel", "-j", min=1,
                                               help="local: worker processes; slurm: array tasks running at once"),
    partition: Optional[str] = typer.Option(None, "--slurm-partition", help="SLURM partition (overrides the plan)"),
    time_min: Optional[int] = typer.Option(None, "--slurm-time", min=1,
                                           help="minutes per array task (overrides the plan)"),
    gpus: Optional[int] = typer.Option(None, "--slurm-gpus", min=0, help="GPUs per array task (overrides the plan)"),
    units_per_task: Optional[int] = typer.Option(None, "--units-per-task", min=1,
                                                 help="SLURM: units chunked into one array task (overrides the plan)"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="give units that ran out of attempts a new set"),
    no_wait: bool = typer.Option(False, "--no-wait", help="slurm: submit and return; follow with `metazoo status`"),
) -> None:
    """Run every unit of a plan that is not done yet; finished units are skipped, failed ones retried.

    Python: metazoo_core.sweep (no facade twin yet).
    """
    from metazoo_core.errors import MetazooError
    from metazoo_core.fileio import check_writable
    from metazoo_core.sweep.plan import load_plan

    if executor not in ("slurm", "local", "debug"):
        raise MetazooError(f"unknown executor '{executor}'; choose slurm, local or debug")
    if no_wait and executor != "slurm":
        raise MetazooError("--no-wait needs --executor slurm (local and debug workers end with this command)")
    plan = load_plan(plan_file)
    store_root = out_dir or (Path(plan.store) if plan.store else Path("runs") / plan.name)
    check_writable(store_root)
    if executor != "debug":
        require("submitit", "cluster", f"metazoo sweep --executor {executor}")
    overrides = {k: v for k, v in {"partition": partition, "time_min": time_min, "gpus_per_node": gpus,
                                   "units_per_task": units_per_task}.items() if v is not None}
    slurm = plan.slurm.model_copy(update=overrides)

    from metazoo_core.sweep.executors import submit, wait
    from metazoo_core.sweep.store import Store

    store = Store(store_root)
    sub = submit(plan, store, executor=executor, max_parallel=max_parallel, slurm=slurm, retry_failed=retry_failed)
    err.print(f"plan '{plan.name}': {len(plan.units)} units → {store_root}: {sub.skipped_done} already done, "
              f"{sub.skipped_failed} out of attempts, {sub.todo} to run in {len(sub.chunks)} "
              f"{'array task(s)' if executor == 'slurm' else 'worker(s)'} ({executor})", highlight=False)
    if sub.job_ids and executor == "slurm":
        err.print(f"SLURM job {sub.job_ids[0].split('_')[0]}; logs in {store.logs_dir}", highlight=False)
    elif sub.job_ids:
        err.print(f"local job(s) {', '.join(sub.job_ids)} (`kill ID` stops that job's worker); logs in "
                  f"{store.logs_dir}", highlight=False)
    if no_wait:
        return

    def progress(n: int) -> None:
        err.print(f"  {n}/{len(sub.jobs)} jobs finished", highlight=False)

    for line in wait(sub, on_progress=progress if sub.jobs else None):
        problem(line)
    counts = _print_status(store, show_table=False, ids={u.id for u in plan.units})
    if counts["failed"] or counts["pending"] or counts["running"]:
        raise typer.Exit(2)


def _counts(states) -> dict[str, int]:
    counts = {k: 0 for k in ("done", "running", "failed", "pending")}
    for s in states:
        counts[s.state] += 1
    return counts


def _print_status(store, show_table: bool = True, ids: Optional[set[str]] = None) -> dict[str, int]:
    """Print and return the counts of the store's units (only those in `ids` when given: this plan's)."""
    states = [s for s in store.status() if ids is None or s.id in ids]
    counts = _counts(states)
    out.print(" · ".join(f"{k} {v}" for k, v in counts.items()) + f" (of {len(states)} units)", highlight=False)
    failed = [s for s in states if s.state == "failed"]
    for s in failed:
        problem(f"{s.id} failed after {s.attempts} attempt{'s' if s.attempts != 1 else ''}: {s.last_error} "
                "(fix the cause, then rerun the sweep with --retry-failed)")
    if show_table:
        for s in states:
            if s.state == "running":
                out.print(f"running {s.id} on {s.owner}", highlight=False)
    return counts


def _status(
    run: Path = typer.Argument(..., help="result store written by `metazoo sweep`"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable: counts and every unit's state"),
) -> None:
    """Count done / running / failed / pending units; show each failed unit's last error.

    Python: metazoo_core.sweep.store.Store (no facade twin yet).
    """
    from metazoo_core.sweep.store import Store

    store = Store.open(run)
    if as_json:
        states = store.status()
        print_json({"counts": _counts(states),
                    "units": [{"id": s.id, "state": s.state, "attempts": s.attempts, "last_error": s.last_error,
                               "owner": s.owner} for s in states]})
        return
    _print_status(store)


def _collect(
    run: Path = typer.Argument(..., help="result store written by `metazoo sweep`, or a `metazoo generate` run"),
    table_path: Optional[Path] = typer.Option(
        None, "--out", "-o", help="table file: .parquet (default RUN/records.parquet), .sqlite or .csv"),
) -> None:
    """Gather every finished unit's records into one table, one row per record.

    Python: metazoo_core.sweep.collect (no facade twin yet).
    """
    from metazoo_core.sweep.collect import FORMATS, table, write_table
    from metazoo_core.sweep.store import Store

    source = Store.open(run) if (run / "manifest.json").exists() else run
    path = table_path or run / "records.parquet"
    require("pandas", "analysis", "metazoo collect")
    if FORMATS.get(path.suffix.lower()) == "parquet":
        require("pyarrow", "analysis", "a Parquet table (`metazoo collect` without --out FILE.csv)")
    df = table(source)
    fmt = write_table(df, path)
    out.print(f"{len(df)} records → {path} ({fmt})", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("sweep")(_sweep)
    app.command("status")(_status)
    app.command("collect")(_collect)
