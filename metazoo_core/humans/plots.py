"""Human and network recognition curves per generating model (the study's Fig. 2–7 form): proportion correct per
stage, mean ± SEM across participants, humans in black, the generating network in colour."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ..fileio import write_bytes


def curves_figure(result: dict[str, Any], title: str = ""):
    """A matplotlib Figure, one panel per model of `result` (the `humans study`/`humans collect` structure):
    proportion correct in [0, 1] per stage. The caller closes it."""
    import matplotlib.pyplot as plt
    import numpy as np

    models = result["models"]
    cols = min(3, len(models)) or 1
    rows = (len(models) + cols - 1) // cols or 1
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, m in zip(axes.ravel(), models):
        x = np.arange(len(m["stages"]))
        for key, color, label in (("human", "black", "humans"), ("network", "tab:blue", "generating model")):
            mean = np.array([np.nan if v is None else v for v in m[key]["mean"]], dtype=float)
            sem = np.array([0.0 if v is None else v for v in m[key]["sem"]], dtype=float)
            ax.errorbar(x, mean, yerr=sem, color=color, marker="o", ms=3, capsize=2, label=label)
        ax.set_title(m["model"], fontsize=9)
        ax.set_xticks(x, [s.split(":")[-1] for s in m["stages"]], rotation=60, ha="right", fontsize=6)
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("proportion correct", fontsize=8)
    for ax in axes.ravel()[len(models):]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7, loc="lower left")
    fig.suptitle(title or result.get("experiment", ""), fontsize=10)
    fig.tight_layout()
    return fig


def plot_curves(result: dict[str, Any], path: Path | str, title: str = "") -> Path:
    """`curves_figure` written as a PNG or SVG (by the suffix of `path`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = curves_figure(result, title)
    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip(".") or "png", dpi=120)
    plt.close(fig)
    write_bytes(path, buf.getvalue())
    return path
