"""Cost of one metamer optimisation step: metazoo vs the floor, the study's reference pattern and plenoptic.

For AlexNet and ResNet50 (random weights) at an early, a middle and a late stage, measured side by side in
interleaved rounds (each round runs every method once, so load from other processes hits all methods alike):

- metazoo: `optimise_stage` (feather2023 step, batch 1), ms per iteration;
- floor: the model's own truncated forward to the stage + backward to the input from a fixed stage gradient (no
  loss, no update: any step needs at least this);
- metazoo ÷ floor, paired by step: one `optimise_stage` run in which every metazoo step is preceded by one floor
  step (the model is wrapped so that each of metazoo's forwards first runs and times a floor step), so both see
  the same machine state millisecond by millisecond; the headline ratio is the median of the per-pair ratios,
  and its spread is the range of that median over ten consecutive tenths of the run;
- reference: the study's pattern (facts §1.1 item 9): two full-model forwards per step (no truncation), then the
  backward and the normalised step;
- plenoptic: `plenoptic.Metamer` (its default Adam, MSE loss, range penalty) on the same model stage and target;
  plenoptic ÷ metazoo is the ratio of plenoptic ÷ floor and metazoo ÷ floor, each measured paired by step as above
  (plenoptic calls its model once per step, so the same wrapper pairs its steps with floor steps);
- throughput: images·iterations/s of metazoo at batch 1 and batch 8;
- roofline: this machine's peak float32 FLOP/s with the same threads (the best of a large GEMM and a large
  convolution, `measure_peak`), the FLOPs of the row's truncated forward + input backward counted by
  `torch.utils.flop_counter.FlopCounterMode` (matrix products and convolutions), and each row's achieved FLOP/s
  (those FLOPs ÷ the paired median step time) as a fraction of the peak, for the floor and for metazoo (whose
  step runs the same products; its update adds no FLOPs of that kind).

Every step is timed (on CPU in process CPU time, so other processes' load does not count); each method's figure
is its median step over all rounds. Prints the per-step times and ratios, writes
benchmarks/results/metamer_step.json. On glibc CPU runs the allocator is told to keep freed memory (no page faults
per step) before anything is measured; this applies to every method alike and removes the main source of
run-to-run noise. Run: `make bench` or `python benchmarks/metamer_step.py [--seconds S] [--rounds R]
[--paired-seconds P] [--models alexnet resnet50] [--stages S…] [--device cuda] [--paired-only] [--frozen]`
(`--paired-only`: the paired metazoo ÷ floor run and the roofline only, for a run of minutes; `--frozen`: metazoo
stepping each frozen-model optimisation — fold-bn, channels-last, compile, all — paired step by step with today's
eager floor, BatchNorm statistics randomised so that folding is not trivial; writes metamer_step_frozen.json).
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import io
import os
import platform
import statistics
import time
from functools import partial
from pathlib import Path

import torch

from metazoo_core.metamer.optimise import ItemState, optimise_stage
from metazoo_core.metamer.recipes import RECIPES
from metazoo_core.models import load_model

CASES = {"alexnet": ["relu0", "relu2", "fc1_relu"], "resnet50": ["conv1_relu1", "layer2", "layer4"]}
RESULTS = Path(__file__).parent / "results" / "metamer_step.json"
FROZEN_RESULTS = Path(__file__).parent / "results" / "metamer_step_frozen.json"
FROZEN_VARIANTS = {"eager": (), "fold-bn": ("fold-bn",), "channels-last": ("channels-last",),
                   "fold-bn+channels-last": ("fold-bn", "channels-last"), "compile": ("compile",),
                   "all": ("fold-bn", "channels-last", "compile")}


def _clock() -> float:
    """CPU time of this process on CPU runs (other processes' load does not inflate it; 1 thread), else wall time."""
    return time.process_time() if CLOCK == "process" else time.perf_counter()


CLOCK = "process"


def steady_allocator() -> bool:
    """glibc malloc: serve every tensor up to 32 MiB from the heap and never trim it, so that freed activations are
    reused instead of being unmapped and page-faulted in again at every step (1,200–1,700 minor faults and 2–3 ms
    of system time per ResNet50 `conv1_relu1` step otherwise, varying from run to run). Returns False where the C
    library is not glibc."""
    name = ctypes.util.find_library("c")
    if platform.system() != "Linux" or not name:
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt"):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 32 * 2**20)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _inputs(model, batch: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(model.input_shape(batch), generator=g).to(device)
    noise = (torch.randn(model.input_shape(batch), generator=g) * 0.05 + 0.5).clamp(0, 1).to(device)
    return x0, noise


def measure_peak(device: str, repeats: int = 5) -> dict:
    """Peak float32 FLOP/s here with the current threads: the best of `repeats` runs of a 2048³ GEMM and of a
    3×3 convolution (batch 8, 128 → 128 channels, 56×56, padding 1). Returns FLOP/s of each and their maximum."""
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(2048, 2048, generator=g).to(device) for _ in range(2))
    x = torch.randn(8, 128, 56, 56, generator=g).to(device)
    w = torch.randn(128, 128, 3, 3, generator=g).to(device)
    cases = {"gemm": (lambda: a @ b, 2 * 2048 ** 3),
             "conv": (lambda: torch.nn.functional.conv2d(x, w, padding=1), 2 * 8 * 128 * 128 * 9 * 56 * 56)}
    out = {}
    for name, (f, flops) in cases.items():
        f()
        best = float("inf")
        for _ in range(repeats):
            _sync(device)
            t = _clock()
            f()
            _sync(device)
            best = min(best, _clock() - t)
        out[f"{name}_flops_per_s"] = flops / best
    out["peak_flops_per_s"] = max(out.values())
    return out


