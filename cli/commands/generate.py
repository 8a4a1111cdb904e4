"""`metazoo generate` (model metamers) and `metazoo null` (null distributions for the acceptance criteria)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from rich.markup import escape

from metazoo_core.caveats import DEFAULT_NULL_PAIRS, RANDOM_WEIGHTS, null_note

from ..console import PlainProgress, err, load_inputs, notice, out, pick_device, print_json, problem


class ProgressDisplay:
    """Rich progress bars on stderr, one per batch (stage · inputs, and worker when several): step, loss, ETA; on a
    pipe or file, plain lines (`PlainProgress`) instead. Each bar ends on the batch's final loss (the record's)."""

    def __init__(self) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), TextColumn("ETA"),
                                 TimeRemainingColumn(), console=err, transient=False)
        self.tasks: dict[str, Any] = {}
        self.plain = None if err.is_terminal else PlainProgress()
        self.labels: dict[Any, str] = {}

    def __enter__(self) -> "ProgressDisplay":
        if self.plain is None:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.plain is None:
            self.progress.stop()

    def __call__(self, event) -> None:
        worker = getattr(event, "worker", None)  # a worker's batches of one stage run one after another
        key = (worker, event.stage)
        if event.kind == "start":  # the latest bar of a (worker, stage) is its batch's
            from rich.markup import escape

            more = f" +{len(event.inputs) - 3}" if len(event.inputs) > 3 else ""
            names = ", ".join(map(escape, event.inputs[:3])) + more
            who = f"w{worker} " if worker else ""
            if self.plain is not None:
                self.labels[key] = f"{who}{event.stage} [{', '.join(event.inputs[:3])}{more}]"
                return
            self.tasks[key] = self.progress.add_task(f"{who}{escape(event.stage)} \\[{names}]",
                                                     total=event.total, completed=event.step, loss="…")
            return
        if self.plain is not None and key in self.labels:
            if event.kind != "done" and event.step >= event.total:
                return  # the "done" event follows with the final loss (the table's), not the last step's
            loss = f"steps, loss {event.loss:.4g}" if event.loss is not None else "steps"
            self.plain(self.labels[key], event.step, event.total, loss)
            return
        task = self.tasks.get(key)
        if task is None:
            return
        fields = {"loss": f"{event.loss:.4g}"} if event.loss is not None else {}
        self.progress.update(task, completed=event.step, **fields)


def _verdict(passed: Optional[bool]) -> str:
    return {True: "[green]passed[/]", False: "[red]failed[/]", None: "not evaluated"}[passed]


def _null_cell(record: dict) -> str:
    """The verdict with the null's size: 'passed · null 20 pairs (loose)'."""
    null = record.get("null") or {}
    if not null:
        return _verdict(record["passed"])
    loose = " [yellow](loose)[/]" if null_note(null.get("pairs")) else ""
    return f"{_verdict(record['passed'])} · null {null.get('pairs')} pairs{loose}"


def summary_table(records: list[dict]):
    """The console table of metamer records; a 'weights' column says RANDOM on every row made with random
    weights, and the verdict column names the null's size."""
    from rich.table import Table

    from metazoo_core.labels import decision_text

    random = any(r.get("random_weights") for r in records)
    title = f"{len(records)} metamer{'s' if len(records) != 1 else ''}"
    title += " — computed with RANDOM weights" if random else ""
    table = Table(title=title)
    cols = ["input", "stage", "loss", "spearman", "pearson", "SNR dB", "prediction", "null criteria", "seconds"]
    for col in cols + (["weights"] if random else []):
        table.add_column(col)
    for r in records:
        m = r["measures"][r["stage"]]
        p = r["prediction"]
        pred = "—" if p["rule"] is None else (f"{decision_text(p['original'], r.get('modality'))} → "
                                              f"{decision_text(p['metamer'], r.get('modality'))}"
                                              + ("" if p["match"] else " ✗"))
        row = [escape(r["input"]["name"]), escape(r["stage"]), f"{r['final_loss']:.4g}", f"{m['spearman']:.3f}",
               f"{m['pearson']:.3f}", f"{m['snr_db']:.2f}", escape(pred), _null_cell(r), f"{r['wall_time_s']:.0f}"]
        table.add_row(*row, *(["[red]RANDOM[/]" if r.get("random_weights") else "trained"] if random else []))
    return table


