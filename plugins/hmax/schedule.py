"""HMAX's random unit-subset schedule for metamer optimisation (seed text; facts §1.4 for the code's variant).

Which units count in the loss: S1 one Gabor channel (of 64), C1 one band (of 8), S2 and C2 one patch scale (of 8),
redrawn at random every 50 steps during the first part of each learning-rate block, all units afterwards.

- variant "paper" (default, the SI's text): subsets for the first 2000 of every 3000 steps, in every block.
- variant "code" (the released script): subsets for the first 400 of every 3000 steps, in every block but the last.
Choose with options["variant"], or by schedule name: "hmax_units" (paper), "hmax_units_code" (code), "none" (off).

Step counts scale with the recipe's steps per block (`iterations`): the subset phase is 2000/3000 (or 400/3000) of
a block and the redraw period 50/3000 of a block (at least one step). Draws are a pure function of (seed, block,
draw index), so a resumed run sees exactly the masks of an uninterrupted one. Other stages (input_after_preproc,
final) have no schedule.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from . import layout

STUDY_ITERATIONS = 3000
STUDY_PERIOD = 50
SUBSET_STEPS = {"paper": 2000, "code": 400}
SCHEDULED_STAGES = ("s1", "c1", "s2", "c2")
SCHEDULE_NAMES = {"hmax_units": "paper", "hmax_units_code": "code"}
"""Schedule names (options["name"], a spec's metamer.schedule) → variant; "none" turns the schedule off."""


@dataclass(frozen=True)
class HmaxUnitSchedule:
    """Unit masks for one HMAX stage (see the module docstring); satisfies metazoo_core's UnitSchedule.

    stage: s1, c1, s2 or c2. groups: the unit groups to draw from, as (start, stop) ranges along the stage's
    first dimension (s1 channels, c2 rows) or along the flat stage (c1 bands, s2 patch scales).
    shape: the per-example stage shape.
    """

    stage: str
    shape: tuple[int, ...]
    groups: tuple[tuple[int, int], ...]
    iterations: int = STUDY_ITERATIONS
    blocks: int = 8
    seed: int = 0
    variant: Literal["paper", "code"] = "paper"

    @property
    def period(self) -> int:
        """Steps between redraws."""
        return max(1, round(STUDY_PERIOD * self.iterations / STUDY_ITERATIONS))

    @property
    def subset_steps(self) -> int:
        """Steps at the start of a block that use a subset."""
        return round(SUBSET_STEPS[self.variant] * self.iterations / STUDY_ITERATIONS)

    def group(self, block: int, step: int) -> int | None:
        """Index of the unit group in use at (block, step), 0-based; None when every unit counts."""
        if step >= self.subset_steps or (self.variant == "code" and block >= self.blocks - 1):
            return None
        draw = step // self.period
        rng = np.random.default_rng([self.seed, block, draw, SCHEDULED_STAGES.index(self.stage)])
        return int(rng.integers(len(self.groups)))

    def mask(self, block: int, step: int):
        """Boolean mask broadcastable to the stage shape, or None (all units). Read-only: shared between calls."""
        g = self.group(block, step)
        if g is None:
            return None
        return _group_mask(self.shape, *self.groups[g])


@lru_cache(maxsize=16)
def _group_mask(shape: tuple[int, ...], start: int, stop: int):
    """True on [start, stop) of the first dimension: (C, 1, …) for s1/c2, the flat stage for c1/s2."""
    import torch

    m = torch.zeros((shape[0],) + (1,) * (len(shape) - 1), dtype=torch.bool)
    m[start:stop] = True
    return m


def for_stage(stage: str, options: dict[str, Any], patch_sizes: tuple[int, ...],
              image_size: int) -> HmaxUnitSchedule | None:
    """The schedule for an HMAX stage, or None when the stage has none."""
    if stage not in SCHEDULED_STAGES or options.get("name") == "none":
        return None
    variant = options.get("variant") or SCHEDULE_NAMES.get(options.get("name"), "paper")
    if variant not in SUBSET_STEPS:
        from metazoo_core.errors import MetazooError

        raise MetazooError(f"unknown HMAX schedule variant '{variant}'; use 'paper' (SI: first 2000 of 3000 steps) "
                           "or 'code' (released script: first 400 steps, not in the last block)")
    shapes = layout.stage_shapes(patch_sizes, image_size)
    if stage == "s1":
        groups = tuple((c, c + 1) for c in range(shapes["s1"][0]))
    elif stage == "c1":
        groups = tuple(layout.c1_slices(image_size))
    elif stage == "s2":
        groups = tuple(layout.s2_slices(patch_sizes, image_size))
    else:
        groups = tuple((k, k + 1) for k in range(len(patch_sizes)))
    return HmaxUnitSchedule(stage=stage, shape=tuple(shapes[stage]), groups=groups,
                            iterations=int(options.get("iterations") or STUDY_ITERATIONS),
                            blocks=int(options.get("blocks") or 8), seed=int(options.get("seed") or 0),
                            variant=variant)


def unit_schedule(spec: Any, stage: str, options: dict[str, Any]) -> HmaxUnitSchedule | None:
    """The family's schedule lookup (uniform signature): options["name"] is hmax_units or hmax_units_code (the
    host has checked it); an explicit options["variant"] takes precedence."""
    sizes = tuple(spec.build.get("patch_sizes", layout.DEFAULT_PATCH_SIZES))
    variant = options.get("variant") or SCHEDULE_NAMES[options["name"]]
    return for_stage(stage, {**options, "variant": variant}, sizes, spec.input.shape[-1])
