"""The `numerics` tests' one comparison: a float32 result against a reference, within a tolerance from
`metazoo_core.numerics` (the rule the engine's frozen-model check uses), with the error and the tolerance recorded
for `scripts/numerics_matrix.py`.

When $METAZOO_NUMERICS_LOG names a file, every `check` appends one JSON line {test, what, error, tolerance, rule}
to it (test: pytest's node id).
"""
from __future__ import annotations

import json
import os
from typing import Callable, Dict, Union

import torch

from metazoo_core.numerics import (condition_tolerance, input_roundings, relative_error, relative_norm_error,
                                   rounding_tolerance)

LOG_ENV = "METAZOO_NUMERICS_LOG"
RULE = "max(1e-5, 10 x float32-vs-float64 error of the same code)"
"""`rounding_tolerance`'s rule in words, for `check`'s record."""
Result = Union[torch.Tensor, Dict[str, torch.Tensor]]
Errors = Union[float, Dict[str, float]]


def check(error: float, tolerance: float, rule: str, what: str = "") -> None:
    """Assert error ≤ tolerance (both relative, ≥ 0), recording them first. `rule`: how the tolerance was made,
    in a few words; `what`: which comparison of the test (a stage, an output), when it has several."""
    log = os.environ.get(LOG_ENV)
    if log:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" (", 1)[0]
        with open(log, "a") as f:
            f.write(json.dumps({"test": test, "what": what, "error": error, "tolerance": tolerance,
                                "rule": rule}) + "\n")
    assert error <= tolerance, f"{what or 'result'}: relative error {error:.3g} > tolerance {tolerance:.3g} ({rule})"


def own_error(f: Callable[[torch.Tensor], Result], x: torch.Tensor, *, norm: bool = True,
              f64: Callable[[torch.Tensor], Result] | None = None) -> tuple[Errors, Result]:
    """The float32 computation `f`'s own rounding error at float32 input `x`, and its float64 result.

    f(x) runs in x's dtype and returns a tensor or a dict of tensors; `f64` (default `f`) is the same computation
    for a float64 input (e.g. with a float64 copy of the model). The error is relative (‖Δ‖₂ ÷ ‖ref‖₂ with `norm`,
    else max |Δ| ÷ max |ref|) against f64(x in float64), the largest over x and its one-ulp neighbours
    (`input_roundings`) — per key for a dict. Returns (error or dict of errors, the float64 result)."""
    ref = (f64 or f)(x.double())
    err = relative_norm_error if norm else relative_error
    runs = [f(xi) for xi in input_roundings(x)]
    if isinstance(ref, dict):
        return {k: max(err(r[k].double(), v) for r in runs) for k, v in ref.items()}, ref
    return max(err(r.double(), ref) for r in runs), ref


def check_reference(f: Callable[[torch.Tensor], Result], x: torch.Tensor, ref, *, norm: bool = False,
                    f64: Callable[[torch.Tensor], Result] | None = None, what: str = "") -> None:
    """Float32 code `f` at `x` against an independent float64 reference `ref` (a tensor or array of f(x)'s shape;
    or, where f returns a dict, a dict of them with the same keys, each checked as `what` + key).

    Two checks: the same code run in float64 (`f64`, default `f`) matches `ref` within `condition_tolerance(1)`
    (its constants — filters, kernels — are stored in float32, each off by ≤ eps/2 relative; anything larger is a
    wrong algorithm), and f(x) in float32 matches `ref` within `rounding_tolerance` of its own error against that
    float64 run, plus the float64 run's own distance from `ref`."""
    own, res64 = own_error(f, x, norm=norm, f64=f64)
    err = relative_norm_error if norm else relative_error
    got = f(x)
    keyed = isinstance(ref, dict)
    for key, want in ref.items() if keyed else [("", ref)]:
        want = torch.as_tensor(want, dtype=torch.float64)
        name = f"{what} {key}".strip()
        pick = (lambda r, key=key: r[key]) if keyed else (lambda r: r)
        e64 = err(pick(res64), want)
        check(e64, condition_tolerance(1.0), "10 x float32 eps (the float64 run, float32-stored constants)",
              f"{name} float64")
        check(err(pick(got).double(), want), rounding_tolerance(pick(own)) + e64, RULE, name)
