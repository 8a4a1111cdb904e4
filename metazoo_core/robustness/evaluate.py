"""Accuracy vs ε with SEM over random subsets (seed "Adversarial evaluation").

The study: untargeted white-box PGD, 64 steps of ε/4, no random start, best iterate kept; five random subsets of
1024 evaluation stimuli; error bars = SEM across subsets (std with ddof=1 / √subsets). Each example is attacked
once per ε (attacks are per-example, the model is in eval mode) and the subsets are scored from those results.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import Tensor

from .attacks import (Bounds, Forward, check_eps, check_norm, feature_adversaries, fooling_images, noise_images, pgd,
                      untargeted)


def draw_subsets(pool: int, subsets: int, n: int, seed: int = 0) -> tuple[list[Tensor], list[str]]:
    """`subsets` random index sets of size min(n, pool) drawn without replacement from range(pool)."""
    notices = []
    if n > pool:
        notices.append(f"asked for subsets of {n} but only {pool} examples are available: using {pool}")
        n = pool
    if n == pool and subsets > 1:
        notices.append(f"every subset holds all {pool} examples, so the SEM over subsets is 0")
    gen = torch.Generator().manual_seed(seed)
    return [torch.randperm(pool, generator=gen)[:n].sort().values for _ in range(subsets)], notices


def correct_under_attack(forward: Forward, x: Tensor, labels: Tensor, *, norm: str, eps: float, steps: int,
                         step_ratio: float, bounds: Bounds, batch_size: int, use_best: bool = True,
                         l1_sparsity: float = 0.99) -> Tensor:
    """(N,) bool: is each example still classified as its label after the ε-attack?"""
    out = []
    for i in range(0, x.shape[0], batch_size):
        xb, yb = x[i:i + batch_size], labels[i:i + batch_size]
        adv = pgd(forward, xb, untargeted(yb), norm=norm, eps=eps, steps=steps, step_size=eps * step_ratio,
                  bounds=bounds, use_best=use_best, l1_sparsity=l1_sparsity)
        with torch.no_grad():
            out.append(forward(adv).argmax(dim=1) == yb)
    return torch.cat(out)


def accuracy_vs_eps(forward: Forward, x: Tensor, labels: Tensor, *, norm: str, eps: Sequence[float],
                    subsets: int = 5, n: int = 1024, seed: int = 0, steps: int = 64, step_ratio: float = 0.25,
                    bounds: Bounds = (0.0, 1.0), batch_size: int = 16, use_best: bool = True,
                    l1_sparsity: float = 0.99, progress: Callable[[float], None] | None = None) -> dict:
    """Accuracy (fraction) per ε: mean and SEM over subsets, plus every subset's value.

    x: (N, ...) inputs in `bounds`; labels: (N,) int64. Returns a JSON-ready dict.
    """
    norm = check_norm(norm)
    grid, notices = check_eps(eps)
    sets, more = draw_subsets(x.shape[0], subsets, n, seed)
    notices += more
    used = torch.unique(torch.cat(sets))
    where = {int(j): k for k, j in enumerate(used.tolist())}
    rows = []
    for e in grid:
        ok = correct_under_attack(forward, x[used], labels[used], norm=norm, eps=e, steps=steps,
                                  step_ratio=step_ratio, bounds=bounds, batch_size=batch_size,
                                  use_best=use_best, l1_sparsity=l1_sparsity).float()
        rows.append(_row(e, [float(ok[torch.tensor([where[int(j)] for j in s])].mean()) for s in sets]))
        if progress is not None:
            progress(e)
    return {"attack": "untargeted", "metric": "accuracy", "norm": norm, "steps": steps, "step_ratio": step_ratio,
            "use_best": use_best, "random_start": False, "subsets": len(sets), "n": int(sets[0].numel()),
            "seed": seed, "l1_sparsity": l1_sparsity if norm == "l1" else None, "results": rows, "notices": notices}


def _row(eps: float, per: list[float]) -> dict:
    mean = sum(per) / len(per)
    sem = math.sqrt(sum((p - mean) ** 2 for p in per) / (len(per) - 1)) / math.sqrt(len(per)) if len(per) > 1 else 0.0
    return {"eps": eps, "mean": mean, "sem": sem, "per_subset": per}


def fooling_vs_eps(forward: Forward, shape: Sequence[int], n_classes: int, *, norm: str, eps: Sequence[float],
                   subsets: int = 5, n: int = 1024, seed: int = 0, steps: int = 64, step_ratio: float = 0.25,
                   bounds: Bounds = (0.0, 1.0), batch_size: int = 16, noise_mean: float = 0.5,
                   noise_std: float = 0.05, l1_sparsity: float = 0.99, device: torch.device | str = "cpu",
                   progress: Callable[[float], None] | None = None) -> dict:
    """Fooling images (seed, SI Fig. 9a): start from N(noise_mean, noise_std²) noise clipped to `bounds`, pick a
    random target class each, attack toward it; success = the model predicts the target. Each subset draws its
    own n noise images and targets. Returns the fraction of successes per ε, mean ± SEM over subsets."""
    norm = check_norm(norm)
    grid, notices = check_eps(eps)
    draws = []
    for k in range(subsets):
        gen = torch.Generator().manual_seed(seed * 1000 + k)
        draws.append((noise_images(n, shape, noise_mean, noise_std, bounds, gen).to(device),
                      torch.randint(0, n_classes, (n,), generator=gen).to(device)))
    rows = []
    for e in grid:
        per = []
        for start, targets in draws:
            hits = 0
            for i in range(0, n, batch_size):
                adv = fooling_images(forward, start[i:i + batch_size], targets[i:i + batch_size], norm=norm, eps=e,
                                     steps=steps, step_ratio=step_ratio, bounds=bounds, l1_sparsity=l1_sparsity)
                with torch.no_grad():
                    hits += int((forward(adv).argmax(1) == targets[i:i + batch_size]).sum())
            per.append(hits / n)
        rows.append(_row(e, per))
        if progress is not None:
            progress(e)
    return {"attack": "fooling", "metric": "success", "norm": norm, "steps": steps, "step_ratio": step_ratio,
            "subsets": subsets, "n": n, "seed": seed, "noise": [noise_mean, noise_std], "n_classes": n_classes,
            "l1_sparsity": l1_sparsity if norm == "l1" else None, "results": rows, "notices": notices}


def feature_adversaries_vs_eps(stage_forward: Forward, forward: Forward, x: Tensor, labels: Tensor, *, norm: str,
                               eps: Sequence[float], subsets: int = 5, n: int = 1024, seed: int = 0,
                               steps: int = 128, step_ratio: float = 1 / 16, bounds: Bounds = (0.0, 1.0),
                               batch_size: int = 16, l1_sparsity: float = 0.99,
                               progress: Callable[[float], None] | None = None) -> dict:
    """Feature adversaries (seed, SI Fig. 9b): perturb a source input so its `stage_forward` activations approach
    those of a different target input (L2); success = `forward` gives the perturbed source the target's label.
    Each subset draws n (source, target) pairs with source ≠ target from x (N, ...). Needs N ≥ 2."""
    norm = check_norm(norm)
    grid, notices = check_eps(eps)
    pool = x.shape[0]
    if pool < 2:
        from ..errors import InputError

        raise InputError("feature adversaries need at least 2 inputs (a source and a different target)")
    draws = []
    for k in range(subsets):
        gen = torch.Generator().manual_seed(seed * 1000 + k)
        src = torch.randint(0, pool, (n,), generator=gen)
        tgt = (src + torch.randint(1, pool, (n,), generator=gen)) % pool  # never the source itself
        draws.append((src, tgt))
    rows = []
    for e in grid:
        per = []
        for src, tgt in draws:
            hits = 0
            for i in range(0, n, batch_size):
                s, t = src[i:i + batch_size], tgt[i:i + batch_size]
                adv = feature_adversaries(stage_forward, x[s], x[t], norm=norm, eps=e, steps=steps,
                                          step_ratio=step_ratio, bounds=bounds, l1_sparsity=l1_sparsity)
                with torch.no_grad():
                    hits += int((forward(adv).argmax(1) == labels[t]).sum())
            per.append(hits / n)
        rows.append(_row(e, per))
        if progress is not None:
            progress(e)
    return {"attack": "feature", "metric": "success", "norm": norm, "steps": steps, "step_ratio": step_ratio,
            "subsets": subsets, "n": n, "seed": seed, "l1_sparsity": l1_sparsity if norm == "l1" else None,
            "results": rows, "notices": notices}


def accuracy_figure(result: dict, title: str):
    """A matplotlib Figure of accuracy or attack success (%) vs ε with SEM error bars; ε axis symlog so ε = 0 shows.
    The caller closes it."""
    import matplotlib.pyplot as plt

    rows = result["results"]
    eps = [r["eps"] for r in rows]
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=120)
    ax.errorbar(eps, [100 * r["mean"] for r in rows], yerr=[100 * r["sem"] for r in rows], marker="o",
                capsize=3, lw=1.5)
    positive = [e for e in eps if e > 0]
    if positive:
        ax.set_xscale("symlog", linthresh=min(positive))
    names = {"l1": "L$_1$", "l2": "L$_2$", "linf": "L$_\\infty$"}
    ax.set_xlabel(f"{names[result['norm']]} ε")
    ax.set_ylabel("accuracy (%)" if result["metric"] == "accuracy" else f"{result['attack']} attack success (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(wrapped_title(title), fontsize=TITLE_PT)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_accuracy(result: dict, path: Path | str, title: str) -> None:
    """`accuracy_figure` as a PNG, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..fileio import atomic_path

    fig = accuracy_figure(result, title)
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)


FIGSIZE = (5, 3.6)
TITLE_PT = 9
TITLE_CHARS = 60
"""Characters per title line: at 9 pt a line of 60 characters fits the 5-inch figure (tests/test_first_day.py)."""


def wrapped_title(title: str) -> str:
    """`title` broken into lines of at most TITLE_CHARS characters (long titles were clipped on both sides)."""
    import textwrap

    return "\n".join(textwrap.wrap(title, TITLE_CHARS))
