"""HTML pieces for notebooks: images, figures and sounds inlined as base64 (nothing is read from or written to
disk), and the small table markup the result objects share."""
from __future__ import annotations

import base64
import html
import io
from typing import Any, Iterable, Sequence

import numpy as np


def png_tag(array: np.ndarray, alt: str, width: int = 160) -> str:
    """An <img> of a (H, W) or (H, W, 3) uint8 array as an inline PNG, `width` CSS pixels wide."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(buf, format="PNG")
    return _img(buf.getvalue(), alt, width)


def figure_tag(fig: Any, alt: str, width: int | None = None) -> str:
    """An <img> of a matplotlib figure as an inline PNG; the figure is closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=100)
    finally:
        plt.close(fig)
    return _img(buf.getvalue(), alt, width)


def _img(png: bytes, alt: str, width: int | None) -> str:
    size = f' width="{width}"' if width else ""
    return (f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}" alt="{html.escape(alt)}"'
            f"{size}>")


def audio_tag(waveform: Any, sample_rate: int) -> str:
    """An <audio controls> player of a waveform ((n,) floats, nominally in [-1, 1]; louder samples are clipped)
    as an inline 16-bit PCM WAV at `sample_rate` Hz."""
    import soundfile as sf

    arr = waveform.detach().cpu().numpy() if hasattr(waveform, "detach") else np.asarray(waveform)
    arr = np.clip(np.asarray(arr, dtype=np.float32).reshape(-1), -1.0, 1.0)
    buf = io.BytesIO()
    sf.write(buf, arr, int(sample_rate), subtype="PCM_16", format="WAV")
    return (f'<audio controls preload="auto" src="data:audio/wav;base64,'
            f'{base64.b64encode(buf.getvalue()).decode()}"></audio>')


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], caption: str = "") -> str:
    """An HTML table; cells are escaped unless they are already markup (strings starting with '<')."""
    def cell(v: Any) -> str:
        text = f"{v:.3g}" if isinstance(v, float) else str(v)
        return text if text.startswith("<") else html.escape(text)

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f'<table class="metazoo">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