def count_flops(model, stage: str, device: str) -> int:
    """FLOPs of one floor step (truncated forward + backward to the input; the weights are frozen, so no weight
    gradients) counted by FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    x0, noise = _inputs(model, 1, device)
    with torch.no_grad():
        seed = model(x0, [stage])[stage]
    x = noise.requires_grad_(True)
    with FlopCounterMode(display=False) as counter:  # .backward: its module hooks refuse autograd.grad on a leaf
        model(x, [stage])[stage].backward(seed)
    return int(counter.get_total_flops())


class StepClock:
    """Wraps a `StagedModel` (or anything called once per optimisation step): each call records the time since
    the previous call, i.e. one whole step of whatever loop calls it (its forward, loss, backward, update and
    bookkeeping, plus this wrapper's two clock reads). `steps` holds the durations in seconds; `reset()` before
    each run, so that time between runs is never counted."""

    def __init__(self, model, device: str):
        self.model, self.device = model, device
        self.steps: list[float] = []
        self._last: float | None = None

    def __getattr__(self, name):
        return getattr(self.model, name)

    def reset(self) -> "StepClock":
        self.steps, self._last = [], None
        return self

    def between(self) -> None:
        """Work run before each forward and not counted in the steps (StepPairing: the floor step)."""

    def __call__(self, *args, **options):
        _sync(self.device)
        now = _clock()
        if self._last is not None:
            self.steps.append(now - self._last)
        self.between()
        self._last = _clock()
        return self.model(*args, **options)


def floor_step(model, stage: str, x: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """The floor: the model's own truncated forward to the stage (input clamp and normalisation included, as any
    caller gets it) and the backward to the input from a fixed stage gradient `seed` — no loss, no update."""
    a = model(x, [stage])[stage]
    return torch.autograd.grad(a, x, seed)[0]


def run_metazoo(model, stage, n, device, batch=1) -> list[float]:
    """Per-step times of `optimise_stage` (feather2023 step) over n steps."""
    x0, noise = _inputs(model, batch, device)
    with torch.no_grad():
        target = model(x0, [stage])[stage]
    recipe = RECIPES["feather2023"].resolved(model.spec, iterations=n, blocks=1)
    clock = StepClock(model, device)
    optimise_stage(clock, stage, target, [ItemState(x=noise[i]) for i in range(batch)], recipe,
                   log_every=50, gather_every=50)
    return clock.steps


def run_floor(model, stage, n, device) -> list[float]:
    x0, noise = _inputs(model, 1, device)
    with torch.no_grad():
        seed = model(x0, [stage])[stage]
    x = noise.requires_grad_(True)
    steps = []
    for _ in range(n):
        _sync(device)
        t = _clock()
        floor_step(model, stage, x, seed)
        _sync(device)
        steps.append(_clock() - t)
    return steps


class StepPairing(StepClock):
    """A StepClock whose `between` runs and times one floor step (on the floor's own input), so that every
    metazoo step is paired with the floor step just before it: `floor[i]` and `steps[i]` (metazoo) saw the same
    machine state within milliseconds of each other. `floor_model`: the model of the floor steps when metazoo
    steps another (a frozen-model optimised copy); default the same."""

    def __init__(self, model, stage: str, device: str, floor_model=None):
        super().__init__(model, device)
        self.stage = stage
        self.floor_model = model if floor_model is None else floor_model
        x0, noise = _inputs(model, 1, device)
        with torch.no_grad():  # from the floor's model: a channels-last seed would slow the floor's backward
            self.seed = self.floor_model(x0, [stage])[stage]
        self.x = noise.clone().requires_grad_(True)
        self.floor: list[float] = []

    def reset(self) -> "StepPairing":
        self.floor = []
        return super().reset()

    def between(self) -> None:
        t = _clock()
        with torch.enable_grad():  # plenoptic evaluates its loss under no_grad once before its first step
            floor_step(self.floor_model, self.stage, self.x, self.seed)
        _sync(self.device)
        self.floor.append(_clock() - t)


def run_paired(model, stage, n, device, method: str, warmup: int = 5, parts: int = 10, stepper=None) -> dict:
    """n steps of `method` ("metazoo" or "plenoptic"), each paired with the floor step just before it → the median
    of the per-pair ratios (method step ÷ its floor step), that median within each of `parts` consecutive parts of
    the run, the median step times, and every step time in ms (the first `warmup` pairs are dropped). `stepper`:
    what metazoo steps (a frozen-model optimised copy of `model`; the floor stays `model`'s)."""
    pairing = StepPairing(model if stepper is None else stepper, stage, device, floor_model=model)
    steps = n + warmup + 1
    if method == "metazoo":
        x0, noise = _inputs(model, 1, device)
        with torch.no_grad():
            target = model(x0, [stage])[stage]
        recipe = RECIPES["feather2023"].resolved(model.spec, iterations=steps, blocks=1)
        optimise_stage(pairing, stage, target, [ItemState(x=noise[0])], recipe, log_every=50, gather_every=50)
    else:
        met = make_plenoptic(pairing, stage, device)
        run_plenoptic(met, pairing, steps)
    mine = pairing.steps[warmup:]
    fl = pairing.floor[warmup: warmup + len(mine)]
    ratios = [a / b for a, b in zip(mine, fl)]
    size = len(ratios) // parts
    return {"pairs": len(ratios), "method_ms": round(1000 * statistics.median(mine), 3),
            "floor_ms": round(1000 * statistics.median(fl), 3),
            "ratio": round(statistics.median(ratios), 4),
            "ratio_of_medians": round(statistics.median(mine) / statistics.median(fl), 4),
            "ratio_of_means": round(sum(mine) / sum(fl), 4),
            "ratio_by_tenth": [round(statistics.median(ratios[i * size:(i + 1) * size]), 4) for i in range(parts)],
            "method_ms_all": [round(1000 * t, 4) for t in mine], "floor_ms_all": [round(1000 * t, 4) for t in fl]}


def run_update_ops(model, n, device) -> float:
    """The step's own work besides forward and backward (as `optimise_stage`): per-item gradient norm, the
    normalised step and the clamp. Timed alone over many repetitions, so its cost is measured without the noise
    that dominates the difference of two long runs."""
    x, g = _inputs(model, 1, device)
    _sync(device)
    t = _clock()
    for _ in range(n):
        norm = g.reshape(1, -1).norm(dim=1).add_(1e-10).reshape(-1, 1, 1, 1)
        x.addcdiv_(g, norm, value=-1e-3)
        x.clamp_(0, 1)
    _sync(device)
    return _clock() - t


def run_reference(model, stage, n, device) -> list[float]:
    """The study's per-step pattern: model(x) (unused), model(x) again for the loss, backward, normalised step."""
    x0, noise = _inputs(model, 1, device)
    with torch.no_grad():
        target = model(x0, [stage])[stage].reshape(1, -1)
    everything = [*model.spec.stage_names]
    model.truncate = False
    steps = []
    try:
        x = noise.clone()
        for _ in range(n):
            _sync(device)
            t = _clock()
            x.requires_grad_(True)
            model(x, ["final"])  # Attacker.calc_loss: self.model(inp), output unused
            acts = model(x, everything)[stage].reshape(1, -1)  # the custom loss runs the whole model again
            loss = (acts - target).norm(dim=1) / target.norm(dim=1)
            (g,) = torch.autograd.grad(loss.sum(), x)
            with torch.no_grad():
                x = (x - g / (g.reshape(1, -1).norm(dim=1).view(-1, 1, 1, 1) + 1e-10)).clamp(0, 1)
            _sync(device)
            steps.append(_clock() - t)
        return steps
    finally:
        model.truncate = True


def make_plenoptic(clock: StepClock, stage, device):
    """plenoptic's `Metamer` on the stage of the model inside `clock` (plenoptic calls its model once per step,
    so the clock sees plenoptic's steps)."""
    import plenoptic as po

    class StageOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = clock.model

        def forward(self, x):
            return clock(x, [stage])[stage]

    x0, noise = _inputs(clock.model, 1, device)
    met = po.Metamer(x0, StageOnly().eval())
    met.setup(initial_image=noise)
    return met


def run_plenoptic(met, clock: StepClock, n) -> list[float]:
    clock.reset()
    with contextlib.redirect_stderr(io.StringIO()):  # plenoptic's tqdm bar
        met.synthesize(max_iter=n, stop_criterion=-1.0)
    return clock.steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.4, help="target duration of one timed floor run")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    ap.add_argument("--paired-seconds", type=float, default=20.0,
                    help="target duration of the step-paired metazoo ÷ floor run per row (at least 200 pairs)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (torch.set_num_threads)")
    ap.add_argument("--models", nargs="+", choices=list(CASES), default=list(CASES), help="models to measure")
    ap.add_argument("--min-pairs", type=int, default=200, help="fewest step pairs of the paired run")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--paired-only", action="store_true",
                    help="only the step-paired metazoo ÷ floor run and the roofline (minutes, not an hour)")
    ap.add_argument("--frozen", action="store_true",
                    help="only the frozen-model optimisations: metazoo with each of " + ", ".join(FROZEN_VARIANTS)
                    + " paired with today's eager floor (writes metamer_step_frozen.json unless --out)")
    ap.add_argument("--stages", nargs="+", help="only these stages of the chosen models")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.out is None:
        args.out = FROZEN_RESULTS if args.frozen else RESULTS
    dev = args.device
    global CLOCK
    CLOCK = "process" if dev == "cpu" else "wall"
    torch.set_num_threads(args.threads)
    steady = dev == "cpu" and steady_allocator()
    peak = measure_peak(dev)
    print(f"peak float32: GEMM {peak['gemm_flops_per_s'] / 1e9:.1f} GFLOP/s, conv {peak['conv_flops_per_s'] / 1e9:.1f} "
          f"GFLOP/s ({torch.get_num_threads()} threads)", flush=True)
    rows = []
    for model_id in args.models:
        stages = [s for s in CASES[model_id] if not args.stages or s in args.stages]
        model = load_model(model_id, pretrained=False, device=dev)
        if args.frozen:
            randomise_batchnorm(model)
        for stage in stages:
            if args.frozen:
                rows.append(frozen_row(model, model_id, stage, dev, args.paired_seconds, args.min_pairs))
                continue
            flops = count_flops(model, stage, dev)
            if args.paired_only:
                pairs = max(args.min_pairs, round(args.paired_seconds / 2 / statistics.median(
                    run_floor(model, stage, 4, dev)[1:])))
                paired = run_paired(model, stage, pairs, dev, "metazoo")
                row = {"model": model_id, "stage": stage, "metazoo_vs_floor": paired["ratio"],
                       "metazoo_vs_floor_paired": paired, **roofline(flops, paired, peak)}
                rows.append(row)
                print(f"{model_id:9s} {stage:12s} ×floor {row['metazoo_vs_floor']:.3f} paired over {paired['pairs']} "
                      f"steps | {flops / 1e9:.2f} GFLOP/step; floor {row['floor_fraction_of_peak']:.1%} of peak, "
                      f"metazoo {row['metazoo_fraction_of_peak']:.1%}", flush=True)
                continue
            met_clock = StepClock(model, dev)
            met = make_plenoptic(met_clock, stage, dev)
            floor_s = statistics.median(run_floor(model, stage, 4, dev)[1:])
            n = max(8, round(args.seconds / floor_s))
            methods = {
                "metazoo": partial(run_metazoo, model, stage, n, dev),
                "floor": partial(run_floor, model, stage, n, dev),
                "reference": partial(run_reference, model, stage, n, dev),
                "plenoptic": partial(run_plenoptic, met, met_clock, n),
                "metazoo_b8": partial(run_metazoo, model, stage, n, dev, batch=8),
            }
            for f in methods.values():  # warm-up
                f()
            steps: dict[str, list[float]] = {k: [] for k in methods}
            for _ in range(args.rounds):
                for k, f in methods.items():
                    steps[k].extend(f()[1:])  # each run's first step is its own warm-up
            med = {k: statistics.median(v) for k, v in steps.items()}
            update = min(run_update_ops(model, 500, dev) / 500 for _ in range(5))
            pairs = max(args.min_pairs, round(args.paired_seconds / 2 / med["floor"]))
            paired = run_paired(model, stage, pairs, dev, "metazoo")
            pleno = run_paired(model, stage, pairs, dev, "plenoptic")
            row = {
                "model": model_id, "stage": stage, "steps_per_run": n,
                "ms_per_iter": {k: round(1000 * v, 2) for k, v in med.items() if k != "metazoo_b8"},
                "ms_per_iter_b8": round(1000 * med["metazoo_b8"], 2),
                "ms_per_iter_quartiles": {k: [round(1000 * q, 2) for q in statistics.quantiles(v, n=4)]
                                          for k, v in steps.items()},
                "timed_steps": {k: len(v) for k, v in steps.items()},
                "metazoo_vs_floor": paired["ratio"],
                "metazoo_vs_floor_paired": paired,
                "plenoptic_vs_floor_paired": pleno,
                "metazoo_vs_floor_rounds": round(med["metazoo"] / med["floor"], 3),
                "update_ops_ms": round(1000 * update, 3),
                "update_ops_vs_floor": round(update / med["floor"], 4),
                "reference_vs_metazoo": round(med["reference"] / med["metazoo"], 2),
                "plenoptic_vs_metazoo": round(pleno["ratio"] / paired["ratio"], 3),
                "plenoptic_vs_metazoo_rounds": round(med["plenoptic"] / med["metazoo"], 2),
                "img_iter_per_s_b1": round(1 / med["metazoo"], 2),
                "img_iter_per_s_b8": round(8 / med["metazoo_b8"], 2),
                **roofline(flops, paired, peak),
            }
            rows.append(row)
            ms = row["ms_per_iter"]
            print(f"{model_id:9s} {stage:12s} metazoo {ms['metazoo']:8.1f} ms  floor {ms['floor']:8.1f}  "
                  f"ref {ms['reference']:8.1f}  plenoptic {ms['plenoptic']:8.1f}  "
                  f"| ×floor {row['metazoo_vs_floor']:.3f} paired over {paired['pairs']} steps "
                  f"[{min(paired['ratio_by_tenth']):.3f}, {max(paired['ratio_by_tenth']):.3f}] "
                  f"(rounds {row['metazoo_vs_floor_rounds']:.3f}; update ops {row['update_ops_ms']:.2f} ms)"
                  f"  ref/mz {row['reference_vs_metazoo']:.2f}  pleno/mz {row['plenoptic_vs_metazoo']:.2f}  "
                  f"img·it/s b1 {row['img_iter_per_s_b1']:.1f} b8 {row['img_iter_per_s_b8']:.1f}", flush=True)
    overhead = None if args.paired_only or args.frozen else step_overhead(dev, args.min_pairs * 10)
    result = {
        "benchmark": "metamer_step", "rounds": args.rounds, "device": dev,
        "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "machine": platform.machine(), "python": platform.python_version(),
        "clock": CLOCK, "steady_allocator": steady,
        "note": ("random weights; CPU runs timed in process CPU time (time.process_time), other devices in wall "
                 "time; every step timed; methods interleaved run by run in every round; ms_per_iter is each "
                 "method's median step over all rounds (quartiles beside it) and the reference and throughput "
                 "figures use those medians; metazoo_vs_floor is the median of the per-step-pair ratios "
                 "(metazoo_vs_floor_paired: its pairs, its value in each tenth of the run, every step time), "
                 "plenoptic_vs_metazoo the ratio of the two step-paired ratios against the same floor; "
                 "*_rounds: the same ratios from the round medians"),
        "peak": peak,
        "rows": rows,
        "overhead_at_the_input_stage": overhead,
    }
    from metazoo_core.fileio import write_json

    write_json(args.out, result)
    print(frozen_table(rows) if args.frozen else roofline_table(rows, peak) if args.paired_only
          else markdown_table(rows))
    print(f"written {args.out}")


