"""Pictures of cochleagrams: time (s) on x, cochlear channel on y labelled with centre frequencies (Hz)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..fileio import atomic_path


def cochleagram_figure(coch: np.ndarray, centre_hz: np.ndarray, frame_rate_hz: float = 200.0,
                       first_frame_s: float = 0.025, title: str = "", figsize: tuple[float, float] = (7, 4)):
    """A matplotlib Figure of a (channels, frames) cochleagram (compressed envelope, dimensionless): time (s) on x,
    channel centre frequency (Hz) on y. The caller closes it.

    first_frame_s: time of the first frame's centre (the study's 'valid' 1001-tap window at 20 kHz: 25 ms).
    """
    import matplotlib.pyplot as plt

    coch = np.asarray(coch, dtype=np.float64)
    n_ch, n_fr = coch.shape
    fig, ax = plt.subplots(figsize=figsize, dpi=120)
    im = ax.imshow(coch, origin="lower", aspect="auto", cmap="Blues",
                   extent=(first_frame_s - 0.5 / frame_rate_hz, first_frame_s + (n_fr - 0.5) / frame_rate_hz,
                           -0.5, n_ch - 0.5), interpolation="nearest")
    ticks = np.linspace(0, n_ch - 1, 6).round().astype(int)
    ax.set_yticks(ticks, [f"{centre_hz[i]:.0f}" for i in ticks])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("channel centre frequency (Hz)")
    ax.set_title(title or f"cochleagram ({n_ch} channels × {n_fr} frames)")
    fig.colorbar(im, ax=ax, label="compressed envelope")
    fig.tight_layout()
    return fig


def save_cochleagram_png(coch: np.ndarray, centre_hz: np.ndarray, path: Path | str, frame_rate_hz: float = 200.0,
                         first_frame_s: float = 0.025, title: str = "") -> None:
    """Draw a (channels, frames) cochleagram to a PNG, atomically (see `cochleagram_figure`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = cochleagram_figure(coch, centre_hz, frame_rate_hz, first_frame_s, title)
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
