"""The study's statistics against independent computations: statsmodels AnovaRM, hand-computed sums of squares,
and permutation p-values that can be counted by hand."""
import itertools
import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.anova import AnovaRM

from metazoo_core.analysis import stats


def _two_way(seed=0, n_sub=8, a=2, b=4, effect=0.3):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_sub):
        subj = rng.normal(0, 0.1)
        for i in range(a):
            for j in range(b):
                y = 0.8 - 0.15 * j + effect * i * (j / b) + subj + rng.normal(0, 0.05)
                rows.append({"subject": f"s{s}", "model": f"m{i}", "stage": f"st{j}", "accuracy": y})
    return pd.DataFrame(rows)


def test_rm_anova_two_way_matches_statsmodels_anovarm():
    df = _two_way()
    ours = {e.source: e for e in stats.rm_anova(df, "accuracy", ["model", "stage"], "subject")}
    ref = AnovaRM(df, "accuracy", "subject", within=["model", "stage"]).fit().anova_table
    for src, ref_src in (("model", "model"), ("stage", "stage"), ("model * stage", "model:stage")):
        assert ours[src].F == pytest.approx(ref.loc[ref_src, "F Value"], rel=1e-9)
        assert ours[src].df1 == ref.loc[ref_src, "Num DF"] and ours[src].df2 == ref.loc[ref_src, "Den DF"]
        assert ours[src].p == pytest.approx(ref.loc[ref_src, "Pr > F"], rel=1e-6)


def test_rm_anova_one_way_matches_statsmodels_and_partial_eta():
    df = _two_way(seed=3).groupby(["subject", "stage"], as_index=False)["accuracy"].mean()
    (e,) = stats.rm_anova(df, "accuracy", "stage", "subject")
    ref = AnovaRM(df, "accuracy", "subject", within=["stage"]).fit().anova_table
    assert e.F == pytest.approx(ref.loc["stage", "F Value"], rel=1e-9)
    assert (e.df1, e.df2) == (3, 21)
    # partial eta squared from F and dfs: F·df1 / (F·df1 + df2)
    assert e.np2 == pytest.approx(e.F * e.df1 / (e.F * e.df1 + e.df2), rel=1e-9)


def test_model_comparison_is_si_table2_form():
    df = _two_way(n_sub=20)
    r = stats.model_comparison_anova(df, "accuracy", "model", "stage", "subject")
    ref = AnovaRM(df, "accuracy", "subject", within=["model", "stage"]).fit().anova_table
    assert (r["main"].df1, r["main"].df2) == (1, 19)  # the SI's F(1,19) for 20 participants
    assert r["main"].F == pytest.approx(ref.loc["model", "F Value"], rel=1e-9)
    assert r["interaction"].F == pytest.approx(ref.loc["model:stage", "F Value"], rel=1e-9)


def test_observer_stage_mixed_design_matches_hand_computation():
    """SI Table 1: observer between subjects (22 humans + 22 model observers → F(1,42)), stage within."""
    rng = np.random.default_rng(1)
    n, k = 22, 6
    rows = []
    for obs in ("human", "model"):
        for s in range(n):
            for j in range(k):
                mean = 0.9 - (0.12 * j if obs == "human" else 0.01 * j)
                rows.append({"subject": f"{obs}{s}", "observer": obs, "stage": j,
                             "accuracy": mean + rng.normal(0, 0.08)})
    df = pd.DataFrame(rows)
    r = stats.observer_stage_anova(df, "accuracy", "observer", "stage", "subject")
    y = df.pivot_table(index=["observer", "subject"], columns="stage", values="accuracy").to_numpy().reshape(2, n, k)
    g = y.mean()
    m_obs = y.mean(axis=(1, 2))
    m_sub = y.mean(axis=2)
    m_cell = y.mean(axis=1)
    m_stage = y.mean(axis=(0, 1))
    ss_obs = n * k * ((m_obs - g) ** 2).sum()
    ss_sub = k * ((m_sub - m_obs[:, None]) ** 2).sum()
    ss_int = n * ((m_cell - m_obs[:, None] - m_stage[None] + g) ** 2).sum()
    ss_err = ((y - m_sub[:, :, None] - m_cell[:, None, :] + m_obs[:, None, None]) ** 2).sum()
    f_main = (ss_obs / 1) / (ss_sub / (2 * n - 2))
    f_int = (ss_int / (k - 1)) / (ss_err / ((k - 1) * (2 * n - 2)))
    assert (r["main"].df1, r["main"].df2) == (1, 42)
    assert (r["interaction"].df1, r["interaction"].df2) == (5, 210)
    assert r["main"].F == pytest.approx(f_main, rel=1e-9)
    assert r["interaction"].F == pytest.approx(f_int, rel=1e-9)
    assert r["main"].np2 == pytest.approx(ss_obs / (ss_obs + ss_sub), rel=1e-9)