def verdict_notices(records: list[dict]) -> None:
    """One notice per loose null, one per input outside the 16 categories and one for random weights, under the
    table."""
    from metazoo_core.analysis.runs import out_of_category

    for note in dict.fromkeys(null_note((r.get("null") or {}).get("pairs")) for r in records):
        if note:
            notice(note)
    for line in out_of_category(records):
        notice(line)
    if any(r.get("random_weights") for r in records):
        notice(f"these metamers were computed with {RANDOM_WEIGHTS}")


def run_generate(model: str, inputs: list[str], stages: list[str], recipe: str = "feather2023",
                 iterations: Optional[int] = None, blocks: Optional[int] = None, seed: int = 0,
                 batch_size: int = 8, out_dir: Path = Path("runs/metamers"), device: str = "cpu",
                 null_path: Optional[Path] = None, weights: Optional[str] = None, random_weights: bool = False,
                 checkpoint_every: int = 200, stop_loss: Optional[float] = None,
                 restart: bool = False, schedule: Optional[str] = None,
                 overwrite: bool = False, constants: Optional[dict[str, Optional[float]]] = None,
                 optimise: Optional[str] = None, workers: str = "auto", threads: Optional[int] = None,
                 ) -> tuple[list[dict], int]:
    """Load, generate, save; per-input and per-stage problems are printed and counted. Returns (records, failures)."""
    from metazoo_core.errors import MetazooError
    from metazoo_core.fileio import check_writable
    from metazoo_core.cpus import cpu_budget
    from metazoo_core.metamer import NullDistribution
    from metazoo_core.metamer.frozen import parse_optimisations
    from metazoo_core.metamer.workers import (check_threads, check_workers, generate_with_workers,
                                             plan_workers)
    from metazoo_core.metamer.recipes import tuned_recipe
    from metazoo_core.models import load_model
    from metazoo_core.options import check_count, check_seed
    from metazoo_core.plugins import get_spec, host
    from metazoo_core.registry import IMPLICIT_STAGE

    spec = get_spec(model)
    host().check_schedule(spec, schedule)
    tuned = tuned_recipe(recipe, **(constants or {}))
    check_seed(seed)
    for value, where in ((iterations, "--iterations"), (blocks, "--blocks")):
        if value is not None:
            check_count(value, where)
    check_count(batch_size, "--batch-size")
    check_count(checkpoint_every, "--checkpoint-every")
    parse_optimisations(optimise)  # a bad name: one line before anything loads
    wanted, threads = check_workers(workers), check_threads(threads)
    device = pick_device(device)
    failed = 0
    valid = []
    for s in spec.expand_stages(stages):
        try:
            spec.check_stages([s])
            valid.append(s)
        except MetazooError as e:
            problem(str(e))
            failed += 1
    if not valid:
        raise MetazooError(f"no valid --stage for '{model}'; valid stages: "
                           f"{', '.join([*spec.stage_names, IMPLICIT_STAGE])}")
    check_writable(out_dir)
    null = NullDistribution.load(null_path) if null_path is not None else None
    items, bad = load_inputs(inputs, spec)
    failed += bad
    if not items:
        raise MetazooError("no usable inputs; give image/sound files, folders or builtin:NAME")
    # the measures and the decision read every stage: only weights-free stages may skip the checkpoint (not the
    # readout-free ones, whose decision needs the readout)
    net = load_model(spec, pretrained=not random_weights, weights=weights, device=device,
                     stages=valid if spec.weights_free(valid) else None)
    if net.checkpoint_skipped:
        notice(f"{net.weights_notice}; the measures at stages that need it and the model's decision are skipped")
    if null is not None:
        null.check_model(net)
    else:
        notice("no --null given: acceptance against the null is not evaluated (build one with `metazoo null`)")
    steps = tuned.resolved(spec, iterations, blocks).total_steps
    n_workers, n_threads = plan_workers(wanted, threads, len(items) * len(valid), cpu_budget(), device, steps)
    if n_workers > 1:
        err.print(f"{n_workers} workers × {n_threads} thread{'s' if n_threads > 1 else ''}", style="dim")
    with ProgressDisplay() as display:
        records, problems = generate_with_workers(
            net, items, valid, workers=n_workers, threads=n_threads, recipe=tuned, iterations=iterations,
            blocks=blocks, seed=seed, batch_size=batch_size, out_dir=out_dir, null=null, device=device,
            progress=display, resume=not restart, checkpoint_every=checkpoint_every, stop_loss=stop_loss,
            schedule=schedule, overwrite=overwrite, optimise=optimise, notify=notice)
    for line in problems:
        problem(line)
    return records, failed + len(problems)


