"""Bootstrap confidence intervals over items (metamers), as the study's bootstrap over images/sounds."""
from __future__ import annotations

from typing import Sequence

import numpy as np

N_BOOT = 2000
LEVEL = 0.95


def mean_ci(values: Sequence[float], n_boot: int = N_BOOT, level: float = LEVEL, seed: int = 0) -> dict:
    """{"mean", "lo", "hi", "n"}: the mean of `values` and its percentile bootstrap CI (items resampled with
    replacement `n_boot` times). NaNs (and n = 0) when there are no values."""
    x = np.asarray(list(values), dtype=float)
    if x.size == 0:
        return {"mean": float("nan"), "lo": float("nan"), "hi": float("nan"), "n": 0}
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    a = (1 - level) / 2
    return {"mean": float(x.mean()), "lo": float(np.quantile(means, a)), "hi": float(np.quantile(means, 1 - a)),
            "n": int(x.size)}


def difference_ci(first: Sequence[float], second: Sequence[float], n_boot: int = N_BOOT, level: float = LEVEL,
                  seed: int = 0) -> dict:
    """{"diff", "lo", "hi", "p_le_0"}: mean(first) − mean(second), each group resampled independently; p_le_0 is
    the bootstrap fraction of differences ≤ 0 (a one-sided bootstrap p for "first > second")."""
    a, b = np.asarray(list(first), dtype=float), np.asarray(list(second), dtype=float)
    if a.size == 0 or b.size == 0:
        return {"diff": float("nan"), "lo": float("nan"), "hi": float("nan"), "p_le_0": float("nan")}
    rng = np.random.default_rng(seed)
    da = a[rng.integers(0, a.size, size=(n_boot, a.size))].mean(axis=1)
    db = b[rng.integers(0, b.size, size=(n_boot, b.size))].mean(axis=1)
    d = da - db
    q = (1 - level) / 2
    return {"diff": float(a.mean() - b.mean()), "lo": float(np.quantile(d, q)), "hi": float(np.quantile(d, 1 - q)),
            "p_le_0": float((d <= 0).mean())}
