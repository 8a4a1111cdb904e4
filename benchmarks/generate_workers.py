"""Throughput of one many-item generation with worker processes vs threads (issue 20, must-show 5).

A 4-input, 2-stage generation (efficientnet_lite0, random weights, the built-in photos chelsea, rocket, astronaut,
coffee; stages blocks_1 and blocks_3; the study's feather2023 recipe, shortened) is run with

- a: 1 worker × 1 thread (in this process),
- b: 1 worker × 2 threads (in this process),
- c: 2 workers × 1 thread (`metamer.workers`: two spawn processes, each rebuilding the model and running half
  the items; their start is included),

in interleaved rounds (a b c, c b a, …) so load from other processes hits every configuration alike. Each run
writes a fresh run folder and is timed by the wall clock from the call to its return (throughput is what a user
waits for, so this needs a quiet machine: ideally nothing else running). The figure is images·iterations/s =
items × steps per item ÷ wall seconds; the ratios c/a and c/b are of the medians over rounds, and the per-round
paired ratios are listed too. For c, the time from the call to the first worker's first progress event
(process start, imports, model rebuild) is recorded as its start-up share. Each run's CPU seconds (this process
and its finished workers, `getrusage`) per image·iteration are recorded too: on a loaded machine the wall-clock
ratios measure the other jobs, while the CPU cost per image·iteration says whether splitting costs extra work
(batches of 2 instead of 4, each worker's start-up).

Run on a quiet machine (~12 minutes with the defaults: 400 steps per item, so the workers' start-up, ~4 s, is under
10 % of a 2-worker run): `python benchmarks/generate_workers.py`; a short check:
`python benchmarks/generate_workers.py --iterations 8 --blocks 1 --rounds 1`.
Writes benchmarks/results/generate_workers.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "generate_workers.json"
CONFIGS = {"a": (1, 1), "b": (1, 2), "c": (2, 1)}
"""configuration → (workers, threads per worker)."""


def run_once(model, photos, stages, workers: int, threads: int, iterations: int, blocks: int) -> dict:
    """One generation into a fresh folder: wall seconds and, with workers, the seconds to the first progress."""
    from metazoo_core.metamer.workers import generate_with_workers

    first: list[float] = []
    cpu0 = _cpu_s()
    with tempfile.TemporaryDirectory(prefix="metazoo-bench-") as out:
        t0 = time.perf_counter()

        def progress(event) -> None:
            if not first and getattr(event, "worker", 0):
                first.append(time.perf_counter() - t0)

        run, problems = generate_with_workers(model, photos, stages, workers=workers, threads=threads,
                                              iterations=iterations, blocks=blocks, out_dir=out, progress=progress,
                                              log_every=max(1, iterations // 4))
        wall = time.perf_counter() - t0
    cpu = _cpu_s() - cpu0
    if problems:
        raise RuntimeError("; ".join(problems))
    steps = sum(r["steps_done"] for r in run)
    return {"wall_s": round(wall, 3), "image_iterations_per_s": round(steps / wall, 3),
            "startup_s": round(first[0], 3) if first else None, "cpu_s": round(cpu, 3),
            "cpu_ms_per_image_iteration": round(1000 * cpu / steps, 3)}


def _cpu_s() -> float:
    """User + system CPU seconds of this process and of its children that have ended (the workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=200, help="steps per block (study: 3000)")
    ap.add_argument("--blocks", type=int, default=2, help="step-size blocks")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (a b c, c b a, …)")
    ap.add_argument("--stages", nargs="+", default=["blocks_1", "blocks_3"])
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    import torch

    from metazoo_core.cpus import allotted_cpus
    from metazoo_core.io.images import load_image
    from metazoo_core.models import load_model

    model = load_model("efficientnet_lite0", pretrained=False)
    photos = [load_image(f"builtin:{n}", model.spec.input) for n in ("chelsea", "rocket", "astronaut", "coffee")]
    load_before = os.getloadavg()
    runs: dict[str, list[dict]] = {k: [] for k in CONFIGS}
    for r in range(args.rounds):
        order = list(CONFIGS) if r % 2 == 0 else list(reversed(CONFIGS))
        for key in order:
            workers, threads = CONFIGS[key]
            res = run_once(model, photos, args.stages, workers, threads, args.iterations, args.blocks)
            runs[key].append(res)
            print(f"round {r + 1} {key} ({workers} worker(s) × {threads} thread(s)): {res['wall_s']:.1f} s, "
                  f"{res['image_iterations_per_s']:.2f} images·it/s, "
                  f"{res['cpu_ms_per_image_iteration']:.0f} CPU ms per image·it"
                  + (f", start-up {res['startup_s']:.1f} s" if res["startup_s"] else ""), flush=True)
    median = {k: statistics.median(x["image_iterations_per_s"] for x in v) for k, v in runs.items()}
    paired = {f"{x}/{y}": [round(p["image_iterations_per_s"] / q["image_iterations_per_s"], 3)
                           for p, q in zip(runs[x], runs[y])] for x, y in (("c", "a"), ("c", "b"))}
    ratios = {"c/a": round(median["c"] / median["a"], 3), "c/b": round(median["c"] / median["b"], 3)}
    startup = [x["startup_s"] / x["wall_s"] for x in runs["c"] if x["startup_s"]]
    cpu = {k: statistics.median(x["cpu_ms_per_image_iteration"] for x in v) for k, v in runs.items()}
    print(f"median images·it/s: a {median['a']:.2f}, b {median['b']:.2f}, c {median['c']:.2f}")
    print(f"c/a = {ratios['c/a']:.2f} (per round {paired['c/a']}), c/b = {ratios['c/b']:.2f} "
          f"(per round {paired['c/b']}); target c/a ≥ 1.7")
    print(f"median CPU ms per image·it: a {cpu['a']:.0f}, b {cpu['b']:.0f}, c {cpu['c']:.0f} "
          f"(c/a {cpu['c'] / cpu['a']:.2f}: the extra work of splitting)")
    if startup:
        print(f"workers' start-up: {100 * statistics.median(startup):.0f} % of c's wall time (median)")
    result = {
        "benchmark": "generate_workers", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "model": "efficientnet_lite0 (random weights)", "inputs": 4, "stages": args.stages,
        "iterations": args.iterations, "blocks": args.blocks, "rounds": args.rounds,
        "configs": {k: {"workers": w, "threads": t} for k, (w, t) in CONFIGS.items()},
        "runs": runs, "median_image_iterations_per_s": median,
        "median_cpu_ms_per_image_iteration": cpu, "ratios": ratios, "paired_ratios": paired,
        "startup_share_median": round(statistics.median(startup), 3) if startup else None,
        "machine": {"allotted_cpus": allotted_cpus(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "torch": torch.__version__, "load_average_before": load_before,
                    "load_average_after": os.getloadavg()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
