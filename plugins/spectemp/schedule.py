"""Spectemp coarse-to-fine unit schedule: which of the 111 modulation filters count in the metamer loss.

Set n (0 … 6) holds every filter whose |temporal rate| ≤ TEMPORAL_CUTOFFS[n] OR spectral scale ≤
SPECTRAL_CUTOFFS[n] (15, 41, 63, 81, 95, 105, 111 filters). Within a block of `iterations` steps the set index
grows by one every `period` steps (400 of 3000 in the study; scaled proportionally for shorter blocks); the last
set is all 111 filters, and the last `tail` steps of every block (200 of 3000, at least 1) always use all filters.

variant "seed" (default; SI text): every block follows this ramp, at every stage with a filter axis
    (filtered_signal, power, average).
variant "code" (facts §1.5, the released scripts): the ramp in blocks 1 … n−1 only, the last block uses all
    filters throughout, and only at filtered_signal and power (average uses the full loss).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .filters import filter_table

TEMPORAL_CUTOFFS_HZ = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
SPECTRAL_CUTOFFS_CYC_PER_ERB = (0.0, 0.0625, 0.125, 0.25, 0.5, 1.0, 2.0)
STUDY_ITERATIONS, STUDY_PERIOD, STUDY_TAIL = 3000, 400, 200
STAGES = {"seed": ("filtered_signal", "power", "average"), "code": ("filtered_signal", "power")}


@functools.lru_cache(maxsize=1)
def filter_sets() -> np.ndarray:
    """(7, 111) bool: membership of each filter in each cumulative set (read-only)."""
    table = filter_table()
    rate, scale = np.abs(table[:, 0]), table[:, 1]
    sets = np.stack([(rate <= t) | (scale <= s) for t, s in zip(TEMPORAL_CUTOFFS_HZ, SPECTRAL_CUTOFFS_CYC_PER_ERB)])
    sets.setflags(write=False)
    return sets


@dataclass(frozen=True)
class CoarseToFine:
    """Unit schedule (metazoo_core.metamer.schedules.UnitSchedule) over the filter axis of a Spectemp stage.

    mask(block, step) → bool tensor (111, 1, 1) (broadcasts over (111, 211, 390) and (111, 211, 1)), or None
    when every filter counts.
    """

    iterations: int = STUDY_ITERATIONS
    blocks: int = 8
    variant: Literal["seed", "code"] = "seed"

    @property
    def period(self) -> int:
        return max(1, round(self.iterations * STUDY_PERIOD / STUDY_ITERATIONS))

    @property
    def tail(self) -> int:
        """Steps at the end of each block that always use all filters (200 of 3000; at least 1)."""
        return max(1, round(self.iterations * STUDY_TAIL / STUDY_ITERATIONS))

    def set_index(self, block: int, step: int) -> int | None:
        """0 … 6, or None when all filters count at this step."""
        if self.variant == "code" and block == self.blocks - 1:
            return None
        index = step // self.period
        if index >= len(TEMPORAL_CUTOFFS_HZ) - 1 or step >= self.iterations - self.tail:
            return None
        return index

    def mask(self, block: int, step: int):
        index = self.set_index(block, step)
        return None if index is None else _set_mask(index)


@functools.lru_cache(maxsize=None)
def _set_mask(index: int):
    """Filter set `index` as a read-only (111, 1, 1) boolean mask, one object per set."""
    import torch

    return torch.from_numpy(filter_sets()[index].copy()).reshape(-1, 1, 1)


SCHEDULE_NAMES = {"spectemp_coarse_to_fine": "seed", "spectemp_coarse_to_fine_code": "code"}
"""Schedule names (options["name"], a spec's metamer.schedule) → variant."""


def unit_schedule(spec, stage: str, options: dict) -> CoarseToFine | None:
    """The family's schedule lookup (uniform signature): coarse-to-fine filter sets at the stages of the variant
    that options["name"] selects; iterations and blocks are the recipe's."""
    variant = SCHEDULE_NAMES[options["name"]]
    if stage not in STAGES[variant]:
        return None
    return CoarseToFine(iterations=int(options.get("iterations") or STUDY_ITERATIONS),
                        blocks=int(options.get("blocks") or 8), variant=variant)
