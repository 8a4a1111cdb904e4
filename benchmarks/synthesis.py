"""Cost per iteration of metazoo's synthesis methods ÷ plenoptic's on the same model stage, 1 thread, paired.

Cases: AlexNet (random weights, `relu1`, 3×224×224 input) and the Experiment B digit CNN (`relu1`, 1×16×16).
- eigendistortion, k = 1, power iteration: `eigendistort(method="power")` with a fixed number of iterations per
  end (tol 0, so it never stops early) against `plenoptic.Eigendistortion(...).synthesize(method="power", k=1,
  max_iter=N, stop_criterion=0)`; both run N top and N bottom iterations, and each side's time (including its
  set-up forward) is divided by 2N;
- MAD, one direction: `mad(..., directions=("min_a",))` against `plenoptic.MADCompetition(...).synthesize(N)` with
  the same relative-L2 metrics (stage A `relu1`, stage B `relu2` of the same model), time ÷ N.

- batching: eigendistortion (k = 1, power, N iterations per end) of 8 inputs in one call against 8 calls of one
  input each, throughput ratio (plenoptic takes one image per synthesis, so has no batch figure).

Each round runs metazoo then plenoptic (order alternating by round) on the same input; the ratio of a round is
metazoo's process CPU time ÷ plenoptic's, the headline the median over rounds (paired, so load from other processes
hits both sides of a ratio alike). Writes benchmarks/results/synthesis.json.
Run: `python benchmarks/synthesis.py [--rounds R] [--iterations N] [--cases alexnet digits]`.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import statistics
import time
import warnings
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results" / "synthesis.json"


def _models(case: str):
    from metazoo_core.models import load_model
    from metazoo_core.replication.digitnet import digit_network, digit_spec
    from metazoo_core.stages import StagedModel

    if case == "alexnet":
        return load_model("alexnet", pretrained=False, fake_relu=False)
    torch.manual_seed(0)
    return StagedModel(digit_spec("digits", "digit CNN"), digit_network(), fake_relu=False)


class _Stage(torch.nn.Module):
    def __init__(self, model, stage):
        super().__init__()
        self.model, self.stage = model, stage

    def forward(self, x):
        return self.model(x, [self.stage])[self.stage]


def _relative_l2(model, stage):
    def metric(x, y):
        fx, fy = model(x, [stage])[stage], model(y, [stage])[stage]
        return torch.linalg.vector_norm(fy - fx) / torch.linalg.vector_norm(fx)
    return metric


def _cpu(fn) -> float:
    start = time.process_time()
    with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn()
    return time.process_time() - start


def _eigen_pair(model, x, n: int) -> tuple[float, float]:
    import plenoptic as po

    from metazoo_core.synthesis.eigen import EigendistortionOptions, eigendistort

    ours = _cpu(lambda: eigendistort(model, "relu1", x, EigendistortionOptions(k=1, max_iter=n, tol=1e-300)))
    theirs = _cpu(lambda: po.Eigendistortion(x, _Stage(model, "relu1").eval()).synthesize(
        method="power", k=1, max_iter=n, stop_criterion=0.0))
    return ours / (2 * n), theirs / (2 * n)


def _mad_pair(model, x, n: int) -> tuple[float, float]:
    import plenoptic as po

    from metazoo_core.synthesis.mad import MADOptions, mad

    ours = _cpu(lambda: mad(model, "relu1", model, "relu2", x,
                            MADOptions(iterations=n, tradeoff=1.0, directions=("min_a",))))

    def plenoptic_run():
        m = po.MADCompetition(x, _relative_l2(model, "relu1"), _relative_l2(model, "relu2"), "min",
                              metric_tradeoff_lambda=1.0)
        m.setup(0.1)
        m.synthesize(max_iter=n, stop_criterion=0.0)

    return ours / n, _cpu(plenoptic_run) / n


def _batch_pair(model, x8, n: int) -> tuple[float, float]:
    """(CPU time of one 8-input call, of 8 one-input calls), both per input and iteration."""
    from metazoo_core.synthesis.eigen import EigendistortionOptions, eigendistort

    opts = EigendistortionOptions(k=1, max_iter=n, tol=1e-300)
    batched = _cpu(lambda: eigendistort(model, "relu1", x8, opts))
    single = _cpu(lambda: [eigendistort(model, "relu1", x8[i:i + 1], opts) for i in range(8)])
    return batched / (16 * n), single / (16 * n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--cases", nargs="+", default=["digits", "alexnet"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for case in args.cases:
        model = _models(case)
        g = torch.Generator().manual_seed(0)
        x = 0.1 + 0.8 * torch.rand(model.input_shape(1), generator=g)
        for method, pair in (("eigendistortion_k1_power", _eigen_pair), ("mad_one_direction", _mad_pair)):
            pair(model, x, 2)  # warm-up
            times = []
            for r in range(args.rounds):
                ours, theirs = pair(model, x, args.iterations)
                times.append((ours, theirs))
                print(f"{case} {method} round {r}: metazoo {ours * 1e3:.2f} ms, plenoptic {theirs * 1e3:.2f} ms "
                      f"per iteration, ratio {ours / theirs:.3f}", flush=True)
            ratios = [o / t for o, t in times]
            rows.append({"case": case, "stage": "relu1", "method": method, "iterations": args.iterations,
                         "rounds": args.rounds, "metazoo_ms": statistics.median(o for o, _ in times) * 1e3,
                         "plenoptic_ms": statistics.median(t for _, t in times) * 1e3,
                         "ratio_median": statistics.median(ratios), "ratio_min": min(ratios),
                         "ratio_max": max(ratios)})
        x8 = 0.1 + 0.8 * torch.rand(model.input_shape(8), generator=g)
        _batch_pair(model, x8, 1)
        pairs = [_batch_pair(model, x8, args.iterations) for _ in range(args.rounds)]
        speedups = [s / b for b, s in pairs]
        print(f"{case} batch of 8: throughput {statistics.median(speedups):.2f}× 8 single runs", flush=True)
        rows.append({"case": case, "stage": "relu1", "method": "eigendistortion_k1_power_batch8",
                     "iterations": args.iterations, "rounds": args.rounds,
                     "batched_ms_per_input_iteration": statistics.median(b for b, _ in pairs) * 1e3,
                     "single_ms_per_input_iteration": statistics.median(s for _, s in pairs) * 1e3,
                     "throughput_ratio_median": statistics.median(speedups), "throughput_ratio_min": min(speedups),
                     "throughput_ratio_max": max(speedups)})
    import plenoptic

    from metazoo_core.metamer.runs import versions

    result = {"rows": rows, "threads": 1, "timer": "process CPU time", "machine": platform.processor() or
              platform.machine(), "versions": {**versions(), "plenoptic": plenoptic.__version__}}
    from metazoo_core.fileio import write_json

    write_json(RESULTS, result)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