def _generate(
    model: str = typer.Argument(..., help="model id (`metazoo list`)"),
    inputs: list[str] = typer.Argument(..., help="image/sound files, folders, builtin:NAME or builtin"),
    stage: list[str] = typer.Option(..., "--stage", "-s", help="stage name (repeatable), all, or auto (resolved "
                              "ids: an early/middle/late/final subset)"),
    recipe: str = typer.Option("feather2023", "--recipe", "-r",
                               help="feather2023 (study), fixed_step, adam, plenoptic_adam"),
    iterations: Optional[int] = typer.Option(None, "--iterations", help="steps per block (study: 3000)"),
    blocks: Optional[int] = typer.Option(None, "--blocks", help="step-size blocks, halving (study: 8)"),
    init_step: Optional[float] = typer.Option(
        None, "--init-step", help="first step size, in input units, halved every block (study: 1; HMAX 255; a "
        "short schedule needs a larger one, e.g. 8 as in docs/replication.md)"),
    step_decay: Optional[float] = typer.Option(None, "--step-decay",
                                               help="step-size factor between blocks (study: 0.5)"),
    noise_mean: Optional[float] = typer.Option(
        None, "--noise-mean", help="mean of the initial noise, input units (study: 0.5 images, 0 audio)"),
    noise_std: Optional[float] = typer.Option(
        None, "--noise-std", help="std of the initial noise, input units (study: 0.05 images, 1e-7 audio)"),
    seed: int = typer.Option(0, "--seed", help="initial-noise seed"),
    batch_size: int = typer.Option(8, "--batch-size", help="items optimised together"),
    out_dir: Path = typer.Option(Path("runs/metamers"), "--out", "-o", help="run folder"),
    device: str = typer.Option("cpu", "--device", help="auto (best available), cpu, cuda, cuda:N or mps"),
    as_json: bool = typer.Option(False, "--json", help="print the records as JSON on stdout"),
    null_path: Optional[Path] = typer.Option(None, "--null", help="null distribution from `metazoo null`"),
    weights: Optional[str] = typer.Option(None, "--weights", help="checkpoint overriding the registry's"),
    random_weights: bool = typer.Option(False, "--random-weights", help="skip loading trained weights"),
    checkpoint_every: int = typer.Option(200, "--checkpoint-every", help="steps between resumable saves (≥ 1)"),
    stop_loss: Optional[float] = typer.Option(None, "--stop-loss", help="stop an item once its loss is below"),
    restart: bool = typer.Option(False, "--restart", help="recompute every item, replacing earlier results in --out"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace results of a different command in --out "
                                   "(without it such a run is refused; the same command resumes)"),
    schedule: Optional[str] = typer.Option(
        None, "--schedule", help="unit schedule: the model's default (hmax_units, spectemp_coarse_to_fine), "
        "the released code's variant (hmax_units_code, spectemp_coarse_to_fine_code), or none"),
    optimise: Optional[str] = typer.Option(
        None, "--optimise", help="frozen-model optimisations of the steps, comma-separated: fold-bn, channels-last, "
        "compile, all or none (default: fold-bn; docs/performance.md); each is checked against the model and "
        "dropped with a notice where it does not apply"),
    workers: str = typer.Option("auto", "--workers", help="processes sharing the items: auto (from the items and "
                                "the CPUs allotted) or a number"),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch threads per worker (default: the CPUs "
                                          "allotted ÷ workers)"),
) -> None:
    """Generate model metamers (the study's procedure by default); rerunning the same command resumes.

    Python: metazoo.generate.
    """
    records, failed = run_generate(model, inputs, stage, recipe, iterations, blocks, seed, batch_size, out_dir,
                                   device, null_path, weights, random_weights, checkpoint_every, stop_loss, restart,
                                   schedule, overwrite, {"init_step": init_step, "step_decay": step_decay,
                                                         "noise_mean": noise_mean, "noise_std": noise_std},
                                   optimise, workers, threads)
    if as_json:
        err.print(summary_table(records))
        print_json(records)
    else:
        out.print(summary_table(records))
    verdict_notices(records)
    err.print(f"metamers in {Path(out_dir).resolve()}", highlight=False)
    if failed:
        raise typer.Exit(2)


