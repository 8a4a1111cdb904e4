"""Attack arguments without torch (so the CLI can refuse bad input at once): norm names and ε grids."""
from __future__ import annotations

import math
from typing import Sequence

from ..errors import InputError

NORMS: tuple[str, ...] = ("l1", "l2", "linf")


def check_norm(norm: str) -> str:
    """The norm name in lower case; InputError for anything but l1, l2, linf."""
    name = str(norm).lower().replace("∞", "inf")
    if name == "inf":
        name = "linf"
    if name not in NORMS:
        raise InputError(f"unknown norm '{norm}'; choose l1, l2 or linf")
    return name


def check_eps(eps: Sequence[float]) -> tuple[list[float], list[str]]:
    """Validated ε grid: (sorted unique values, notices). InputError for empty, negative or non-finite values."""
    values = [float(e) for e in eps]
    if not values:
        raise InputError("no ε given; pass at least one perturbation size, e.g. --eps 0,0.5,1")
    bad = [e for e in values if not math.isfinite(e) or e < 0]
    if bad:
        raise InputError(f"ε must be finite and ≥ 0, got {bad[0]}; perturbation sizes are norms of the change")
    notices = []
    grid = sorted(set(values))
    if grid != values:
        what = "sorted" if len(grid) == len(values) else "sorted and duplicates removed"
        notices.append(f"ε grid {values} was not in increasing order: {what} → {grid}")
    return grid, notices


def log_grid(low: float, high: float, per_decade: int = 2, with_zero: bool = True) -> list[float]:
    """The seed's ε grids: {0} ∪ logspace(low … high) with `per_decade` points per decade (both ends included)."""
    if not (0 < low < high) or per_decade < 1:
        raise InputError(f"log grid needs 0 < low < high and ≥ 1 point per decade, got {low}, {high}, {per_decade}")
    n = round(math.log10(high / low) * per_decade) + 1
    first, span = math.log10(low), math.log10(high) - math.log10(low)
    grid = [10 ** (first + span * k / (n - 1)) if n > 1 else low for k in range(n)]
    return ([0.0] if with_zero else []) + grid
