"""The small CNN of Experiment B as a registry-style `StagedModel` (no registry entry needed).

Input (1, 16, 16) greyscale in [0, 1], normalised inside with the training set's mean/std (like the study's
`InputNormalize`). Architecture, AlexNet-like in miniature, with the stages metamers are made at:

    conv0 3×3 (16) → relu0 (16, 16, 16) → maxpool 2
    conv1 3×3 (32) → relu1 (32, 8, 8)   → maxpool 2
    conv2 3×3 (64) → relu2 (64, 4, 4)
    fc0 (1024 → 128) → fc0_relu (128)
    fc1 (128 → 10)   → final (10 logits, one per digit)

ReLU stages are taken at the ReLU's input with relu=True, so metamer gradients pass through a fake ReLU (facts §3).
The classifier is "none" in the registry's vocabulary (there is no 10-way digit classifier type); Experiment B
applies the study's prediction-match criterion itself with the argmax of `final`.
"""
from __future__ import annotations

from torch import nn

from ..registry import ModelSpec
from ..stages import StagedModel, StageNetwork, Tap

MEAN, STD = 0.30, 0.40
"""Normalisation constants: the training digits' pixel mean and standard deviation, rounded (16 × 16, [0, 1])."""

STAGES = ["relu0", "relu1", "relu2", "fc0_relu", "final"]


def digit_spec(model_id: str, description: str) -> ModelSpec:
    return ModelSpec.model_validate({
        "id": model_id, "family": "replication_digits", "modality": "vision", "group": "replication",
        "description": description,
        "input": {"shape": [1, 16, 16], "range": [0, 1], "colour": "grey"},
        "normalization": {"mean": [MEAN], "std": [STD]},
        "stages": [
            {"name": "relu0", "shape": [16, 16, 16], "relu": True},
            {"name": "relu1", "shape": [32, 8, 8], "relu": True},
            {"name": "relu2", "shape": [64, 4, 4], "relu": True},
            {"name": "fc0_relu", "shape": [128], "relu": True},
            {"name": "final", "shape": [10]},
        ],
        "classifier": "none",
    })


def digit_network() -> StageNetwork:
    """A freshly initialised network (torch's default init; seed it with torch.manual_seed first)."""
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),       # 0, 1, 2
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),      # 3, 4, 5
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),                       # 6, 7
        nn.Flatten(), nn.Linear(64 * 4 * 4, 128), nn.ReLU(),              # 8, 9, 10
        nn.Linear(128, 10),                                               # 11
    )
    taps = {"relu0": Tap("1", point="input", relu=True), "relu1": Tap("4", point="input", relu=True),
            "relu2": Tap("7", point="input", relu=True), "fc0_relu": Tap("10", point="input", relu=True),
            "final": Tap("11")}
    return StageNetwork(net=net, taps=taps)


def digit_model(model_id: str, description: str = "small digit CNN (Experiment B)") -> StagedModel:
    """A StagedModel with random weights (frozen; `robustness.training.trainee_from_model` unfreezes it)."""
    return StagedModel(digit_spec(model_id, description), digit_network())
