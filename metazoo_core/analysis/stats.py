"""The study's statistics: repeated-measures ANOVAs (SI Tables 1 and 2) and the permutation test (SI Methods).

Data are long tables (pandas DataFrame): one row per observation with a subject column, factor columns and a
dependent-variable column (e.g. proportion correct in [0, 1]). Repeated observations of one cell are averaged
first (as pingouin and statsmodels' AnovaRM do).

- `rm_anova`: pingouin's repeated-measures ANOVA (one or two within factors); uncorrected F, p and partial η².
- `observer_stage_anova`: SI Table 1 — observer (human or model) × generation stage; observer is a between-subject
  factor when each subject belongs to one observer (the study: F(1, 42) for 44 subjects), a within factor otherwise.
- `model_comparison_anova`: SI Table 2 — human recognition of Model 1 vs Model 2 metamers, within factors model and
  stage; the model main effect (and the interaction) are reported.
- `permutation_test`: permute the factor's labels within each subject (and each level of the other factor),
  recompute F; p = 1 − rank(F_obs)/n, rank = number of permuted F below F_obs; all unique permutations are
  enumerated when there are fewer than 10,000 (the observed labelling is one of them), else 10,000 random ones.
- `table1`/`table2`: the seed's table format ("F(1,42)=424.4", "p<0.0001", "η²p = 0.91").
"""
from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import MetazooError

MAX_EXACT = 10_000
"""Enumerate all unique permutations when fewer than this many exist (the seed's rule)."""


class StatsError(MetazooError):
    pass


@dataclass(frozen=True)
class Effect:
    """One ANOVA effect: F(df1, df2), uncorrected p, partial eta squared."""

    source: str
    F: float
    df1: int
    df2: int
    p: float
    np2: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _col(row: Any, *names: str) -> Any:
    for n in names:
        if n in row and row[n] == row[n]:  # present and not NaN
            return row[n]
    raise StatsError(f"pingouin output lacks column {names[0]}")


