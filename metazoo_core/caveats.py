"""Caveats every output repeats next to a result: a null too small for its thresholds to mean much, and results
computed with random weights. Torch-free, so the console and the report import it freely."""
from __future__ import annotations

MIN_NULL_PAIRS = 100
DEFAULT_NULL_PAIRS = 1000
"""Pairs of a null when none are asked for, on the command line and in sweep plans alike."""
"""The smallest null whose thresholds are not flagged as loose (a project convention; the study used ~10⁶ pairs).
The maximum of n exchangeable null values is exceeded by one more unrelated pair with probability 1/(n+1): ≈ 1 % at
100 pairs, ≈ 5 % at 20 (docs/fidelity.md, "Null distributions")."""


def null_note(pairs: int | None) -> str | None:
    """'null of 20 pairs: the thresholds are loose (…)' for a null below `MIN_NULL_PAIRS`, else None."""
    if pairs is None or pairs >= MIN_NULL_PAIRS:
        return None
    return (f"null of {pairs} pairs: the thresholds are loose (an unrelated pair of natural inputs exceeds them "
            f"with probability 1/{pairs + 1} ≈ {100 / (pairs + 1):.0f} %; build at least {MIN_NULL_PAIRS} pairs)")


RANDOM_WEIGHTS = "RANDOM weights (untrained network: the results say nothing about the trained model)"
"""The label every line or page made with `--random-weights` carries."""
