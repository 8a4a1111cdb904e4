"""Error consistency (Geirhos et al. 2020): Cohen's κ on trial-by-trial correctness of two observers.

For two observers who saw the same n trials, with correctness vectors a, b ∈ {0, 1}ⁿ:
    p_a, p_b = mean(a), mean(b)                       (accuracies)
    c_exp = p_a·p_b + (1 − p_a)(1 − p_b)              (consistency expected from accuracies alone)
    c_obs = mean(a == b)                              (observed consistency)
    κ = (c_obs − c_exp) / (1 − c_exp)
Edge case: c_exp = 1 happens only when both observers are always right or both always wrong; then c_obs = 1 too
and the formula is 0/0. Defined here as κ = 1 whenever c_obs = 1 (identical correctness on every trial), as the
Brain-Score implementation the study used does. κ ranges over [−1, 1]; 0 = no more agreement than chance.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def error_consistency(a: Sequence[bool], b: Sequence[bool]) -> dict[str, float]:
    """{"kappa", "observed", "expected", "accuracy_a", "accuracy_b", "n"} for two equal-length correctness vectors."""
    a_arr = np.asarray(a, dtype=bool)
    b_arr = np.asarray(b, dtype=bool)
    if a_arr.shape != b_arr.shape or a_arr.ndim != 1 or a_arr.size == 0:
        raise ValueError(f"need two non-empty correctness vectors of equal length, got {a_arr.shape} and {b_arr.shape}")
    p_a, p_b = float(a_arr.mean()), float(b_arr.mean())
    expected = p_a * p_b + (1 - p_a) * (1 - p_b)
    observed = float((a_arr == b_arr).mean())
    kappa = 1.0 if observed == 1.0 else (observed - expected) / (1 - expected)
    return {"kappa": kappa, "observed": observed, "expected": expected, "accuracy_a": p_a, "accuracy_b": p_b,
            "n": int(a_arr.size)}
