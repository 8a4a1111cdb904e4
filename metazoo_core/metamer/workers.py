"""Worker processes for one generation: its (input, stage) items split over W processes with T threads each.

At small batch sizes intra-op threads scale poorly, so on a many-core machine independent processes, each with
few threads, finish a many-item generation sooner than one process with every thread (docs/performance.md,
"Threads and workers"). Each worker is a fresh `spawn` process (never a fork of a process where torch has run):
it sets its thread count, rebuilds the model from its spec and the parent's weights, and runs its share with
`generate_metamers(only=…)` into the same run folder (folders are per item and files are written atomically).
Input indices stay those of the whole run, so every item's initial noise and fingerprint, and hence its metamer,
do not depend on the number of workers. The parent then runs `generate_metamers` over the finished items with
resume, which loads every record: what it returns is what a one-process run returns.
"""
from __future__ import annotations

import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import pickle
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cpus import workers_and_threads
from ..errors import InputError, MetazooError
from .optimise import ProgressEvent

Item = tuple[int, str]
"""(input index in the whole run, stage name)."""


@dataclass
class WorkerEvent(ProgressEvent):
    """A worker's progress event, forwarded to the parent's display: `worker` is its number, 1…W."""

    worker: int = 0


def check_workers(value: str | int) -> int | None:
    """`--workers`: "auto" → None (chosen from the items and the CPU budget), else a whole number ≥ 1."""
    text = str(value).strip().lower()
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"--workers {value!r}: give auto or a whole number ≥ 1 (processes that share the items)")
    return int(text)


def check_threads(threads: int | None) -> int | None:
    """`--threads`: None (budget ÷ workers) or a whole number ≥ 1."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise InputError(f"--threads {threads!r}: give a whole number ≥ 1 (torch threads per worker)")
    return threads


AUTO_MIN_STEPS = 1000
"""Auto starts workers only for items of at least this many steps: a worker's start-up (spawn, torch import, model
rebuild) took 4.4–4.6 s, 7 % of the 2-worker wall time at 400 steps per item (benchmarks/generate_workers.py,
lite0); at 1000 steps it is under 3 %, and the study's 24,000-step items make it negligible. Shorter runs (tours,
tests, quick looks) stay in one process with every thread: measured within 7 % of 2 workers here (c/b 1.00–1.07)."""


def plan_workers(workers: int | None, threads: int | None, items: int, budget: int,
                 device: str = "cpu", steps: int | None = None) -> tuple[int, int]:
    """(worker processes, threads per worker) for `items` (input, stage) items of `steps` steps each and `budget`
    CPUs.

    workers None (auto): `cpus.workers_and_threads(items, budget)` when there are ≥ 2 items on the CPU of at least
    `AUTO_MIN_STEPS` steps (or steps unknown), else (one item, short items, or an accelerator `device`, where the
    batch runs on the device) one worker with every thread. An explicit count is capped at the number of items.
    threads None: budget ÷ workers (≥ 1)."""
    check_threads(threads)
    if workers is None and (device != "cpu" or (steps is not None and steps < AUTO_MIN_STEPS)):
        workers = 1
    if workers is None:
        w, t = workers_and_threads(items, budget) if items >= 2 else (1, budget)
    else:
        w = max(1, min(workers, items))
        t = max(1, budget // w)
    return w, threads or t


def split_items(items: Sequence[Item], workers: int) -> list[list[Item]]:
    """Deal `items` to `workers` shares: per stage (items of one stage cost the same) each share gets ⌊n/W⌋ or
    ⌈n/W⌉ of that stage's items, and the dealing continues where the previous stage stopped, so share sizes
    differ by at most one. Empty shares are dropped; order within a share follows `items`."""
    shares: list[list[Item]] = [[] for _ in range(max(1, workers))]
    turn = 0
    for stage in dict.fromkeys(s for _, s in items):
        for item in (it for it in items if it[1] == stage):
            shares[turn % len(shares)].append(item)
            turn += 1
    order = {item: k for k, item in enumerate(items)}
    return [sorted(s, key=order.__getitem__) for s in shares if s]


def describe(share: Sequence[Item], names: Sequence[str], most: int = 4) -> str:
    """'chelsea × blocks_1, rocket × blocks_1 (+2 more)': a share's items for an error line."""
    text = ", ".join(f"{names[i]} × {s}" for i, s in share[:most])
    return text + (f" (+{len(share) - most} more)" if len(share) > most else "")


@dataclass
class _Input:
    """What `generate_metamers` reads of an input, picklable: name, tensor (model range), source."""

    name: str
    tensor: Any
    source: str


