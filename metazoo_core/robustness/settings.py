"""Training settings without torch (the CLI checks them before importing torch): what perturbation is added to
each batch, with the study's defaults, and the optimisation settings.

The study's perturbations (seed "Adversarial training"; facts §10): vision PGD 7 steps of ε/2 (L2 ε=3 → 1.5,
L∞ ε=8/255 → 4/255), no random start stated (the robustness library's default: none); audio 5 steps of ε/2 with
a random start, at the waveform or the cochleagram; random L2 = a point on the ε-sphere, random L∞ = a corner
of the ε-box.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

from ..errors import InputError


@dataclass(frozen=True)
class Perturbation:
    """What is added to each training batch. kind "none" = standard training."""

    kind: Literal["none", "adversarial", "random"] = "none"
    norm: Literal["l2", "linf"] = "l2"
    eps: float = 0.0
    steps: int = 0
    step_size: float = 0.0
    random_start: bool = False
    where: Literal["input", "cochleagram"] = "input"

    def describe(self) -> str:
        if self.kind == "none":
            return "standard training"
        what = f"{self.kind} {self.norm} ε={self.eps:g} at the {self.where}"
        if self.kind == "adversarial":
            what += f" (PGD {self.steps} steps of {self.step_size:g}{', random start' if self.random_start else ''})"
        return what


def study_perturbation(kind: str, norm: str, eps: float, modality: str, where: str = "input",
                       steps: int | None = None, step_size: float | None = None) -> Perturbation:
    """The seed's settings for a kind/norm/ε, with optional overrides of steps and step size."""
    if kind == "none":
        return Perturbation()
    if kind not in ("adversarial", "random"):
        raise InputError(f"unknown perturbation '{kind}'; choose adversarial or random")
    norm = norm.lower()
    if norm not in ("l2", "linf"):
        raise InputError(f"training perturbations are l2 or linf (the study's), not '{norm}'")
    if not math.isfinite(eps) or eps <= 0:
        raise InputError(f"training ε must be a positive number, got {eps}")
    if where not in ("input", "cochleagram"):
        raise InputError(f"perturbation location must be input or cochleagram, not '{where}'")
    if where == "cochleagram" and modality != "audio":
        raise InputError("cochleagram perturbations need an audio model")
    if steps is not None and steps < 1:
        raise InputError(f"attack steps must be ≥ 1, got {steps}")
    audio = modality == "audio"
    return Perturbation(kind=kind, norm=norm, eps=float(eps),
                        steps=(steps or (5 if audio else 7)) if kind == "adversarial" else 0,
                        step_size=(step_size or eps / 2) if kind == "adversarial" else 0.0,
                        random_start=audio and kind == "adversarial", where=where)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 1
    batch_size: int = 32
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_step_epochs: int = 50
    lr_gamma: float = 0.1
    seed: int = 0
    checkpoint_every: int = 100
    eval_steps: int = 64
    perturbation: Perturbation = field(default_factory=Perturbation)

    def resumable_with(self, other: "TrainConfig") -> bool:
        """Same run apart from the number of epochs and the checkpoint interval."""
        a = {k: v for k, v in asdict(self).items() if k not in ("epochs", "checkpoint_every", "eval_steps")}
        b = {k: v for k, v in asdict(other).items() if k not in ("epochs", "checkpoint_every", "eval_steps")}
        return a == b
