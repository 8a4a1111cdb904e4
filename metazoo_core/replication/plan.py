"""The sizes of a replication run: the full offline run (`metazoo replicate mini`) and the CI-sized one (`--ci`).

Torch-free, so the CLI can print the plan before importing anything heavy. Iterations are per block of the
feather2023 recipe (normalised-gradient steps, step size 1 halved after every block; facts §1.1); the study used
3000 × 8 — these runs use far fewer (the only way to fit 2 CPU cores) with a larger first step in Experiment A,
and the acceptance criteria decide which metamers are kept, exactly as in the study.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class PlanA:
    """Experiment A: real ImageNet networks."""

    models: tuple[str, ...] = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
    images: tuple[str, ...] = ("chelsea", "coffee", "rocket", "astronaut", "camera", "motorcycle", "clock", "coins")
    """bundled photos (scikit-image) turned into metamers"""
    null_images: tuple[str, ...] = ("chelsea", "coffee", "rocket", "astronaut", "camera", "motorcycle", "clock",
                                    "coins", "hubble", "retina", "immunohistochemistry", "brick", "grass", "gravel")
    """bundled photos whose augmented pairs form the null distributions"""
    stages: dict[str, str] = field(default_factory=lambda: {"early": "blocks_0", "middle": "blocks_3",
                                                            "late": "blocks_5", "final": "final"})
    """depth label → stage name (the same names in all three models)"""
    iterations: int = 8
    blocks: int = 8
    init_step: float = 8.0
    """first normalised-gradient step (pixel units, halved every block); the study's 1.0 moves an image by at
    most ~2 × iterations in L2, far too little to reach early-stage metamers in a few dozen steps"""
    null_pairs: int = 32
    batch_size: int = 8
    seed: int = 0


@dataclass(frozen=True)
class PlanB:
    """Experiment B: small CNNs on upsampled digits, three training types × seeds."""

    seeds: tuple[int, ...] = (0, 1, 2)
    kinds: tuple[str, ...] = ("standard", "adversarial", "random")
    eps: float = 1.0
    """L2 ε of the adversarial and random perturbations, in [0, 1] pixel units on 16×16 images"""
    epochs: int = 12
    batch_size: int = 64
    lr: float = 0.05
    test_per_class: int = 30
    """held-out digits per class (not trained on): accuracy, robustness and the metamer inputs"""
    train_limit: int | None = None
    """use only the first N training digits (None: all; the CI plan trains on a few hundred)"""
    metamer_per_class: int = 2
    """held-out digits per class turned into metamers"""
    iterations: int = 50
    blocks: int = 8
    null_pairs: int = 1000
    robust_eval_steps: int = 20


@dataclass(frozen=True)
class Plan:
    name: str
    a: PlanA
    b: PlanB

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


FULL = Plan("full", PlanA(), PlanB())
CI = Plan("ci", PlanA(models=("efficientnet_lite0", "efficientnet_lite1"), images=("chelsea", "rocket", "clock"),
                      null_images=("chelsea", "rocket", "clock", "coffee"),
                      stages={"early": "blocks_0", "final": "final"}, iterations=2, blocks=2, null_pairs=4),
          PlanB(seeds=(0, 1), epochs=2, train_limit=300, test_per_class=4, metamer_per_class=1, iterations=10, blocks=2,
                null_pairs=50, robust_eval_steps=3))