def test_fast_F_equals_anovarm_for_main_and_interaction():
    df = _two_way(seed=5, n_sub=6, a=3, b=3)
    y = stats.cell_array(df, "accuracy", "subject", "model", "stage")
    ref = AnovaRM(df, "accuracy", "subject", within=["model", "stage"]).fit().anova_table
    assert stats.rm_F_two(y, "main") == pytest.approx(ref.loc["model", "F Value"], rel=1e-9)
    assert stats.rm_F_two(y, "interaction") == pytest.approx(ref.loc["model:stage", "F Value"], rel=1e-9)


def test_permutation_exact_p_by_hand():
    """2 conditions × 3 subjects: 2³ = 8 label orders. Every subject has A > B, so only the observed labelling
    and the fully swapped one (same F, F is sign-blind) reach the observed F: p = 2/8."""
    df = pd.DataFrame({"subject": [0, 0, 1, 1, 2, 2], "cond": ["A", "B"] * 3,
                       "y": [1.0, 0.0, 0.9, 0.2, 0.8, 0.1]})
    r = stats.permutation_test(df, "y", "cond", "subject")
    assert r.exact and r.n_permutations == 8
    assert r.p == pytest.approx(2 / 8)
    # brute force over the 8 flips with the paired-t² identity (one-way rm F with 2 levels = t²)
    d = np.array([1.0, 0.7, 0.7])
    t2 = lambda v: (v.mean() / (v.std(ddof=1) / math.sqrt(len(v)))) ** 2  # noqa: E731
    flips = [np.array(f) for f in itertools.product([1, -1], repeat=3)]
    assert r.F == pytest.approx(t2(d))
    assert r.p == pytest.approx(np.mean([t2(d * f) >= t2(d) - 1e-12 for f in flips]))


def test_permutation_exact_three_levels_counts_all_orders():
    """3 levels × 2 subjects: (3!)² = 36 orders; a strictly ordered effect in both subjects is beaten by none but
    the orders applying the same relabelling to both subjects that keep the level means' spread (6 of 36)."""
    df = pd.DataFrame({"subject": [0] * 3 + [1] * 3, "cond": ["a", "b", "c"] * 2,
                       "y": [0.0, 1.0, 2.0, 0.1, 1.3, 1.9]})
    r = stats.permutation_test(df, "y", "cond", "subject")
    assert r.exact and r.n_permutations == 36
    assert r.p == pytest.approx(6 / 36)


def test_permutation_random_when_too_many_and_detects_effect():
    df = _two_way(seed=2, n_sub=16, a=2, b=4, effect=0.6)
    r = stats.permutation_test(df, "accuracy", "model", "subject", other="stage", n_permutations=2000, seed=0)
    assert not r.exact and r.n_permutations == 2000
    assert r.p < 0.01
    null = _two_way(seed=2, n_sub=16, a=2, b=4, effect=0.0)
    assert stats.permutation_test(null, "accuracy", "model", "subject", other="stage",
                                  n_permutations=2000).p > 0.05


def test_unbalanced_design_is_a_clear_error():
    df = _two_way(n_sub=3).iloc[1:]
    with pytest.raises(stats.StatsError, match="unbalanced"):
        stats.permutation_test(df, "accuracy", "model", "subject", other="stage")


def test_tables_use_the_seed_format():
    e = stats.Effect("model", F=792.34, df1=1, df2=19, p=1e-12, np2=0.977)
    small = stats.Effect("model", F=9.771, df1=1, df2=19, p=0.00671, np2=0.0149)
    t = stats.table2({("ResNet50 L2", "ResNet50"): e, ("a", "b"): small})
    assert list(t.iloc[0, 2:]) == ["F(1,19)=792.3", "p<0.0001", "η²p = 0.98"]
    assert list(t.iloc[1, 2:]) == ["F(1,19)=9.77", "p=0.0067", "η²p = 0.015"]
    t1 = stats.table1({"CORnet-S": {"main": e, "interaction": small}})
    assert t1.loc[0, "Interaction: F-stat"] == "F(1,19)=9.77"
