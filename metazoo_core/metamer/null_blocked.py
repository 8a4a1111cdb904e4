"""Blocked null distributions: M augmented views measured once, every pair of views from different inputs measured
by blocked matrix products (`metazoo null --pairing blocked`).

The per-pair null (`--pairing independent`) runs two forwards per pair, so 10⁶ pairs cost 2·10⁶ forwards. Here view
v (v = 0 … M−1) is input v mod K (K inputs, round robin) with its own independent augmentation; its activations
at every stage are computed once and written to disk (float32, as the model gives them) with their average ranks,
centred (half-integers, exact in float32). Then for every block of view pairs:

- Pearson r = (a·b − N·ā·b̄) / (‖a − ā‖ ‖b − b̄‖), the Gram matrix a·b in float64;
- Spearman ρ = Pearson of the average ranks (scipy's tie convention, `measures.average_ranks`);
- SNR = 10·log10(‖a‖ / ‖a − b‖) dB with ‖a − b‖² = ‖a‖² + ‖b‖² − 2 a·b, orig = the view with the smaller index;

with `metazoo_core.measures`' degenerate cases (an activation summing to 0, or a constant one, gives 0).

Pairs: all (v, w) with v < w and v mod K ≠ w mod K, numbered row by row (v, then w); the null keeps the first
`pairs` of them, and M is the smallest number of views that has that many. Each pair still has two different
inputs with independent augmentations (the study's marginal); what changes is that each view takes part in about
2·pairs/M pairs, so pairs sharing a view are not independent. Memory stays bounded: activations live in
memory-mapped files and only two blocks of views (≤ `block_bytes` each in float64) are in memory at a time.
"""
from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from ..measures import MEASURES, average_ranks


