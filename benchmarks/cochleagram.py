"""Forward + backward of the study's cochleagram (`cochleagram_1`, a 2 s clip at 20 kHz): metazoo's implementation
vs the previous one (benchmarks/cochleagram_reference.py, whose output matched the authors' chcochleagram).

Paired and interleaved: each pair times the reference then metazoo (alternating which goes first) on the same
input and output gradient; the headline is the median of the per-pair ratios metazoo ÷ reference, with its
quartiles. CPU times are process CPU time (1 thread unless --threads); CUDA times are CUDA events. Also checks
the numbers: max |Δ| ÷ max |ref| of the output and of the input gradient. Writes
benchmarks/results/cochleagram.json. Run: `python benchmarks/cochleagram.py [--pairs 10] [--batch 1 4]
[--threads 1] [--device cpu]`.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from cochleagram_reference import reference_cochleagram  # noqa: E402

from metazoo_core.audio.cochleagram import Cochleagram  # noqa: E402
from metazoo_core.fileio import write_json  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "cochleagram.json"


def timed(f, x: torch.Tensor, grad: torch.Tensor, device: str) -> tuple[float, torch.Tensor, torch.Tensor]:
    """One forward + backward: (seconds, output, input gradient)."""
    xx = x.clone().requires_grad_(True)
    if device.startswith("cuda"):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        y = f(xx)
        y.backward(grad)
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1e3, y.detach(), xx.grad
    t = time.process_time()
    y = f(xx)
    y.backward(grad)
    return time.process_time() - t, y.detach(), xx.grad


def measure(batch: int, pairs: int, device: str) -> dict:
    coch = Cochleagram().to(device)
    g = torch.Generator().manual_seed(batch)
    x = (torch.randn(batch, 40000, generator=g) * 0.1).to(device)
    grad = torch.randn(batch, 1, 211, 390, generator=g).to(device)
    methods = {"reference": lambda v: reference_cochleagram(coch, v), "metazoo": coch}
    out = {name: timed(f, x, grad, device) for name, f in methods.items()}  # warm-up; also the numbers check
    (_, y_ref, g_ref), (_, y_new, g_new) = out["reference"], out["metazoo"]
    times: dict[str, list[float]] = {"reference": [], "metazoo": []}
    for i in range(pairs):
        order = ["reference", "metazoo"] if i % 2 == 0 else ["metazoo", "reference"]
        for name in order:
            times[name].append(timed(methods[name], x, grad, device)[0])
    ratios = [m / r for m, r in zip(times["metazoo"], times["reference"])]
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return {"batch": batch, "pairs": pairs, "ratio_median": statistics.median(ratios), "ratio_quartiles": [q[0], q[2]],
            "reference_s": statistics.median(times["reference"]), "metazoo_s": statistics.median(times["metazoo"]),
            "times": times, "ratios": ratios,
            "output_rel_diff": float((y_new - y_ref).abs().max() / y_ref.abs().max()),
            "grad_rel_diff": float((g_new - g_ref).abs().max() / g_ref.abs().max())}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=10)
    p.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    rows = []
    print(f"cochleagram forward+backward, {a.device}, {a.threads} thread(s), {a.pairs} interleaved pairs per batch")
    print("batch | reference s | metazoo s | metazoo ÷ reference, paired median (quartiles) | output Δ | grad Δ")
    for b in a.batch:
        r = measure(b, a.pairs, a.device)
        rows.append(r)
        print(f"{b:5d} | {r['reference_s']:11.3f} | {r['metazoo_s']:9.3f} | {r['ratio_median']:.3f} "
              f"({r['ratio_quartiles'][0]:.3f}–{r['ratio_quartiles'][1]:.3f}) | {r['output_rel_diff']:.1e} | "
              f"{r['grad_rel_diff']:.1e}", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    write_json(RESULTS, ({"when_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
                                           "torch": torch.__version__, "machine": platform.machine(),
                                           "device": a.device, "threads": a.threads, "rows": rows}))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
