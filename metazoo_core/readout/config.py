"""Settings of a per-stage linear readout, with the study's values as defaults.

From the study (Supplementary Modeling Note 1, the readout procedure it describes for every model stage):
- a fully connected layer + softmax on a random subsample of `units` = 2048 activations of the stage (all of them
  when the stage has ≤ 2048);
- batch size 256, 10 epochs, one-cycle learning-rate policy with cosine annealing: from 3e-5 up to a maximum of
  0.3 at epoch 3, then down towards 3e-9 at epoch 10 (the same text's Supplementary Table 3 row for the IPCL
  readout says "0.00003 to 0.03"; the prose value 0.3 is used here);
- augmentations: random resized crop (scale [0.08, 1], aspect ratio [3/4, 4/3], back to the input size) and a
  horizontal flip with probability 0.5.
Not stated in the study (unverified defaults, every one a parameter): the optimiser (SGD with momentum 0.9 here),
weight decay (0), and whether features are standardised (no).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ReadoutConfig:
    units: int = 2048
    """Activations kept per stage (random subsample, fixed per model, stage and seed)."""
    epochs: int = 10
    batch_size: int = 256
    max_lr: float = 0.3
    initial_lr: float = 3e-5
    final_lr: float = 3e-9
    warmup_fraction: float = 0.3
    """Fraction of training in the rising phase of the one-cycle schedule (study: epoch 3 of 10)."""
    optimizer: str = "sgd"
    """sgd or adam (unverified: the study does not name its optimiser)."""
    momentum: float = 0.9
    weight_decay: float = 0.0
    augment: bool = True
    """Random resized crop + horizontal flip of the input each epoch (images only)."""
    crop_scale: tuple[float, float] = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    standardize: bool = False
    """Z-score each kept unit with the training set's (unaugmented) mean and std before the layer."""

    def __post_init__(self) -> None:
        from ..errors import InputError

        checks = [(self.units >= 1, "units must be ≥ 1"), (self.epochs >= 1, "epochs must be ≥ 1"),
                  (self.batch_size >= 1, "batch size must be ≥ 1"),
                  (0 < self.initial_lr <= self.max_lr, "need 0 < initial lr ≤ max lr"),
                  (0 < self.final_lr <= self.initial_lr, "need 0 < final lr ≤ initial lr"),
                  (0 < self.warmup_fraction < 1, "the warm-up fraction must lie strictly between 0 and 1"),
                  (self.optimizer in ("sgd", "adam"), f"optimizer '{self.optimizer}' is not sgd or adam"),
                  (0 < self.crop_scale[0] <= self.crop_scale[1] <= 1, "crop scale must satisfy 0 < low ≤ high ≤ 1"),
                  (0 < self.crop_ratio[0] <= self.crop_ratio[1], "crop ratio must satisfy 0 < low ≤ high"),
                  (0 <= self.flip_p <= 1, "flip probability must lie in [0, 1]")]
        for ok, message in checks:
            if not ok:
                raise InputError(f"readout settings: {message}")

    def digest(self) -> str:
        """10 hex digits of SHA-256 over every setting: results of different settings never mix."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]
