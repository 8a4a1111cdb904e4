"""The random subsample of a stage's activations a readout sees (fixed per model, stage and seed)."""
from __future__ import annotations

import hashlib

import torch


def unit_indices(model_id: str, stage: str, n_features: int, units: int = 2048, seed: int = 0) -> torch.Tensor:
    """Sorted int64 indices into the flattened stage (C·H·W order), `min(units, n_features)` of them.

    All features when n_features ≤ units (the study keeps every activation then). The draw uses a generator
    seeded from SHA-256 of (model id, stage, seed), so it is the same in every process and on every machine and
    differs between stages.
    """
    if n_features <= units:
        return torch.arange(n_features)
    key = hashlib.sha256(f"{model_id}\0{stage}\0{seed}".encode()).digest()
    g = torch.Generator().manual_seed(int.from_bytes(key[:8], "little") & (2**63 - 1))
    return torch.randperm(n_features, generator=g)[:units].sort().values


def indices_digest(index: torch.Tensor) -> str:
    """SHA-256 (hex) of the indices as little-endian int64: the subsample's fingerprint in records."""
    return hashlib.sha256(index.to(torch.int64).numpy().astype("<i8").tobytes()).hexdigest()