def generate_with_workers(model, inputs: Sequence[Any], stages: Sequence[str], *, workers: int = 1,
                          threads: int | None = None, out_dir: Path | str | None = None,
                          progress: Callable[[ProgressEvent], None] | None = None, resume: bool = True,
                          overwrite: bool = True, **options: Any) -> tuple[Any, list[str]]:
    """`generate_metamers(model, inputs, stages, …)` with its items split over `workers` processes of `threads`
    torch threads each (see `plan_workers`); `options` are generate_metamers' other keywords.

    Returns (MetamerRun, problems): the run holds every item of the workers that finished (same records and
    metamers as a one-process run, apart from timing fields); problems has one line per worker that failed or
    was killed, naming its items — their finished items and checkpoints stay in the run folder and rerunning
    the same command resumes them. With one worker it runs in this process. Without `out_dir` the workers write
    to a temporary folder, removed before returning (records' `files` are then None, as in memory)."""
    from .generate import generate_metamers

    stages = list(dict.fromkeys(stages))
    notify = options.pop("notify", None)  # workers' notices reach it through the parent, once each
    if workers <= 1:
        return _in_process(generate_metamers, model, inputs, stages, threads, out_dir=out_dir, progress=progress,
                           resume=resume, overwrite=overwrite, notify=notify, **options), []
    # checks every option and refuses to replace another command's results before any process starts
    generate_metamers(model, inputs, stages, out_dir=out_dir, resume=resume, overwrite=overwrite, only=(),
                      notify=notify, **options)
    done = finished_items(model, inputs, stages, out_dir, **options) if resume and out_dir is not None else set()
    todo = [(i, s) for i in range(len(inputs)) for s in stages if (i, s) not in done]
    shares = split_items(todo, workers)
    if len(shares) <= 1:  # nothing (or one item) left to compute: no process to start, this one takes every thread
        together = threads * workers if threads is not None else None
        return _in_process(generate_metamers, model, inputs, stages, together, out_dir=out_dir, progress=progress,
                           resume=resume, overwrite=overwrite, notify=notify, **options), []
    with tempfile.TemporaryDirectory(prefix="metazoo-workers-") as tmp:
        run_dir = Path(out_dir) if out_dir is not None else Path(tmp)
        job = _job(model, inputs, stages, run_dir, resume, overwrite, threads, progress is not None,
                   notify is not None, options)
        problems, finished = _run_workers(job, shares, threads or 1, progress, notify, [x.name for x in inputs])
        run = generate_metamers(model, inputs, stages, out_dir=run_dir, resume=True, overwrite=True,
                                only={*done, *finished}, notify=notify, **options)
    if out_dir is None:
        for record in run:
            record["files"] = None
    return run, problems


def finished_items(model, inputs: Sequence[Any], stages: Sequence[str], out_dir: Path | str, *,
                   recipe: Any = "feather2023", iterations: int | None = None, blocks: int | None = None,
                   seed: int = 0, schedule: str | None = None, **_: Any) -> set[Item]:
    """The items of this command already finished in `out_dir` (a record.json with the same fingerprint), which
    a resumed run only loads (and re-judges when the null changed): no worker is started for them."""
    from .generate import _check_input, item_fingerprint
    from .recipes import get_recipe
    from .runs import load_record, safe_name, tensor_sha256, unique_names, weights_identity

    spec = model.spec
    r = get_recipe(recipe).resolved(spec, iterations, blocks)
    weights_id = weights_identity(model)
    model_dir = Path(out_dir) / safe_name(spec.id)
    done = set()
    for i, (x, folder) in enumerate(zip(inputs, unique_names([x.name for x in inputs]))):
        sha = tensor_sha256(_check_input(x, spec))
        for stage in stages:
            fp = item_fingerprint(model, weights_id, stage, r, schedule or spec.metamer.schedule, seed, i, sha)
            if load_record(model_dir / folder / safe_name(stage), fp) is not None:
                done.add((i, stage))
    return done


def _in_process(generate, model, inputs, stages, threads: int | None, **kwargs):
    if threads is None:
        return generate(model, inputs, stages, **kwargs)
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return generate(model, inputs, stages, **kwargs)
    finally:
        torch.set_num_threads(before)


def _job(model, inputs, stages, run_dir: Path, resume: bool, overwrite: bool, threads, report: bool,
         notify: bool, options: dict[str, Any]) -> bytes:
    """Everything a worker needs, pickled once: the spec and weights (CPU copies) to rebuild the model, the inputs,
    and generate_metamers' keywords."""
    from .runs import weights_identity

    if options.get("plugin_host") is not None:
        raise InputError("workers > 1 use the installed plugins; drop plugin_host or run with one worker")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    job = {"spec": model.spec, "state": state, "fake_relu": model.fake_relu, "weights_id": weights_identity(model),
           "attrs": {k: getattr(model, k) for k in ("weights_sha256", "weights_source", "weights_notice",
                                                   "random_weights")},
           "inputs": [_Input(x.name, x.tensor, getattr(x, "source", "") or x.name) for x in inputs],
           "stages": stages, "threads": threads, "report": report, "notify": notify,
           "kwargs": {**options, "out_dir": str(run_dir.resolve()), "resume": resume, "overwrite": overwrite}}
    try:
        return pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError) as e:  # e.g. a plugin's spec holding a local function
        raise MetazooError(f"cannot hand '{model.spec.id}' to worker processes ({e}); run it with --workers 1"
                           ) from None