def _null(
    model: str = typer.Argument(..., help="model id"),
    inputs: list[str] = typer.Option(["builtin"], "--inputs", help="folder, files, builtin:NAME or builtin"),
    pairs: int = typer.Option(DEFAULT_NULL_PAIRS, "--pairs", "-n", help="pairs of different inputs (study: ~10⁶; "
                              "from 10,000 on built by matrix products, see --pairing)"),
    out_path: Optional[Path] = typer.Option(None, "--out", "-o", help="file (default nulls/MODEL.null.safetensors)"),
    seed: int = typer.Option(0, "--seed", help="seed of the pair draws and augmentations (same seed, same null)"),
    no_augment: bool = typer.Option(False, "--no-augment", help="pairs of the plain inputs"),
    batch_size: int = typer.Option(16, "--batch-size", help="pairs per forward"),
    weights: Optional[str] = typer.Option(None, "--weights", help="checkpoint overriding the registry's"),
    random_weights: bool = typer.Option(False, "--random-weights", help="skip loading trained weights"),
    device: str = typer.Option("cpu", "--device", help="auto (best available), cpu, cuda, cuda:N or mps"),
    as_json: bool = typer.Option(False, "--json", help="print the per-stage maxima as JSON on stdout"),
    stage: Optional[list[str]] = typer.Option(None, "--stage", "-s", help="only these stages (default: all)"),
    pairing: str = typer.Option("auto", "--pairing", help="independent: two fresh views per pair (the study's); "
                                "blocked: views computed once, all pairs by matrix products (views reused across "
                                "pairs); auto: blocked from 10,000 pairs on"),
) -> None:
    """Build a null distribution: measures between pairs of different natural inputs, every stage.

    Python: metazoo.build_null.
    """
    from metazoo_core.errors import MetazooError
    from metazoo_core.fileio import check_writable
    from metazoo_core.metamer import build_null
    from metazoo_core.models import load_model
    from metazoo_core.plugins import get_spec

    from metazoo_core.options import check_count, check_seed

    spec = get_spec(model)
    check_seed(seed)
    check_count(pairs, "--pairs")
    check_count(batch_size, "--batch-size")
    device = pick_device(device)
    path = out_path or Path("nulls") / f"{spec.id}{'-random' if random_weights else ''}.null.safetensors"
    check_writable(path.parent)
    items, failed = load_inputs(inputs, spec)
    if len(items) < 2:
        raise MetazooError(f"a null needs at least 2 usable inputs, got {len(items)}")
    net = load_model(spec, pretrained=not random_weights, weights=weights, device=device)
    from rich.progress import Progress

    plain = None if err.is_terminal else PlainProgress()
    with Progress(console=err, transient=True, disable=plain is not None) as bar:
        task = bar.add_task(f"null {spec.id}", total=pairs)
        null = build_null(net, items, pairs=pairs, seed=seed, augment=not no_augment, batch_size=batch_size,
                          device=device, progress=lambda done, total: (
                              plain(f"null {spec.id}", done, total, "pairs") if plain
                              else bar.update(task, completed=done, total=total)),
                          stages=stage or None,
                          pairing=("blocked" if pairs >= 10_000 else "independent") if pairing == "auto" else pairing)
    null.save(path)
    if null_note(null.pairs):
        notice(null_note(null.pairs))
    maxima = {s: null.max(s) for s in null.stages}
    if as_json:
        print_json({"path": str(path), "model": spec.id, "pairs": pairs, "max": maxima})
    else:
        from rich.table import Table

        random = f" — {RANDOM_WEIGHTS.split(' (')[0]}" if net.random_weights else ""
        table = Table(title=f"null maxima over {pairs} pairs ({len(items)} inputs){random}")
        for col in ("stage", "spearman", "pearson", "SNR dB"):
            table.add_column(col)
        for s, m in maxima.items():
            table.add_row(s, f"{m['spearman']:.3f}", f"{m['pearson']:.3f}", f"{m['snr_db']:.2f}")
        out.print(table)
    err.print(f"null written to {path.resolve()}", highlight=False)
    if failed:
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.command("generate")(_generate)
    app.command("null")(_null)
