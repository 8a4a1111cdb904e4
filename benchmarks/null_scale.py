"""Nulls at the study's scale: a blocked null of 10⁶ pairs beside a per-pair null of 2,000 (`metazoo null`).

    python benchmarks/null_scale.py [--pairs 1000000] [--per-pair 2000] [--model efficientnet_lite0]
                                    [-s blocks_1 -s blocks_3 -s final] [--out benchmarks/results/null_scale.json]

Runs the two `metazoo null` commands one after the other as child processes, on the same inputs (the bundled
photos), seed and model (random weights: no trained checkpoint can be downloaded offline), with the threads the CLI
picks (`OMP_NUM_THREADS`, else the CPUs allotted). Prints, per stage, the maxima of both nulls side by side (the
acceptance thresholds), and for each command its wall clock, CPU time and peak resident memory (which counts the
file-backed pages of the blocked null's memory-mapped scratch files). Wall clock is what the target is about, so
run it on a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_null(model: str, pairs: int, pairing: str, stages: list[str], folder: Path) -> dict:
    """One `metazoo null` in a child process: its JSON maxima, wall clock and resources."""
    cmd = [sys.executable, "-m", "metazoo_cli.app", "null", model, "--random-weights", "--pairs", str(pairs),
           "--pairing", pairing, "--json", "-o", str(folder / f"{pairing}.null.safetensors")]
    for s in stages:
        cmd += ["-s", s]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return {"command": " ".join(["metazoo", *cmd[3:]]), "pairs": pairs, "pairing": pairing,
            "wall_s": round(wall, 2), "user_s": round(after.ru_utime - before.ru_utime, 2),
            "system_s": round(after.ru_stime - before.ru_stime, 2),
            "peak_rss_gib_any_child": round(after.ru_maxrss / 2**20, 2),
            "max": json.loads(done.stdout)["max"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--pairs", type=int, default=1_000_000, help="pairs of the blocked null")
    ap.add_argument("--per-pair", type=int, default=2000, help="pairs of the per-pair (independent) null")
    ap.add_argument("-s", "--stage", action="append", help="stages (default blocks_1, blocks_3, final)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "null_scale.json")
    args = ap.parse_args()
    stages = args.stage or ["blocks_1", "blocks_3", "final"]
    with tempfile.TemporaryDirectory(prefix="metazoo-null-bench-") as tmp:
        blocked = run_null(args.model, args.pairs, "blocked", stages, Path(tmp))
        print(f"blocked {args.pairs} pairs: {blocked['wall_s']:.0f} s wall, {blocked['user_s']:.0f} s user + "
              f"{blocked['system_s']:.0f} s system", flush=True)
        per_pair = run_null(args.model, args.per_pair, "independent", stages, Path(tmp))
        print(f"per-pair {args.per_pair} pairs: {per_pair['wall_s']:.0f} s wall, {per_pair['user_s']:.0f} s user + "
              f"{per_pair['system_s']:.0f} s system", flush=True)
    print(f"\n| stage | blocked {args.pairs}: ρ max | r max | SNR max dB | per-pair {args.per_pair}: ρ max | r max | "
          "SNR max dB |\n|---|---|---|---|---|---|---|")
    for s, m in blocked["max"].items():
        p = per_pair["max"][s]
        print(f"| {s} | {m['spearman']:.3f} | {m['pearson']:.3f} | {m['snr_db']:.2f} | {p['spearman']:.3f} | "
              f"{p['pearson']:.3f} | {p['snr_db']:.2f} |")
    record = {"when": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "model": args.model,
              "threads": os.environ.get("OMP_NUM_THREADS", "CLI default (CPUs allotted)"),
              "load_average_at_end": os.getloadavg(), "blocked": blocked, "per_pair": per_pair}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".tmp")
    tmp_out.write_text(json.dumps(record, indent=1) + "\n")
    tmp_out.replace(args.out)
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