def _check(data, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise StatsError(f"data lacks column(s) {', '.join(missing)}; have {', '.join(map(str, data.columns))}")
    if len(data) == 0:
        raise StatsError("no observations to analyse")


def _effects(table, error_df: dict[str, int] | None = None) -> list[Effect]:
    out = []
    for _, row in table.iterrows():
        if row["Source"] in ("Error", "Residual"):
            continue
        df1 = int(_col(row, "ddof1", "DF1", "DF"))
        df2 = int(_col(row, "ddof2", "DF2")) if ("ddof2" in row or "DF2" in row) else (error_df or {})[row["Source"]]
        out.append(Effect(source=str(row["Source"]), F=float(row["F"]), df1=df1, df2=df2,
                          p=float(_col(row, "p_unc", "p-unc")), np2=float(row["np2"])))
    return out


def rm_anova(data, dv: str, within: str | Sequence[str], subject: str) -> list[Effect]:
    """Repeated-measures ANOVA with one or two within factors (pingouin); one Effect per source.

    Sources: the factor name(s) and, for two factors, "A * B" (the interaction). p is uncorrected (no
    Greenhouse–Geisser), matching statsmodels' AnovaRM and the integer dfs the SI reports.
    """
    import pingouin as pg

    factors = [within] if isinstance(within, str) else list(within)
    _check(data, [dv, subject, *factors])
    table = pg.rm_anova(data=data, dv=dv, within=factors if len(factors) > 1 else factors[0], subject=subject,
                        detailed=True, effsize="np2", correction=False)
    if len(factors) == 1:
        n_sub = data[subject].nunique()
        k = data[factors[0]].nunique()
        return _effects(table, {factors[0]: (k - 1) * (n_sub - 1)})
    return _effects(table)


def observer_stage_anova(data, dv: str = "accuracy", observer: str = "observer", stage: str = "stage",
                         subject: str = "subject") -> dict[str, Effect]:
    """SI Table 1: {"main": observer main effect, "interaction": observer × stage}.

    Mixed design (pingouin.mixed_anova) when every subject has a single observer level, else two-way within.
    """
    import pingouin as pg

    _check(data, [dv, observer, stage, subject])
    if data[observer].nunique() < 2 or data[stage].nunique() < 2:
        raise StatsError(f"need at least two levels of '{observer}' and of '{stage}'")
    between = bool((data.groupby(subject)[observer].nunique() == 1).all())
    if between:
        table = pg.mixed_anova(data=data, dv=dv, within=stage, between=observer, subject=subject,
                               effsize="np2", correction=False)
        effects = {e.source: e for e in _effects(table)}
        return {"main": effects[observer], "interaction": effects["Interaction"]}
    effects = {e.source: e for e in rm_anova(data, dv, [observer, stage], subject)}
    return {"main": effects[observer], "interaction": effects[f"{observer} * {stage}"]}


def model_comparison_anova(data, dv: str = "accuracy", model: str = "model", stage: str | None = "stage",
                           subject: str = "subject") -> dict[str, Effect]:
    """SI Table 2: {"main": model main effect[, "interaction": model × stage]} with model and stage within."""
    _check(data, [dv, model, subject] + ([stage] if stage else []))
    if data[model].nunique() != 2:
        raise StatsError(f"'{model}' must have exactly two levels (Model 1, Model 2), has {data[model].nunique()}")
    if stage is None:
        return {"main": rm_anova(data, dv, model, subject)[0]}
    effects = {e.source: e for e in rm_anova(data, dv, [model, stage], subject)}
    return {"main": effects[model], "interaction": effects[f"{model} * {stage}"]}


# ---- permutation test -------------------------------------------------------------------------------------------

def cell_array(data, dv: str, subject: str, factor: str, other: str | None = None) -> np.ndarray:
    """Balanced cell means as an array (subjects, levels of factor[, levels of other]); unbalanced raises."""
    keys = [subject, factor] + ([other] if other else [])
    _check(data, [dv, *keys])
    means = data.groupby(keys, observed=True)[dv].mean()
    shape = tuple(data[k].nunique() for k in keys)
    if len(means) != math.prod(shape):
        raise StatsError(f"unbalanced design: {len(means)} of {math.prod(shape)} cells "
                         f"({' × '.join(keys)}) have data; every subject needs every condition")
    return means.sort_index().to_numpy(dtype=float).reshape(shape)


def rm_F_one(y: np.ndarray) -> np.ndarray:
    """F of a one-way within factor; y (…, subjects, levels), batched over ….

    F = [SS_A/(a−1)] / [SS_AS/((a−1)(s−1))], the numbers pingouin and AnovaRM give.
    """
    s, a = y.shape[-2:]
    g = y.mean(axis=(-2, -1), keepdims=True)
    ma = y.mean(axis=-2, keepdims=True)
    ms = y.mean(axis=-1, keepdims=True)
    ss_a = s * ((ma - g) ** 2).sum(axis=(-2, -1))
    ss_err = ((y - ma - ms + g) ** 2).sum(axis=(-2, -1))
    return (ss_a / (a - 1)) / (ss_err / ((a - 1) * (s - 1)))


def rm_F_two(y: np.ndarray, effect: str = "main") -> np.ndarray:
    """F of factor A in a two-way within design; y (…, subjects, A levels, B levels), batched over ….

    effect "main": A main effect, error A × subject; "interaction": A × B, error A × B × subject.
    """
    if effect not in ("main", "interaction"):
        raise StatsError(f"effect must be 'main' or 'interaction', not {effect!r}")
    y = np.asarray(y)
    s, a, b = y.shape[-3:]
    axes = (-3, -2, -1)
    g = y.mean(axis=axes, keepdims=True)
    m_s = y.mean(axis=(-2, -1), keepdims=True)
    m_a = y.mean(axis=(-3, -1), keepdims=True)
    m_b = y.mean(axis=(-3, -2), keepdims=True)
    m_sa = y.mean(axis=-1, keepdims=True)
    m_sb = y.mean(axis=-2, keepdims=True)
    m_ab = y.mean(axis=-3, keepdims=True)
    if effect == "main":
        ss = s * b * ((m_a - g) ** 2).sum(axis=axes)
        ss_err = b * ((m_sa - m_a - m_s + g) ** 2).sum(axis=axes)
        return (ss / (a - 1)) / (ss_err / ((a - 1) * (s - 1)))
    ss = s * ((m_ab - m_a - m_b + g) ** 2).sum(axis=axes)
    ss_err = ((y - m_sa - m_sb - m_ab + m_a + m_b + m_s - g) ** 2).sum(axis=axes)
    return (ss / ((a - 1) * (b - 1))) / (ss_err / ((a - 1) * (b - 1) * (s - 1)))


@dataclass(frozen=True)
class PermutationResult:
    F: float
    p: float
    n_permutations: int
    exact: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def n_unique_permutations(n_levels: int, n_blocks: int) -> int:
    """Label orders within each block are independent: (levels!)^(blocks)."""
    return math.factorial(n_levels) ** n_blocks


def permutation_test(data, dv: str, factor: str, subject: str, other: str | None = None, effect: str = "main",
                     n_permutations: int = MAX_EXACT, seed: int = 0, chunk: int = 2000) -> PermutationResult:
    """Permutation p-value of the `factor` effect ("main", or "interaction" with `other`); see module docstring."""
    y = cell_array(data, dv, subject, factor, other)
    two = other is not None
    if effect == "interaction" and not two:
        raise StatsError("the interaction needs a second factor (other=...)")
    f = (lambda arr: rm_F_two(arr, effect)) if two else rm_F_one
    # blocks: (subject[, other level]); the factor's labels are permuted within each block
    blocks = np.moveaxis(y, 1, -1).reshape(-1, y.shape[1])  # (n_blocks, a)
    n_blocks, a = blocks.shape
    f_obs = float(f(y))

    def arrays(orders: np.ndarray) -> np.ndarray:  # orders (P, n_blocks, a) → (P, *y.shape)
        permuted = np.take_along_axis(blocks[None], orders, axis=2)
        shaped = permuted.reshape(len(orders), *((y.shape[0], y.shape[2]) if two else (y.shape[0],)), a)
        return np.moveaxis(shaped, -1, 2)

    total = n_unique_permutations(a, n_blocks)
    exact = total < MAX_EXACT
    tol = 1e-9 * max(abs(f_obs), 1.0)
    n_below = 0
    if exact:
        perms = np.array(list(itertools.permutations(range(a))))
        combos = itertools.product(range(len(perms)), repeat=n_blocks)
        while batch := list(itertools.islice(combos, chunk)):
            fs = f(arrays(perms[np.array(batch)]))
            n_below += int((fs < f_obs - tol).sum())
        n = total
    else:
        rng = np.random.default_rng(seed)
        n = n_permutations
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            orders = np.argsort(rng.random((m, n_blocks, a)), axis=2)
            n_below += int((f(arrays(orders)) < f_obs - tol).sum())
    return PermutationResult(F=f_obs, p=1.0 - n_below / n, n_permutations=n, exact=exact)


# ---- tables in the seed's format --------------------------------------------------------------------------------

def format_F(e: Effect) -> str:
    value = f"{e.F:.1f}" if e.F >= 10 else f"{e.F:.2f}"
    return f"F({e.df1},{e.df2})={value}"


def format_p(p: float) -> str:
    return "p<0.0001" if p < 1e-4 else f"p={float(f'{p:.2g}'):g}"


def format_np2(x: float) -> str:
    return f"η²p = {x:.2f}" if x >= 0.1 else f"η²p = {float(f'{x:.2g}'):g}"


def table1(rows: dict[str, dict[str, Effect]]):
    """SI Table 1 layout: {model: observer_stage_anova(...)} → DataFrame of formatted cells."""
    import pandas as pd

    return pd.DataFrame([{
        "Model": name,
        "Main Effect: F-stat": format_F(r["main"]), "Main Effect: p-value": format_p(r["main"].p),
        "Main Effect: effect size": format_np2(r["main"].np2),
        "Interaction: F-stat": format_F(r["interaction"]), "Interaction: p-value": format_p(r["interaction"].p),
        "Interaction: effect size": format_np2(r["interaction"].np2),
    } for name, r in rows.items()])


def table2(rows: dict[tuple[str, str], Effect]):
    """SI Table 2 layout: {(Model 1, Model 2): model main effect} → DataFrame of formatted cells."""
    import pandas as pd

    return pd.DataFrame([{"Model 1": m1, "Model 2": m2, "F-stat": format_F(e), "p-value": format_p(e.p),
                          "effect size": format_np2(e.np2)} for (m1, m2), e in rows.items()])
