"""The study's two ANOVAs on balanced arrays of proportions correct, in closed form (numpy + scipy, no pandas).

- `observer_stage`: SI Table 1 — observer (human or generating model) between subjects, stage within. The study
  treats each participant's human score and the network's score on that participant's stimuli as two different
  observers: with s participants the observer main effect is F(1, 2(s−1)) and the interaction F(k−1, 2(s−1)(k−1))
  (the study's MATLAB output for experiment 1: F(1,42), F(5,210) for 22 participants and 6 conditions).
- `model_comparison`: SI Table 2 — human recognition of Model 1 vs Model 2 metamers, both factors (model, stage)
  within subjects; F(1, s−1) for the model main effect, F(k−1, (k−1)(s−1)) for the interaction.

p is the uncorrected parametric p of F (the study printed permutation p-values; `metazoo_core.analysis.stats.
permutation_test` computes those); η²p = SS_effect / (SS_effect + SS_error). `metazoo_core.analysis.stats`
computes the same F values with pingouin (tests compare the two).
"""
from __future__ import annotations

import numpy as np
from scipy import stats as sps

from ..analysis.stats import Effect, StatsError, rm_F_two


def _effect(source: str, ss: float, ss_err: float, df1: int, df2: int) -> Effect:
    F = (ss / df1) / (ss_err / df2)
    return Effect(source=source, F=float(F), df1=int(df1), df2=int(df2), p=float(sps.f.sf(F, df1, df2)),
                  np2=float(ss / (ss + ss_err)))


def _check(*arrays: np.ndarray) -> None:
    shape = arrays[0].shape
    for a in arrays:
        if a.ndim != 2 or a.shape != shape:
            raise StatsError(f"need arrays of one shape (participants, stages); got {[x.shape for x in arrays]}")
        if not np.isfinite(a).all():
            raise StatsError("missing (NaN) cells: every participant needs a score in every stage")
    if shape[0] < 2 or shape[1] < 2:
        raise StatsError(f"need at least 2 participants and 2 stages, got {shape[0]} and {shape[1]}")


def observer_stage(human: np.ndarray, network: np.ndarray) -> dict[str, Effect]:
    """SI Table 1. human, network: (participants, stages) proportions correct in [0, 1].

    Returns {"main": observer main effect, "interaction": observer × stage}.
    """
    human, network = np.asarray(human, float), np.asarray(network, float)
    _check(human, network)
    y = np.stack([human, network])  # (observer, subject, stage)
    g, s, k = y.shape
    grand = y.mean()
    m_g = y.mean(axis=(1, 2))
    m_gs = y.mean(axis=2)
    m_k = y.mean(axis=(0, 1))
    m_gk = y.mean(axis=1)
    ss_g = s * k * ((m_g - grand) ** 2).sum()
    ss_between_err = k * ((m_gs - m_g[:, None]) ** 2).sum()
    ss_gk = s * ((m_gk - m_g[:, None] - m_k[None] + grand) ** 2).sum()
    ss_within_err = ((y - m_gs[:, :, None] - m_gk[:, None, :] + m_g[:, None, None]) ** 2).sum()
    return {"main": _effect("observer", ss_g, ss_between_err, g - 1, g * (s - 1)),
            "interaction": _effect("observer * stage", ss_gk, ss_within_err, (g - 1) * (k - 1),
                                   g * (s - 1) * (k - 1))}


def model_comparison(model_1: np.ndarray, model_2: np.ndarray) -> dict[str, Effect]:
    """SI Table 2. model_1, model_2: (participants, stages) human proportions correct for each model's metamers.

    Returns {"main": model main effect, "interaction": model × stage}.
    """
    model_1, model_2 = np.asarray(model_1, float), np.asarray(model_2, float)
    _check(model_1, model_2)
    y = np.stack([model_1, model_2], axis=1)  # (subject, model, stage)
    s, a, b = y.shape
    out = {}
    for name, effect, df1 in (("main", "main", a - 1), ("interaction", "interaction", (a - 1) * (b - 1))):
        F = float(rm_F_two(y, effect))
        df2 = df1 * (s - 1)
        out[name] = Effect(source="model" if name == "main" else "model * stage", F=F, df1=df1, df2=df2,
                           p=float(sps.f.sf(F, df1, df2)), np2=F * df1 / (F * df1 + df2))
    return out


def comparison_permutation_p(model_1: np.ndarray, model_2: np.ndarray, effect: str = "main",
                             n_permutations: int = 10_000, seed: int = 0, chunk: int = 1000) -> float:
    """Permutation p of SI Table 2's effects, as the study's run_permutation_network_types.m computes it.

    main: each participant's scores are averaged over stages, the model labels are shuffled within each participant
    and the one-way repeated-measures F recomputed (it equals the two-way main-effect F); interaction: all
    stage × model cells are shuffled within each participant and the interaction F recomputed.
    p = #(F_permuted > F_observed) / n, at least 1/n.
    """
    from ..analysis.stats import rm_F_one

    y = np.stack([np.asarray(model_1, float), np.asarray(model_2, float)], axis=1)  # (s, 2, k)
    s, a, k = y.shape
    rng = np.random.default_rng(seed)
    if effect == "main":
        cells = y.mean(axis=2)  # (s, 2)
        observed = float(rm_F_one(cells))
    elif effect == "interaction":
        cells = y.reshape(s, a * k)
        observed = float(rm_F_two(y, "interaction"))
    else:
        raise StatsError(f"effect must be 'main' or 'interaction', not {effect!r}")
    above = 0
    for start in range(0, n_permutations, chunk):
        m = min(chunk, n_permutations - start)
        order = np.argsort(rng.random((m, *cells.shape)), axis=2)
        shuffled = np.take_along_axis(np.broadcast_to(cells, (m, *cells.shape)), order, axis=2)
        F = rm_F_one(shuffled) if effect == "main" else rm_F_two(shuffled.reshape(m, s, a, k), "interaction")
        above += int((F > observed).sum())
    return max(above, 1) / n_permutations