def randomise_batchnorm(model, seed: int = 3) -> None:
    """BatchNorm statistics and affine parameters set to random values (random initialisation has mean 0, var 1,
    γ 1, β 0), so that folding does real arithmetic, as with trained weights."""
    g = torch.Generator().manual_seed(seed)
    for m in model.net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.1)
            if m.affine:
                m.weight.data.copy_(torch.randn(n, generator=g) * 0.5 + 1)
                m.bias.data.copy_(torch.randn(n, generator=g) * 0.3)


def frozen_row(model, model_id: str, stage: str, device: str, seconds: float, min_pairs: int) -> dict:
    """metazoo stepping each frozen-model variant (FROZEN_VARIANTS; "eager" = today's engine), each run paired
    step by step with today's eager floor (the unoptimised model's truncated forward + backward), plus the time
    to build (copy, fold, check, compile) each variant and what it applied."""
    from metazoo_core.metamer.frozen import freeze

    floor_s = statistics.median(run_floor(model, stage, 4, device)[1:])
    pairs = max(min_pairs, round(seconds / 2 / floor_s))
    row = {"model": model_id, "stage": stage, "variants": {}}
    for name, opts in FROZEN_VARIANTS.items():
        t = time.perf_counter()
        frozen = freeze(model, [stage], opts, notify=lambda line: print("  notice:", line, flush=True))
        build_s = time.perf_counter() - t
        paired = run_paired(model, stage, pairs, device, "metazoo", stepper=frozen.model)
        row["variants"][name] = {"applied": list(frozen.applied), "notices": frozen.notices,
                                 "build_wall_s": round(build_s, 2), "ratio": paired["ratio"], "paired": paired}
        print(f"{model_id:9s} {stage:12s} {name:21s} ×eager floor {paired['ratio']:.3f} "
              f"[{min(paired['ratio_by_tenth']):.3f}, {max(paired['ratio_by_tenth']):.3f}] over {paired['pairs']} "
              f"pairs ({paired['method_ms']:.1f} vs {paired['floor_ms']:.1f} ms; built in {build_s:.1f} s; "
              f"applied: {', '.join(frozen.applied) or 'none'})", flush=True)
    return row


