"""Figures of the replication (matplotlib, written atomically as PNG): recognition curves and metamer examples."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.plots import CHANCE_16, new_figure, save_figure

KIND_STYLE = {"standard": ("black", "-"), "adversarial": ("tab:blue", "-"), "random": ("tab:orange", ":")}


def recognition_a(result: dict[str, Any], path: Path) -> Path:
    """One panel per generating model and a pooled panel: proportion of metamers recognised by the generating
    model and by the other models (95 % bootstrap CI over metamers), natural images first."""
    models = result["plan"]["models"]
    fig = new_figure(3.0 * (len(models) + 1), 3.2)
    axes = fig.subplots(1, len(models) + 1, sharey=True)
    for ax, gen in zip(axes, models):
        rows = [r for r in result["table"] if r["generator"] == gen]
        x = np.arange(len(rows))
        for key, colour, label in (("self", "0.5", "generating model"), ("others", "tab:red", "other models")):
            m = np.array([r[key]["mean"] for r in rows], dtype=float)
            lo = np.array([r[key]["lo"] for r in rows], dtype=float)
            hi = np.array([r[key]["hi"] for r in rows], dtype=float)
            ax.errorbar(x, m, yerr=[m - lo, hi - m], color=colour, marker="o", ms=4, capsize=2, label=label,
                        ls="--" if key == "self" else "-")
        ax.set_xticks(x, [f"{r['depth']}\n{r['stage']}" if r["stage"] != "natural" else "natural" for r in rows],
                      fontsize=7)
        ax.set_title(gen.replace("efficientnet_", "EfficientNet-"), fontsize=9)
        ax.axhline(CHANCE_16, color="0.7", ls=":", lw=0.8)
    pooled = result["pooled_others"]
    names = list(pooled)
    m = np.array([pooled[n]["mean"] for n in names], dtype=float)
    lo = np.array([pooled[n]["lo"] for n in names], dtype=float)
    hi = np.array([pooled[n]["hi"] for n in names], dtype=float)
    axes[-1].errorbar(np.arange(len(names)), m, yerr=[m - lo, hi - m], color="tab:red", marker="o", ms=4, capsize=2)
    axes[-1].set_xticks(np.arange(len(names)), names, fontsize=7)
    axes[-1].set_title("pooled: other models", fontsize=9)
    axes[-1].axhline(CHANCE_16, color="0.7", ls=":", lw=0.8)
    axes[0].set_ylabel("proportion recognised (16-way)")
    axes[0].set_ylim(-0.02, 1.02)
    axes[0].legend(fontsize=7, frameon=False, loc="lower left")
    return save_figure(fig, path)


def recognition_b(result: dict[str, Any], path: Path) -> Path:
    """Recognition of each training type's metamers per stage (mean ± SEM over observers): by the other trained
    networks (left) and, when present, by the pixel-space classifiers (right)."""
    panels = [("observers: the other trained CNNs", result["curves"])]
    if result.get("pixel_observers"):
        panels.append(("observers: pixel-space classifiers", result["pixel_observers"]["curves"]))
    fig = new_figure(4.6 * len(panels), 3.4)
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    for ax, (title, curves) in zip(axes, panels):
        for kind, rows in curves.items():
            colour, ls = KIND_STYLE.get(kind, ("0.3", "-"))
            x = np.arange(len(rows))
            m = np.array([np.nan if r["mean"] is None else r["mean"] for r in rows], dtype=float)
            e = np.array([0.0 if r["sem"] is None else r["sem"] for r in rows], dtype=float)
            ax.errorbar(x, m, yerr=e, color=colour, ls=ls, marker="o", ms=4, capsize=2, label=kind)
            ax.set_xticks(x, [r["stage"] for r in rows], fontsize=8)
        ax.axhline(0.1, color="0.7", ls=":", lw=0.8)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("metamer generation stage")
    axes[0].set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("proportion recognised")
    axes[0].legend(fontsize=8, frameon=False, loc="lower left")
    return save_figure(fig, path)


def _image(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path))


def metamer_examples(rows: list[tuple[str, list[tuple[str, Path]]]], path: Path, grey: bool = False) -> Path:
    """A grid: one row per (label, [(column title, image file)]); missing files are left blank."""
    n_cols = max(len(cols) for _, cols in rows)
    fig = new_figure(1.35 * n_cols + 0.6, 1.45 * len(rows))
    axes = np.atleast_2d(fig.subplots(len(rows), n_cols, squeeze=False))
    for r, (label, cols) in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(cols):
                ax.axis("off")
                continue
            title, file = cols[c]
            if file is not None and Path(file).is_file():
                ax.imshow(_image(file), cmap="gray" if grey else None, vmin=0, vmax=255, interpolation="nearest")
            if r == 0:
                ax.set_title(title, fontsize=7)
        axes[r, 0].set_ylabel(label, fontsize=7)
    return save_figure(fig, path)
