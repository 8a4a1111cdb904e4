"""Similarity of two activation patterns, as the study's acceptance criteria (facts §2.1).

All functions take batches of flattened activations, `orig` and `other` of shape (B, N) (any float dtype, any
device), and return (B,) float64 tensors, one value per item:

- `spearman`: Spearman ρ with tied values given their average rank (scipy.stats.spearmanr's convention; ReLU stages
  are full of tied zeros, so ordinal ranks would be wrong);
- `pearson`: Pearson r (r, not r²);
- `snr_db`: 10·log10(‖orig‖₂ / ‖orig − other‖₂) in dB — the study's factor 10 on an amplitude ratio, orig = signal.

Degenerate cases follow the study's null script: an item whose `orig` or `other` sums to zero gets ρ = r = 0 and
SNR = 0; a constant vector (zero variance) gets ρ = r = 0; identical vectors get SNR = +inf.
"""
from __future__ import annotations

import torch
from torch import Tensor

MEASURES = ("spearman", "pearson", "snr_db")
"""Measure names in record order; `ModelSpec.metamer.criteria` spells the last one "snr"."""


def _flat64(x: Tensor) -> Tensor:
    return x.detach().reshape(x.shape[0], -1).to(torch.float64)


def average_ranks(x: Tensor) -> Tensor:
    """(B, N) → (B, N) float64 ranks 1…N per row, tied values sharing their average rank."""
    x = _flat64(x)
    out = torch.empty_like(x)
    for i, row in enumerate(x):
        _, inverse, counts = torch.unique(row, sorted=True, return_inverse=True, return_counts=True)
        ends = counts.cumsum(0).to(torch.float64)
        out[i] = (ends - (counts.to(torch.float64) - 1) / 2)[inverse]
    return out


def _degenerate(orig: Tensor, other: Tensor) -> Tensor:
    return (orig.sum(dim=1) == 0) | (other.sum(dim=1) == 0)


def _correlation(a: Tensor, b: Tensor) -> Tensor:
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    denom = a.norm(dim=1) * b.norm(dim=1)
    r = (a * b).sum(dim=1) / denom.clamp_min(torch.finfo(torch.float64).tiny)
    return torch.where(denom > 0, r.clamp(-1, 1), torch.zeros_like(r))


def pearson(orig: Tensor, other: Tensor) -> Tensor:
    """Pearson r per item: (B, N), (B, N) → (B,) float64."""
    a, b = _flat64(orig), _flat64(other)
    return torch.where(_degenerate(a, b), torch.zeros(a.shape[0], dtype=torch.float64, device=a.device),
                       _correlation(a, b))


def spearman(orig: Tensor, other: Tensor) -> Tensor:
    """Spearman ρ per item (average ranks for ties): (B, N), (B, N) → (B,) float64."""
    a, b = _flat64(orig), _flat64(other)
    rho = _correlation(average_ranks(a), average_ranks(b))
    return torch.where(_degenerate(a, b), torch.zeros_like(rho), rho)


def snr_db(orig: Tensor, other: Tensor) -> Tensor:
    """10·log10(‖orig‖₂ / ‖orig − other‖₂) per item in dB: (B, N), (B, N) → (B,) float64."""
    a, b = _flat64(orig), _flat64(other)
    snr = 10 * torch.log10(a.norm(dim=1) / (a - b).norm(dim=1))
    return torch.where(_degenerate(a, b), torch.zeros_like(snr), snr)


def all_measures(orig: Tensor, other: Tensor) -> dict[str, Tensor]:
    """{"spearman", "pearson", "snr_db"} → (B,) float64 each."""
    return {"spearman": spearman(orig, other), "pearson": pearson(orig, other), "snr_db": snr_db(orig, other)}
