"""Cost of one metamer optimisation step: metazoo vs the floor, the study's reference pattern and plenoptic.

For AlexNet and ResNet50 (random weights) at an early, a middle and a late stage, measured side by side in
interleaved rounds (each round runs every method once, so load from other processes hits all methods alike):

- metazoo: `optimise_stage` (feather2023 step, batch 1), ms per iteration;
- floor: the bare truncated forward to the stage + backward to the input (no loss bookkeeping, no update);
- reference: the study's pattern (facts §1.1 item 9): two full-model forwards per step (no truncation), then the
  backward and the normalised step;
- plenoptic: `plenoptic.Metamer` (its default Adam, MSE loss, range penalty) on the same model stage and target;
- throughput: images·iterations/s of metazoo at batch 1 and batch 8.

Prints per-iteration times (each method's fastest of the interleaved rounds; on CPU in process CPU time, so
other processes' load does not count) and ratios, writes benchmarks/results/metamer_step.json. Run: `make bench`
or `OMP_NUM_THREADS=1 python benchmarks/metamer_step.py [--seconds S] [--rounds R] [--device cuda]`.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from metazoo_core.metamer.optimise import ItemState, optimise_stage
from metazoo_core.metamer.recipes import RECIPES
from metazoo_core.models import load_model

CASES = {"alexnet": ["relu0", "relu2", "fc1_relu"], "resnet50": ["conv1_relu1", "layer2", "layer4"]}
RESULTS = Path(__file__).parent / "results" / "metamer_step.json"


def _clock() -> float:
    """CPU time of this process on CPU runs (other processes' load does not inflate it; 1 thread), else wall time."""
    return time.process_time() if CLOCK == "process" else time.perf_counter()


CLOCK = "process"


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _inputs(model, batch: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(model.input_shape(batch), generator=g).to(device)
    noise = (torch.randn(model.input_shape(batch), generator=g) * 0.05 + 0.5).clamp(0, 1).to(device)
    return x0, noise


def run_metazoo(model, stage, n, device, batch=1) -> float:
    x0, noise = _inputs(model, batch, device)
    with torch.no_grad():
        target = model(x0, [stage])[stage]
    recipe = RECIPES["feather2023"].resolved(model.spec, iterations=n, blocks=1)
    states = [ItemState(x=noise[i]) for i in range(batch)]
    _sync(device)
    t = _clock()
    optimise_stage(model, stage, target, states, recipe, log_every=50, gather_every=max(n, 50))
    _sync(device)
    return _clock() - t


def run_floor(model, stage, n, device) -> float:
    x0, noise = _inputs(model, 1, device)
    with torch.no_grad():
        target = model(x0, [stage])[stage]
    x = noise.requires_grad_(True)
    _sync(device)
    t = _clock()
    for _ in range(n):
        a = model(x, [stage])[stage]
        (g,) = torch.autograd.grad((a - target).square().sum(), x)
    _sync(device)
    return _clock() - t


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


def run_reference(model, stage, n, device) -> float:
    """The study's per-step pattern: model(x) (unused), model(x) again for the loss, backward, normalised step."""
    x0, noise = _inputs(model, 1, device)
    with torch.no_grad():
        target = model(x0, [stage])[stage].reshape(1, -1)
    everything = [*model.spec.stage_names]
    model.truncate = False
    try:
        x = noise.clone()
        _sync(device)
        t = _clock()
        for _ in range(n):
            x.requires_grad_(True)
            model(x, ["final"])  # Attacker.calc_loss: self.model(inp), output unused
            acts = model(x, everything)[stage].reshape(1, -1)  # the custom loss runs the whole model again
            loss = (acts - target).norm(dim=1) / target.norm(dim=1)
            (g,) = torch.autograd.grad(loss.sum(), x)
            with torch.no_grad():
                x = (x - g / (g.reshape(1, -1).norm(dim=1).view(-1, 1, 1, 1) + 1e-10)).clamp(0, 1)
        _sync(device)
        return _clock() - t
    finally:
        model.truncate = True


def make_plenoptic(model, stage, device):
    import plenoptic as po

    class StageOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, x):
            return model(x, [stage])[stage]

    x0, noise = _inputs(model, 1, device)
    wrapped = StageOnly().eval()
    met = po.Metamer(x0, wrapped)
    met.setup(initial_image=noise)
    return met


def run_plenoptic(met, n, device) -> float:
    with contextlib.redirect_stderr(io.StringIO()):  # plenoptic's tqdm bar
        _sync(device)
        t = _clock()
        met.synthesize(max_iter=n, stop_criterion=-1.0)
        _sync(device)
        return _clock() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.4, help="target duration of one timed floor run")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    dev = args.device
    global CLOCK
    CLOCK = "process" if dev == "cpu" else "wall"
    rows = []
    for model_id, stages in CASES.items():
        model = load_model(model_id, pretrained=False, device=dev)
        for stage in stages:
            met = make_plenoptic(model, stage, dev)
            run_floor(model, stage, 2, dev)
            n = max(3, round(args.seconds / (run_floor(model, stage, 3, dev) / 3)))
            methods = {
                "metazoo": lambda: run_metazoo(model, stage, n, dev) / n,
                "floor": lambda: run_floor(model, stage, n, dev) / n,
                "reference": lambda: run_reference(model, stage, n, dev) / n,
                "plenoptic": lambda: run_plenoptic(met, n, dev) / n,
                "metazoo_b8": lambda: run_metazoo(model, stage, n, dev, batch=8) / n,
            }
            for f in methods.values():  # warm-up
                f()
            times: dict[str, list[float]] = {k: [] for k in methods}
            for _ in range(args.rounds):
                for k, f in methods.items():
                    times[k].append(f())
            best = {k: min(v) for k, v in times.items()}  # least-disturbed round of each method
            update = min(run_update_ops(model, 500, dev) / 500 for _ in range(5))
            row = {
                "model": model_id, "stage": stage, "iterations_per_run": n,
                "ms_per_iter": {k: round(1000 * v, 2) for k, v in best.items() if k != "metazoo_b8"},
                "ms_per_iter_median": {k: round(1000 * statistics.median(v), 2) for k, v in times.items()},
                "ms_per_iter_all_rounds": {k: [round(1000 * t, 2) for t in v] for k, v in times.items()},
                "metazoo_vs_floor": round(best["metazoo"] / best["floor"], 3),
                "update_ops_ms": round(1000 * update, 3),
                "update_ops_vs_floor": round(update / best["floor"], 4),
                "reference_vs_metazoo": round(best["reference"] / best["metazoo"], 2),
                "plenoptic_vs_metazoo": round(best["plenoptic"] / best["metazoo"], 2),
                "img_iter_per_s_b1": round(1 / best["metazoo"], 2),
                "img_iter_per_s_b8": round(8 / best["metazoo_b8"], 2),
            }
            rows.append(row)
            ms = row["ms_per_iter"]
            print(f"{model_id:9s} {stage:12s} metazoo {ms['metazoo']:8.1f} ms  floor {ms['floor']:8.1f}  "
                  f"ref {ms['reference']:8.1f}  plenoptic {ms['plenoptic']:8.1f}  "
                  f"| ×floor {row['metazoo_vs_floor']:.3f} (update ops {row['update_ops_ms']:.2f} ms)"
                  f"  ref/mz {row['reference_vs_metazoo']:.2f}  pleno/mz {row['plenoptic_vs_metazoo']:.2f}  "
                  f"img·it/s b1 {row['img_iter_per_s_b1']:.1f} b8 {row['img_iter_per_s_b8']:.1f}", flush=True)
    result = {
        "benchmark": "metamer_step", "rounds": args.rounds, "device": dev,
        "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "machine": platform.machine(), "python": platform.python_version(),
        "clock": CLOCK,
        "note": ("random weights; CPU runs timed in process CPU time (time.process_time), other devices in wall "
                 "time; methods interleaved in every round; ms_per_iter and ratios use each method's "
                 "fastest round (least disturbed by other processes), ms_per_iter_median the median; "
                 "machine shared with other jobs"),
        "rows": rows,
    }
    from metazoo_core.fileio import write_json

    write_json(args.out, result)
    print(markdown_table(rows))
    print(f"written {args.out}")


def markdown_table(rows: list[dict]) -> str:
    """The docs/performance.md table."""
    lines = ["| model | stage | metazoo ms/it | floor ms/it | metazoo ÷ floor | step ops ms (÷ floor) | reference ms/it "
             "| reference ÷ metazoo | plenoptic ms/it | plenoptic ÷ metazoo | img·it/s b1 | img·it/s b8 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ms = r["ms_per_iter"]
        lines.append(f"| {r['model']} | {r['stage']} | {ms['metazoo']:.1f} | {ms['floor']:.1f} | "
                     f"{r['metazoo_vs_floor']:.3f} | {r['update_ops_ms']:.2f} ({r['update_ops_vs_floor']:.2%}) | "
                     f"{ms['reference']:.1f} | {r['reference_vs_metazoo']:.2f} | "
                     f"{ms['plenoptic']:.1f} | {r['plenoptic_vs_metazoo']:.2f} | {r['img_iter_per_s_b1']:.1f} | "
                     f"{r['img_iter_per_s_b8']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
