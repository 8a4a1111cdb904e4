"""Drawing one input-shaped tensor on a matplotlib axis, for the results' `.plot()`."""
from __future__ import annotations

from torch import Tensor


def show(ax, v: Tensor, title: str = "") -> None:
    """A sound ((n,)) as a line; an image ((C, H, W)) rescaled to its own min–max (first channel grey, or RGB)."""
    v = v.detach().cpu().double()
    if v.dim() == 1:
        ax.plot(v.numpy(), lw=0.4)
    else:
        v = (v - v.min()) / (v.max() - v.min()).clamp_min(1e-30)
        ax.imshow(v[0].numpy() if v.shape[0] == 1 else v.permute(1, 2, 0).numpy(), cmap="gray")
        ax.axis("off")
    ax.set_title(title, fontsize=8)
