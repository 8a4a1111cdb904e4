"""Checks of run options shared by the commands and sweep plans, done before any model or input loads.

Each raises InputError with one line (what, where, how to fix).
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from .errors import InputError

MAX_SEED = 2**63 - 1
"""Largest seed: every writer of results stores it as a signed 64-bit integer (Parquet int64, SQLite INTEGER);
JSON has no limit but the tables do."""


def check_seed(seed: Any, where: str = "--seed") -> int:
    """A seed in [0, 2⁶³ − 1]."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InputError(f"{where} {seed!r}: a seed is a whole number from 0 to 2^63-1 ({MAX_SEED}); "
                         "result tables store it as a 64-bit integer")
    return seed


def check_count(value: Any, where: str, minimum: int = 1) -> int:
    """A whole number ≥ `minimum` (steps, blocks, pairs, batch sizes…)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{where} {value!r}: give a whole number ≥ {minimum}")
    return value


def check_positive(value: Any, where: str) -> float:
    """A finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InputError(f"{where} {value!r}: give a finite number > 0")
    return float(value)


OPTIMISATIONS = ("fold-bn", "channels-last", "compile")
"""Frozen-model optimisations of the metamer steps (metazoo_core/metamer/frozen.py): `--optimise`, sweep option
`optimise`."""
DEFAULT_OPTIMISATIONS: tuple[str, ...] = ("fold-bn",)
"""On by default: fold-bn, the one that was faster wherever it applies (ResNet50 `layer2`: 0.91× the eager floor,
paired) with exactness tests passing; channels-last and compile were slower on AlexNet (docs/performance.md,
"Frozen-model optimisations"), so they are options. Without BatchNorm the default changes nothing."""


def parse_optimisations(value: str | Iterable[str] | None, where: str = "--optimise") -> tuple[str, ...]:
    """"fold-bn,channels-last", ["compile"], "all", "none" or None (the default set) → the names, in canonical
    order. InputError with one line for an unknown name."""
    if value is None:
        return DEFAULT_OPTIMISATIONS
    parts = value.split(",") if isinstance(value, str) else [p for v in value for p in str(v).split(",")]
    names = {p.strip() for p in parts if p.strip()}
    if "all" in names:
        names = (names - {"all"}) | set(OPTIMISATIONS)
    names.discard("none")
    bad = sorted(names - set(OPTIMISATIONS))
    if bad:
        raise InputError(f"{where} '{bad[0]}': unknown optimisation; choose from {', '.join(OPTIMISATIONS)}, "
                         "all or none (comma-separated)")
    return tuple(n for n in OPTIMISATIONS if n in names)