def frozen_table(rows: list[dict]) -> str:
    """The docs/performance.md frozen-model table: per row and variant, the paired ratio to today's eager floor
    (range by tenth) and, after the slash, the variant's median step ÷ the floor's median step of the "eager" run
    (unpaired: it shows whether the paired floor itself ran slower beside the variant)."""
    names = list(FROZEN_VARIANTS)
    lines = ["| model | stage | " + " | ".join(f"{n} ÷ floor" for n in names) + " |",
             "|---|---|" + "---|" * len(names)]
    for r in rows:
        cells = []
        base = r["variants"]["eager"]["paired"]["floor_ms"]
        for n in names:
            v = r["variants"][n]
            p = v["paired"]
            mark = "" if set(FROZEN_VARIANTS[n]) <= set(v["applied"]) else " (fell back)"
            cells.append(f"**{v['ratio']:.3f}** ({min(p['ratio_by_tenth']):.3f}–{max(p['ratio_by_tenth']):.3f}) / "
                         f"{p['method_ms'] / base:.2f}{mark}")
        lines.append(f"| {r['model']} | {r['stage']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def step_overhead(device: str, pairs: int) -> dict:
    """Each method's own per-step work, free of any network: AlexNet's `input_after_preproc` stage (the
    normalised input, 150,528 values), where the floor is only the model's input clamp and normalisation, forward
    and backward. Each method is paired with the floor as in the table's rows; plenoptic_vs_metazoo is the ratio
    of the two paired ratios."""
    model = load_model("alexnet", pretrained=False, device=device)
    out = {m: run_paired(model, "input_after_preproc", pairs, device, m) for m in ("metazoo", "plenoptic")}
    out["plenoptic_vs_metazoo"] = round(out["plenoptic"]["ratio"] / out["metazoo"]["ratio"], 2)
    print(f"one step with no network (input stage): metazoo {out['metazoo']['method_ms']:.3f} ms, plenoptic "
          f"{out['plenoptic']['method_ms']:.3f} ms (floor {out['metazoo']['floor_ms']:.3f} ms): plenoptic ÷ "
          f"metazoo {out['plenoptic_vs_metazoo']:.2f}", flush=True)
    return out


def roofline(flops: int, paired: dict, peak: dict) -> dict:
    """Achieved FLOP/s of the floor and of metazoo (counted FLOPs ÷ paired median step) and their share of peak."""
    floor_rate, metazoo_rate = flops / (paired["floor_ms"] / 1e3), flops / (paired["method_ms"] / 1e3)
    return {"flops_per_step": flops, "floor_flops_per_s": round(floor_rate), "metazoo_flops_per_s": round(metazoo_rate),
            "floor_fraction_of_peak": round(floor_rate / peak["peak_flops_per_s"], 4),
            "metazoo_fraction_of_peak": round(metazoo_rate / peak["peak_flops_per_s"], 4)}


def roofline_table(rows: list[dict], peak: dict) -> str:
    """The docs/performance.md roofline table."""
    lines = [f"peak float32 {peak['peak_flops_per_s'] / 1e9:.1f} GFLOP/s (GEMM {peak['gemm_flops_per_s'] / 1e9:.1f}, "
             f"conv {peak['conv_flops_per_s'] / 1e9:.1f})", "",
             "| model | stage | GFLOP per step | floor ms | floor GFLOP/s (of peak) | metazoo ms | "
             "metazoo GFLOP/s (of peak) | metazoo ÷ floor, paired |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        p = r["metazoo_vs_floor_paired"]
        lines.append(f"| {r['model']} | {r['stage']} | {r['flops_per_step'] / 1e9:.2f} | {p['floor_ms']:.1f} | "
                     f"{r['floor_flops_per_s'] / 1e9:.1f} ({r['floor_fraction_of_peak']:.1%}) | {p['method_ms']:.1f} | "
                     f"{r['metazoo_flops_per_s'] / 1e9:.1f} ({r['metazoo_fraction_of_peak']:.1%}) | "
                     f"{r['metazoo_vs_floor']:.3f} |")
    return "\n".join(lines)


def markdown_table(rows: list[dict]) -> str:
    """The docs/performance.md table."""
    lines = ["| model | stage | metazoo ms/it | floor ms/it | metazoo ÷ floor, paired (medians; range by tenth; pairs) "
             "| step ops ms (÷ floor) | reference ms/it | reference ÷ metazoo | plenoptic ÷ floor, paired (range) "
             "| plenoptic ÷ metazoo | img·it/s b1 | img·it/s b8 | floor, metazoo % of peak FLOP/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ms, p, q = r["ms_per_iter"], r["metazoo_vs_floor_paired"], r["plenoptic_vs_floor_paired"]
        lines.append(f"| {r['model']} | {r['stage']} | {ms['metazoo']:.1f} | {ms['floor']:.1f} | "
                     f"**{p['ratio']:.3f}** ({p['method_ms']:.1f} vs {p['floor_ms']:.1f} ms; "
                     f"{min(p['ratio_by_tenth']):.3f}–{max(p['ratio_by_tenth']):.3f}; {p['pairs']}) | "
                     f"{r['update_ops_ms']:.2f} ({r['update_ops_vs_floor']:.2%}) | "
                     f"{ms['reference']:.1f} | {r['reference_vs_metazoo']:.2f} | "
                     f"{q['ratio']:.3f} ({min(q['ratio_by_tenth']):.3f}–{max(q['ratio_by_tenth']):.3f}) | "
                     f"**{r['plenoptic_vs_metazoo']:.2f}** | {r['img_iter_per_s_b1']:.1f} | "
                     f"{r['img_iter_per_s_b8']:.1f} | {r['floor_fraction_of_peak']:.1%}, "
                     f"{r['metazoo_fraction_of_peak']:.1%} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
