"""Optimisation recipes: the study's normalised-gradient schedule and the alternatives of its Supp. Figure 1.

A `Recipe` holds every constant of one optimisation strategy; `Recipe.with_overrides` applies the user's
`--iterations/--blocks` and the model's metamer defaults (noise, initial step). All step sizes are in the model's
input units (e.g. pixel values in [0, 1]; 255 for HMAX's 0–255 images).

- feather2023 (default, facts §1.1): x ← clamp(x − s·g/(‖g‖₂ + 1e-10)) per item, s = init_step for `iterations`
  steps, then halved, for `blocks` blocks (3000 × 8, s = 1 … 1/128); last iterate kept.
- fixed_step (Supp. Fig. 1): the same step rule with s fixed at 1 for 15000 steps.
- adam (Supp. Fig. 1): Adam on x, learning rate 0.001 multiplied by 0.95 every 1000 steps (staircase; set
  `lr_staircase=False` for TensorFlow's continuous decay, which the SI's wording may mean), 15000 steps, clamp.
- plenoptic_adam: plenoptic `Metamer`'s default optimiser — Adam (amsgrad) at 0.01 — minimising the study's loss
  plus 0.1 × plenoptic's quadratic range penalty, without clamping during optimisation; 15000 steps.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from ..errors import MetazooError


@dataclass(frozen=True)
class Recipe:
    """How a metamer is optimised: `method` "normalized_gradient" (the study's: steps of size `init_step` in input
    units along the L2-normalised gradient, multiplied by `step_decay` (0.5) after each of `blocks` (8) blocks of
    `iterations` (3000) steps) or "adam" (`lr`); initial noise N(noise_mean, noise_std²) in input units. Get one by
    name with `get_recipe`/`tuned_recipe` ("feather2023", "fixed_step", "adam", "plenoptic_adam")."""

    name: str
    method: Literal["normalized_gradient", "adam"]
    iterations: int = 3000
    """steps per block"""
    blocks: int = 8
    init_step: float | None = None
    """first step size (normalized_gradient; input units) — None: the model's `metamer.init_step`"""
    step_decay: float = 0.5
    """multiplies the step size between blocks (normalized_gradient)"""
    lr: float = 0.001
    """Adam learning rate (adam)"""
    lr_gamma: float = 1.0
    lr_decay_every: int = 0
    """Adam: lr ← lr·lr_gamma every lr_decay_every steps (0: never)"""
    lr_staircase: bool = True
    """Adam decay in steps (lr·γ^⌊t/k⌋); False: continuous, lr·γ^(t/k) (TensorFlow's exponential_decay default)"""
    amsgrad: bool = False
    range_penalty: float = 0.0
    """λ of plenoptic's quadratic penalty on values outside the input range (0: none)"""
    clamp: bool = True
    """clamp x to the input range after every step"""
    noise_mean: float | None = None
    noise_std: float | None = None
    """initial noise N(mean, std²) in input units — None: the model's `metamer` defaults"""
    grad_eps: float = 1e-10
    """added to ‖g‖₂ in the normalised step"""

    @property
    def total_steps(self) -> int:
        return self.iterations * self.blocks

    def step_size(self, block: int) -> float:
        """Step size (normalized_gradient) or base learning rate (adam) in `block` (0-based)."""
        if self.method == "adam":
            return self.lr
        return float(self.init_step) * self.step_decay ** block

    def resolved(self, spec: Any, iterations: int | None = None, blocks: int | None = None) -> "Recipe":
        """Fill the model's defaults and the user's overrides; checks the numbers."""
        m = spec.metamer
        r = replace(
            self,
            iterations=self.iterations if iterations is None else int(iterations),
            blocks=self.blocks if blocks is None else int(blocks),
            init_step=m.init_step if self.init_step is None else self.init_step,
            noise_mean=m.noise_mean if self.noise_mean is None else self.noise_mean,
            noise_std=m.noise_std if self.noise_std is None else self.noise_std,
        )
        if r.iterations < 1 or r.blocks < 1:
            raise MetazooError(f"recipe '{r.name}': --iterations and --blocks must be ≥ 1 "
                               f"(got {r.iterations} and {r.blocks})")
        return r

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


RECIPES: dict[str, Recipe] = {
    "feather2023": Recipe("feather2023", "normalized_gradient", iterations=3000, blocks=8, step_decay=0.5),
    "fixed_step": Recipe("fixed_step", "normalized_gradient", iterations=15000, blocks=1, init_step=1.0,
                         step_decay=1.0),
    "adam": Recipe("adam", "adam", iterations=15000, blocks=1, lr=0.001, lr_gamma=0.95, lr_decay_every=1000),
    "plenoptic_adam": Recipe("plenoptic_adam", "adam", iterations=15000, blocks=1, lr=0.01, amsgrad=True,
                             range_penalty=0.1, clamp=False),
}


STEP_CONSTANTS = ("init_step", "step_decay")
"""Constants that only the normalised-gradient recipes use."""


def tuned_recipe(name: "str | Recipe", **overrides: float | None) -> Recipe:
    """Recipe `name` with the given constants replaced (None: keep the recipe's or the model's value), e.g.
    `tuned_recipe("feather2023", init_step=8)` for a short schedule (docs/replication.md). One-line MetazooError
    for a constant the recipe does not use or a value out of range."""
    r = get_recipe(name)
    given = {k: float(v) for k, v in overrides.items() if v is not None}
    for key, value in given.items():
        flag = "--" + key.replace("_", "-")
        if key in STEP_CONSTANTS and r.method != "normalized_gradient":
            raise MetazooError(f"{flag} applies to the normalised-gradient recipes (feather2023, fixed_step), "
                               f"not '{r.name}'")
        if key in STEP_CONSTANTS and not value > 0 or key == "noise_std" and not value >= 0:
            raise MetazooError(f"{flag} {value:g}: give a {'positive' if key in STEP_CONSTANTS else 'non-negative'} "
                               "number")
    return replace(r, **given) if given else r


def get_recipe(name: "str | Recipe") -> Recipe:
    if isinstance(name, Recipe):
        return name
    try:
        return RECIPES[name]
    except KeyError:
        raise MetazooError(f"unknown recipe '{name}'; choose from {', '.join(RECIPES)}") from None