def pair_count(views: int, n_inputs: int) -> int:
    """Pairs (v < w) of `views` round-robin views of `n_inputs` inputs whose inputs differ."""
    counts = np.bincount(np.arange(views) % n_inputs, minlength=n_inputs).astype(np.int64)
    return int(views * (views - 1) // 2 - (counts * (counts - 1) // 2).sum())


def views_for(pairs: int, n_inputs: int) -> int:
    """The smallest number of views M with pair_count(M, n_inputs) ≥ pairs."""
    m = max(2, math.isqrt(2 * pairs))
    while m > 2 and pair_count(m - 1, n_inputs) >= pairs:
        m -= 1
    while pair_count(m, n_inputs) < pairs:
        m += 1
    return m


def row_starts(views: int, n_inputs: int) -> np.ndarray:
    """(views,) int64: the number of valid pairs in the rows before v (row-by-row pair numbering)."""
    rest = views - 1 - np.arange(views)
    per_row = rest - rest // n_inputs
    return np.concatenate([[0], np.cumsum(per_row)[:-1]]).astype(np.int64)


@dataclass
class ViewStats:
    """Per-view float64 statistics of one stage's flattened activations (N values each)."""

    total: Tensor
    """(M,) Σ a (0 marks the measures' degenerate case)"""
    sq_norm: Tensor
    """(M,) ‖a‖²"""
    centred_norm: Tensor
    """(M,) ‖a − ā‖"""
    rank_norm: Tensor
    """(M,) ‖rank(a) − mean rank‖"""


def view_stats(acts: Tensor, centred_ranks: Tensor) -> ViewStats:
    """acts (B, N) any float dtype, centred_ranks (B, N) → ViewStats of B views."""
    a = acts.reshape(acts.shape[0], -1).to(torch.float64)
    return ViewStats(total=a.sum(1), sq_norm=a.square().sum(1), centred_norm=(a - a.mean(1, keepdim=True)).norm(dim=1),
                     rank_norm=centred_ranks.to(torch.float64).norm(dim=1))


def centred_ranks(acts: Tensor) -> Tensor:
    """(B, N) → (B, N) float64 average ranks minus their mean (N + 1)/2: half-integers, exact in float32."""
    r = average_ranks(acts)
    return r - (r.shape[1] + 1) / 2


def block_measures(a: Tensor, b: Tensor, ra: Tensor, rb: Tensor, sa: ViewStats, sb: ViewStats) -> dict[str, Tensor]:
    """Measures of every pair (i, j) of views a[i] (orig) and b[j]: a (P, N), b (Q, N) activations, ra/rb their
    centred ranks, sa/sb their ViewStats → {"spearman", "pearson", "snr_db"}: (P, Q) float64 each, equal to
    `metazoo_core.measures.all_measures(a[i], b[j])` (float64 throughout)."""
    a64, b64 = a.reshape(a.shape[0], -1).to(torch.float64), b.reshape(b.shape[0], -1).to(torch.float64)
    n = a64.shape[1]
    dot = a64 @ b64.T
    mean_a, mean_b = sa.total / n, sb.total / n
    cov = dot - n * mean_a[:, None] * mean_b[None, :]
    tiny = torch.finfo(torch.float64).tiny
    denom = sa.centred_norm[:, None] * sb.centred_norm[None, :]
    r = torch.where(denom > 0, (cov / denom.clamp_min(tiny)).clamp(-1, 1), 0.0)
    rank_dot = ra.reshape(ra.shape[0], -1).to(torch.float64) @ rb.reshape(rb.shape[0], -1).to(torch.float64).T
    rank_denom = sa.rank_norm[:, None] * sb.rank_norm[None, :]
    rho = torch.where(rank_denom > 0, (rank_dot / rank_denom.clamp_min(tiny)).clamp(-1, 1), 0.0)
    diff = (sa.sq_norm[:, None] + sb.sq_norm[None, :] - 2 * dot).clamp_min(0.0)
    snr = 5 * torch.log10(sa.sq_norm[:, None] / diff)
    degenerate = (sa.total == 0)[:, None] | (sb.total == 0)[None, :]
    zero = torch.zeros((), dtype=torch.float64)
    return {"spearman": torch.where(degenerate, zero, rho), "pearson": torch.where(degenerate, zero, r),
            "snr_db": torch.where(degenerate, zero, snr)}


class _StageStore:
    """One stage's activations and centred ranks of M views, float32, in memory-mapped files under `folder`."""

    def __init__(self, folder: Path, stage_index: int, views: int, n: int):
        self.acts = np.lib.format.open_memmap(folder / f"{stage_index}-acts.npy", "w+", np.float32, (views, n))
        self.ranks = np.lib.format.open_memmap(folder / f"{stage_index}-ranks.npy", "w+", np.float32, (views, n))
        self.stats: list[ViewStats] = []

    def write(self, start: int, acts: Tensor) -> None:
        flat = acts.detach().reshape(acts.shape[0], -1).cpu()
        ranks = centred_ranks(flat)
        self.acts[start:start + len(flat)] = flat.to(torch.float32).numpy()
        self.ranks[start:start + len(flat)] = ranks.to(torch.float32).numpy()
        self.stats.append(view_stats(flat, ranks))

    def all_stats(self) -> ViewStats:
        return ViewStats(*(torch.cat([getattr(s, f) for s in self.stats]) for f in ViewStats.__dataclass_fields__))


def _slice(stats: ViewStats, lo: int, hi: int) -> ViewStats:
    return ViewStats(*(getattr(stats, f)[lo:hi] for f in ViewStats.__dataclass_fields__))


def blocked_values(model, views: Sequence[Tensor] | Callable[[int], Tensor], n_views: int, n_inputs: int, pairs: int,
                   stages: Sequence[str], device: str = "cpu", batch_size: int = 16, block_bytes: int = 2**27,
                   progress: Callable[[int, int], None] | None = None,
                   scratch: Path | None = None) -> dict[str, dict[str, Tensor]]:
    """The first `pairs` pairs' measures at every stage: {stage: {measure: (pairs,) float64}}.

    `views(v)` → view v's input tensor (input v mod n_inputs, augmented); `progress(done, n_views)` is called after
    each batch of forwards. Scratch files go to a temporary folder under `scratch`.
    """
    get = views if callable(views) else views.__getitem__
    starts = torch.as_tensor(row_starts(n_views, n_inputs))
    out = {s: {m: torch.empty(pairs, dtype=torch.float64) for m in MEASURES} for s in stages}
    with tempfile.TemporaryDirectory(prefix="metazoo-null-", dir=scratch) as tmp:
        stores: dict[str, _StageStore] = {}
        for lo in range(0, n_views, batch_size):
            hi = min(lo + batch_size, n_views)
            with torch.no_grad():
                acts = model(torch.stack([get(v) for v in range(lo, hi)]).to(device), list(stages))
            for k, s in enumerate(stages):
                if s not in stores:
                    stores[s] = _StageStore(Path(tmp), k, n_views, acts[s][0].numel())
                stores[s].write(lo, acts[s])
            if progress is not None:
                progress(hi, n_views)
        inputs = torch.arange(n_views) % n_inputs
        for s in stages:
            store, stats = stores[s], stores[s].all_stats()
            rows = max(1, min(n_views, block_bytes // (8 * store.acts.shape[1])))
            # four float64 blocks allocated once per stage and refilled: a fresh 128 MiB block per pair of blocks
            # cost one page fault per 4 KiB (37 M minor faults, 90 s of system time for 10⁶ pairs, measured)
            a_buf, ra_buf, b_buf, rb_buf = (torch.empty(rows, store.acts.shape[1], dtype=torch.float64)
                                            for _ in range(4))
            for i0 in range(0, n_views, rows):
                i1 = min(i0 + rows, n_views)
                if int(starts[i0]) >= pairs:
                    break
                a = _load(a_buf, store.acts, i0, i1)
                ra = _load(ra_buf, store.ranks, i0, i1)
                for j0 in range(i0, n_views, rows):
                    j1 = min(j0 + rows, n_views)
                    b = _load(b_buf, store.acts, j0, j1)
                    rb = _load(rb_buf, store.ranks, j0, j1)
                    _scatter(out[s], block_measures(a, b, ra, rb, _slice(stats, i0, i1), _slice(stats, j0, j1)),
                             i0, j0, inputs, starts, n_inputs, pairs)
    return out


def _load(buffer: Tensor, rows: np.ndarray, lo: int, hi: int) -> Tensor:
    """rows[lo:hi] (float32, memory-mapped) copied into the first hi − lo rows of a float64 buffer."""
    return buffer[: hi - lo].copy_(torch.from_numpy(np.asarray(rows[lo:hi])))


def _scatter(out: dict[str, Tensor], block: dict[str, Tensor], i0: int, j0: int, inputs: Tensor, starts: Tensor,
             n_inputs: int, pairs: int) -> None:
    """Write the valid pairs of a block into their row-by-row numbers, those below `pairs`."""
    p, q = block["pearson"].shape
    v = torch.arange(i0, i0 + p)[:, None]
    w = torch.arange(j0, j0 + q)[None, :]
    valid = (w > v) & (inputs[i0:i0 + p][:, None] != inputs[j0:j0 + q][None, :])
    before = (j0 - 1 - v).clamp_min(0)  # views v < w' < j0 in this row, minus those of v's own input
    offset = before - before // n_inputs
    number = starts[i0:i0 + p][:, None] + offset + valid.cumsum(1) - 1
    keep = valid & (number < pairs)
    index = number[keep]
    for m, values in block.items():
        out[m][index] = values[keep]
