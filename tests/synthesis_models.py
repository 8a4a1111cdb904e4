"""Small float64 networks for the synthesis tests: the Experiment B digit CNN (1×16×16 input, n = 256) with true
ReLU gradients, and its exact Fisher matrix built independently of metazoo_core.synthesis."""
from __future__ import annotations

import numpy as np
import torch

from metazoo_core.replication.digitnet import digit_network, digit_spec
from metazoo_core.stages import StagedModel


def digit(seed: int) -> StagedModel:
    """The digit CNN with torch's default initialisation drawn from `seed` (the caller's RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = digit_network()
    return StagedModel(digit_spec(f"digits{seed}", "digit CNN"), net, fake_relu=False).double()


def exact_fisher(model: StagedModel, stage: str, x: torch.Tensor) -> np.ndarray:
    """(n, n) JᵀJ of the stage at one input x (*input shape), J from torch.autograd.functional.jacobian."""
    f = lambda z: model(z.unsqueeze(0), [stage])[stage].reshape(-1)  # noqa: E731
    j = torch.autograd.functional.jacobian(f, x).reshape(-1, x.numel()).numpy()
    return j.T @ j
