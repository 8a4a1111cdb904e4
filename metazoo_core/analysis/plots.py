"""Figures (matplotlib, no display needed): loss curves, metamer grids, recognition curves, robustness curves.

`draw_*` functions return a `Figure` (no pyplot global state); the plain-named ones write it as a PNG atomically and
return the path.
"""
from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..fileio import atomic_path
from .runs import NATURAL, Run

CHANCE_16 = 1 / 16
"""Chance level of the 16-way category task (dashed line on image recognition plots)."""


def new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def save_figure(fig, path: Path | str) -> Path:
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp, warnings.catch_warnings():
        # names in titles may use characters the bundled font lacks: they show as boxes, not as a warning per glyph
        warnings.filterwarnings("ignore", r"Glyph \d+ .* missing from font", UserWarning)
        fig.savefig(tmp, format="png")
    return path


def _tick(stage: str) -> str:
    return stage.replace("input_after_preproc", "input").replace("_fake_relu", "")


def draw_loss_curves(records: Sequence[dict[str, Any]], title: str = ""):
    """Normalised loss ‖a(x)−a(x₀)‖/‖a(x₀)‖ against step, one line per stage (log y), block edges."""
    fig = new_figure(6.4, 3.6)
    ax = fig.add_subplot()
    for rec in records:
        curve = np.asarray(rec.get("loss_curve") or [], dtype=float)
        if curve.size:
            ax.plot(curve[:, 0], np.maximum(curve[:, 1], 1e-12), label=_tick(rec["stage"]), lw=1.2)
    recipe = records[0].get("recipe") or {} if records else {}
    per_block, blocks = recipe.get("iterations"), recipe.get("blocks")
    if per_block and blocks:
        for b in range(1, int(blocks)):
            ax.axvline(b * per_block, color="0.8", ls=":", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("optimisation step")
    ax.set_ylabel("normalised loss")
    ax.set_title(title or "metamer loss per stage", parse_math=False)  # input names may hold "$"
    if records:
        ax.legend(fontsize=7, ncol=2, frameon=False)
    return fig


def loss_curves(records: Sequence[dict[str, Any]], path: Path | str, title: str = "") -> Path:
    return save_figure(draw_loss_curves(records, title), path)


@functools.lru_cache(maxsize=1)
def _cochleagram_module():
    from ..audio.cochleagram import Cochleagram

    return Cochleagram()


def cochleagram_of(path: Path | str) -> np.ndarray | None:
    """The study's cochleagram (211 channels × 390 frames at 200 Hz, compressed envelope) of a saved 20 kHz, 2 s
    sound, lowest channel first; None for a sound of another rate or length."""
    import soundfile as sf
    import torch

    from ..audio.cochleagram import SAMPLE_RATE, SIGNAL_SIZE

    data, rate = sf.read(str(path), dtype="float32")
    if rate != SAMPLE_RATE or data.shape != (SIGNAL_SIZE,):
        return None
    with torch.no_grad():
        return _cochleagram_module()(torch.from_numpy(data)[None])[0, 0].numpy()


def cochleagram_rgb(coch: np.ndarray) -> np.ndarray:
    """(channels, frames) → (channels, frames, 3) uint8 picture, low frequencies at the bottom, own range."""
    from matplotlib import colormaps

    scaled = (coch - coch.min()) / max(float(coch.max() - coch.min()), 1e-12)
    return (colormaps["Blues"](scaled[::-1])[..., :3] * 255).astype(np.uint8)


def _show(ax, item_file: Path, modality: str) -> None:
    """An image as saved, or a sound's cochleagram (its waveform when it is not a 20 kHz, 2 s sound)."""
    if modality == "audio":
        coch = cochleagram_of(item_file)
        if coch is None:
            import soundfile as sf

            wav, _ = sf.read(str(item_file), dtype="float32")
            ax.plot(wav, lw=0.3, color="k")
        else:
            ax.imshow(cochleagram_rgb(coch), aspect="auto")
    else:
        from PIL import Image

        with Image.open(item_file) as img:
            arr = np.asarray(img)
        ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=255)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_metamer_grid(run: Run, model: str, max_inputs: int = 8):
    """Inputs (rows) × [natural, stages…] (columns); cell titles in green (passed), red (failed), grey (not
    evaluated); images as saved (PNG), sounds as cochleagrams."""
    inputs = run.inputs(model)[:max_inputs]
    stages = run.stages(model)
    originals = run.originals(model)
    modality = run.modality(model)
    cols = [NATURAL, *stages]
    fig = new_figure(1.6 * len(cols) + 0.4, 1.7 * len(inputs) + 0.4)
    axes = fig.subplots(len(inputs), len(cols), squeeze=False)
    for r, name in enumerate(inputs):
        for c, stage in enumerate(cols):
            ax = axes[r][c]
            if stage == NATURAL:
                _show(ax, originals[name][0], modality)
                ax.set_title(f"{name}: {originals[name][1]}", fontsize=7, parse_math=False)
                continue
            item = run.get(model, name, stage)
            if item is None:
                ax.axis("off")
                continue
            _show(ax, item.metamer_file, modality)
            colour = {True: "tab:green", False: "tab:red"}.get(item.passed, "0.5")
            ax.set_title(_tick(stage), fontsize=7, color=colour)
    fig.suptitle(f"{model}: natural inputs and metamers by stage", fontsize=9, parse_math=False)
    return fig