EXIT_GRACE_S = 60
"""Seconds a worker that has reported "done" gets to exit before it is terminated (interpreter and torch teardown
took over 5 s at load 16 on 2 cores: the worker was killed and its finished results reported as failed)."""


def _run_workers(job: bytes, shares: list[list[Item]], threads: int, progress, notify, names: list[str],
                 ) -> tuple[list[str], list[Item]]:
    """Start one spawn process per share, forward their progress and (once each) their notices, wait; returns
    (problem lines, items of the workers that finished). Each worker reports through its own pipe, so one killed
    mid-message cannot block the others. Ctrl-C (or any error here) stops every worker before it propagates."""
    ctx = mp.get_context("spawn")
    procs, pipes = [], {}
    saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    try:
        os.environ.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))  # read at torch's import
        for n, share in enumerate(shares, 1):
            reader, writer = ctx.Pipe(duplex=False)
            p = ctx.Process(target=worker_main, args=(n, job, share, writer), name=f"metazoo-worker-{n}",
                            daemon=True)
            p.start()
            writer.close()
            procs.append(p)
            pipes[reader] = n
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    errors: dict[int, str] = {}
    done: set[int] = set()
    noticed: set[str] = set()
    try:
        while pipes:
            for conn in mp_connection.wait(list(pipes)):
                try:
                    kind, n, payload = conn.recv()
                except (EOFError, OSError):  # the worker ended (normally or not)
                    del pipes[conn]
                    conn.close()
                    continue
                if kind == "event" and progress is not None:
                    progress(payload)
                elif kind == "notice" and notify is not None and payload not in noticed:
                    noticed.add(payload)
                    notify(payload)
                elif kind == "error":
                    errors[n] = payload
                elif kind == "done":
                    done.add(n)
    finally:
        for n, p in enumerate(procs, 1):
            if p.is_alive() and not pipes:  # a worker that reported "done" may take a while to exit on a busy CPU
                p.join(timeout=EXIT_GRACE_S if n in done else 5)
            if p.is_alive():
                p.terminate()
            p.join()
        for conn in pipes:
            conn.close()
    problems, finished = [], []
    for n, (p, share) in enumerate(zip(procs, shares), 1):
        if n in done:  # its results were written before it said so; ending it afterwards loses nothing
            finished.extend(share)
            continue
        why = errors.get(n) or (f"killed by signal {-p.exitcode}" if (p.exitcode or 0) < 0
                                else f"ended with exit code {p.exitcode}")
        problems.append(f"worker {n}/{len(procs)} ({describe(share, names)}) failed: {why}; the other workers' "
                        "results are kept — rerun the same command to resume")
    return problems, finished


def worker_main(n: int, job_bytes: bytes, share: list[Item], conn) -> None:
    """A worker process: end with the parent, set threads, rebuild the model, run `share`, report on `conn`."""
    from ..process import die_with_parent

    die_with_parent()
    try:
        job = pickle.loads(job_bytes)
        import torch

        torch.set_num_threads(job["threads"] or 1)
        model = _rebuild(job)
        from .generate import generate_metamers

        report = (lambda e: conn.send(("event", n, WorkerEvent(**vars(e), worker=n)))) if job["report"] else None
        notify = (lambda line: conn.send(("notice", n, line))) if job["notify"] else None
        generate_metamers(model, job["inputs"], job["stages"], progress=report, notify=notify, only=share,
                          **job["kwargs"])
    except KeyboardInterrupt:
        os._exit(130)
    except Exception as e:  # noqa: BLE001 - reported to the parent as one line naming this worker's items
        lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
        conn.send(("error", n, f"{type(e).__name__}: {lines[0][:300] if lines else ''}"))
        conn.close()
        os._exit(1)
    conn.send(("done", n, None))
    conn.close()
    os._exit(0)  # everything is written; skip the interpreter's (and torch's) teardown, which is slow on a busy CPU


def _rebuild(job: dict[str, Any]):
    """The parent's model in this process: the spec's network (built as load_model builds it), the parent's
    weights, and its provenance attributes; checked against the parent's weights identity."""
    from ..models import load_model
    from .runs import weights_identity

    model = load_model(job["spec"], pretrained=False, fake_relu=job["fake_relu"])
    model.load_state_dict(job["state"])
    for k, v in job["attrs"].items():
        setattr(model, k, v)
    if weights_identity(model) != job["weights_id"]:
        raise MetazooError(f"worker rebuilt '{job['spec'].id}' with other weights than the parent's")
    return model
