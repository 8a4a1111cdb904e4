"""Unit schedules: which units of a stage count in the metamer loss at each optimisation step.

The default is every unit at every step. A family may name schedules in its `Family.schedules`
(metazoo_core.family), each called as `schedule(spec, stage, options)` (HMAX: random unit subsets; Spectemp:
coarse-to-fine filter sets). The engine multiplies the stage activation and its target by the mask — no extra
forward passes:

    loss = ‖m ⊙ (a(x) − a(x₀))‖₂ / ‖m ⊙ a(x₀)‖₂
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class UnitSchedule(Protocol):
    """Per-step unit masks for one stage.

    `mask(block, step)` gets the 0-based learning-rate block and the 0-based step within that block and returns
    a boolean tensor broadcastable to the per-example stage shape (no batch dimension), or None for all units.
    The same mask applies to every item of a batch. It must be deterministic given the schedule's own seed, so
    that a resumed run sees the same masks as an uninterrupted one. Return the same (read-only) object for as long
    as the unit set does not change: the engine expands a mask to the stage shape only when it gets a new object.
    """

    def mask(self, block: int, step: int):  # -> torch.Tensor | None
        ...