def metamer_grid(run: Run, model: str, path: Path | str, max_inputs: int = 8) -> Path:
    return save_figure(draw_metamer_grid(run, model, max_inputs), path)


def draw_recognition_curves(table: Sequence[dict[str, Any]], chance: float | None = CHANCE_16):
    """SI Fig. 3/4 style: per generating model, recognition (proportion correct) by stage; grey lines with
    bootstrap-SEM bars per recognising model (one colour each, shifted sideways so they are not hidden under the
    mean), black line with SEM across models for their mean, drawn underneath."""
    generators = list(dict.fromkeys(r["generator"] for r in table))
    n = max(len(generators), 1)
    fig = new_figure(min(4.2 * n, 16.8), 3.4 * ((n + 3) // 4))
    axes = fig.subplots((n + 3) // 4, min(n, 4), squeeze=False).ravel()
    for ax, gen in zip(axes, generators):
        rows = [r for r in table if r["generator"] == gen]
        stages = list(dict.fromkeys(r["stage"] for r in rows))
        x = {s: i for i, s in enumerate(stages)}
        recognisers = [rid for rid in dict.fromkeys(r["recogniser"] for r in rows) if rid != "mean"]
        shift = {rid: 0.08 * (k - (len(recognisers) - 1) / 2) for k, rid in enumerate(recognisers)}
        for rid in dict.fromkeys(r["recogniser"] for r in rows):
            pts = [r for r in rows if r["recogniser"] == rid]
            xs = [x[p["stage"]] + shift.get(rid, 0.0) for p in pts]
            ys = [p["accuracy"] for p in pts]
            es = [p["sem"] if p["sem"] is not None else 0.0 for p in pts]
            if rid == "mean":
                ax.errorbar(xs, ys, yerr=es, color="k", lw=2.5, marker="o", ms=5, capsize=2, label="mean", zorder=2,
                            alpha=0.6)
            else:
                ax.errorbar(xs, ys, yerr=es, color=f"C{recognisers.index(rid) % 10}", lw=1, marker=".",
                            capsize=1.5, label=rid, zorder=3)
        if chance:
            ax.axhline(chance, color="0.4", ls="--", lw=0.8)
        ax.set_xticks(range(len(stages)), [_tick(s) for s in stages], rotation=60, ha="right", fontsize=7)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("proportion recognised")
        ax.set_title(f"metamers of {gen}", fontsize=9, parse_math=False)
        ax.legend(fontsize=6, frameon=False)
    for ax in axes[len(generators):]:
        ax.axis("off")
    return fig


def recognition_curves(table: Sequence[dict[str, Any]], path: Path | str, chance: float | None = CHANCE_16) -> Path:
    return save_figure(draw_recognition_curves(table, chance), path)


def draw_robustness_curves(curves: dict[str, Sequence[tuple[float, float, float]]], attack: str = "",
                           xlabel: str = "ε"):
    """Accuracy against perturbation size (log x): {model: [(eps, accuracy in [0, 1], SEM), …]}."""
    fig = new_figure(5.2, 3.6)
    ax = fig.add_subplot()
    for name, pts in curves.items():
        eps, acc, sem = (np.asarray(v, dtype=float) for v in zip(*sorted(pts)))
        ax.errorbar(eps, acc, yerr=sem, marker="o", ms=3, capsize=2, label=name)
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy")
    ax.set_title(attack or "adversarial robustness")
    ax.legend(fontsize=7, frameon=False)
    return fig


def robustness_curves(curves: dict[str, Sequence[tuple[float, float, float]]], path: Path | str,
                      attack: str = "", xlabel: str = "ε") -> Path:
    return save_figure(draw_robustness_curves(curves, attack, xlabel), path)
