"""The offline replication (issue 10): its building blocks against independent numbers, and the CI-sized run of
`metazoo replicate mini --ci` end to end (pipeline, files and table shapes — not the effect sizes)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest


# ---- bootstrap -----------------------------------------------------------------------------------------------
def test_mean_ci_matches_the_normal_approximation_for_proportions():
    from metazoo_core.replication.bootstrap import mean_ci

    x = [1.0] * 60 + [0.0] * 40  # p = 0.6, n = 100
    c = mean_ci(x, n_boot=4000)
    half = 1.96 * math.sqrt(0.6 * 0.4 / 100)  # 0.096
    assert c["mean"] == pytest.approx(0.6)
    assert c["n"] == 100
    assert c["lo"] == pytest.approx(0.6 - half, abs=0.02)
    assert c["hi"] == pytest.approx(0.6 + half, abs=0.02)


def test_mean_ci_of_nothing_is_nan_and_of_a_constant_is_a_point():
    from metazoo_core.replication.bootstrap import mean_ci

    assert mean_ci([])["n"] == 0 and math.isnan(mean_ci([])["mean"])
    c = mean_ci([1.0] * 8)
    assert (c["lo"], c["mean"], c["hi"]) == (1.0, 1.0, 1.0)


def test_difference_ci_sign_and_one_sided_p():
    from metazoo_core.replication.bootstrap import difference_ci

    high, low = [1.0] * 18 + [0.0] * 2, [1.0] * 4 + [0.0] * 16
    d = difference_ci(high, low)
    assert d["diff"] == pytest.approx(0.9 - 0.2)
    assert 0 < d["lo"] < d["diff"] < d["hi"]
    assert d["p_le_0"] < 0.001
    assert difference_ci(low, high)["p_le_0"] > 0.999


# ---- Experiment B's data and network -------------------------------------------------------------------------
def test_digits_split_is_disjoint_balanced_and_keeps_intensity():
    from sklearn.datasets import load_digits

    from metazoo_core.replication.digits import load_digits_split, metamer_inputs

    train, held = load_digits_split(test_per_class=5)
    assert len(train) + len(held) == 1797
    assert tuple(held.x.shape[1:]) == (1, 16, 16) and tuple(train.x.shape[1:]) == (1, 16, 16)
    assert float(train.x.min()) >= 0.0 and float(train.x.max()) <= 1.0
    assert np.bincount(held.y.numpy(), minlength=10).tolist() == [5] * 10
    assert not set(train.names) & set(held.names)
    # upsampling 8×8 → 16×16 preserves each digit's mean intensity (independent computation from the raw file)
    raw = load_digits().images / 16.0
    index = int(held.names[0][5:9])
    assert float(held.x[0].mean()) == pytest.approx(float(raw[index].mean()), abs=0.02)
    assert held.y[0] == int(load_digits().target[index])
    inputs = metamer_inputs(held, per_class=2)
    assert len(inputs) == 20
    assert [int(x.name.rsplit("_", 1)[1]) for x in inputs] == [c for c in range(10) for _ in range(2)]


def test_digit_network_stage_shapes_match_its_spec_and_relu_stages_are_nonnegative():
    import torch

    from metazoo_core.replication.digitnet import STAGES, digit_model
    from metazoo_core.stages import stage_shapes

    torch.manual_seed(0)
    model = digit_model("digits_test")
    shapes = stage_shapes(model)
    assert shapes == {s.name: tuple(s.shape) for s in model.spec.stages}
    assert list(shapes) == STAGES
    x = torch.rand(3, 1, 16, 16, requires_grad=True)
    acts = model(x, STAGES)
    assert all(float(acts[s].detach().min()) >= 0 for s in STAGES if s != "final")
    # fake ReLU: the gradient of the stage sum reaches the input even through units that are off
    acts["relu0"].sum().backward()
    assert float(x.grad.abs().sum()) > 0


def test_pixel_observers_recognise_held_out_digits_and_skip_nothing_of_their_own():
    import torch

    from metazoo_core.replication.digits import load_digits_split
    from metazoo_core.replication.experiment_b import PIXEL_OBSERVERS, pixel_observers

    train, held = load_digits_split(test_per_class=20)
    observers = pixel_observers(train)
    assert list(observers) == list(PIXEL_OBSERVERS)
    for name, decide in observers.items():
        accuracy = float((torch.tensor(decide(held.x)) == held.y).float().mean())
        assert accuracy >= 0.8, name  # chance is 0.1; pixels flattened in the wrong order would fail
        assert decide(held.x[:1] * 0 + 0.5) in ([c] for c in range(10))


def test_anova_rows_leave_out_stages_without_both_conditions_and_state_the_direction():
    import pandas as pd

    from metazoo_core.analysis.stats import rm_F_two
    from metazoo_core.replication.experiment_b import anova_rows
    from metazoo_core.replication.plan import PlanB

    rng = np.random.default_rng(0)
    rows = []
    for subject in range(6):
        for stage in ("relu0", "relu1", "relu2", "fc0_relu", "final"):
            for kind, base in (("adversarial", 0.8), ("standard", 0.4), ("random", 0.45)):
                if kind == "standard" and stage == "final":
                    continue  # no accepted standard metamers at the final stage
                rows.append({"subject": f"m{subject}", "model": kind, "stage": stage,
                             "accuracy": base + 0.05 * rng.standard_normal()})
    table = pd.DataFrame(rows)
    out = anova_rows(table, PlanB())
    vs_std, vs_rand = out["adversarial_vs_standard"], out["adversarial_vs_random"]
    assert vs_std["stages_left_out"] == ["final"] and vs_rand["stages_left_out"] == []
    assert vs_std["direction"] == "adversarial > standard"
    assert (vs_std["main"]["df1"], vs_std["main"]["df2"]) == (1, 5)
    # independent F from the balanced cell array (subjects × type × stage)
    sub = table[table["model"].isin(["adversarial", "standard"]) & (table["stage"] != "final")]
    y = sub.sort_values(["subject", "model", "stage"])["accuracy"].to_numpy().reshape(6, 2, 4)
    assert vs_std["main"]["F"] == pytest.approx(float(rm_F_two(y, "main")), rel=1e-6)


def test_replicate_rejects_a_bad_only_option_with_one_line(cli, tmp_path):
    r = cli("replicate", "mini", "--only", "c", "--out", str(tmp_path))
    assert r.returncode != 0
    assert r.stderr.strip().splitlines()[-1].startswith("error: --only must be a, b or ab")
    assert "Traceback" not in r.stderr


# ---- the CI-sized run end to end -----------------------------------------------------------------------------
@pytest.mark.slow
def test_replicate_mini_ci_runs_end_to_end(cli, tmp_path):
    from metazoo_core.replication.plan import CI

    out, work = tmp_path / "out", tmp_path / "work"
    r = cli("replicate", "mini", "--ci", "--out", str(out), "--work", str(work))
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    assert res["schema"] == "metazoo.replication/1" and res["plan"] == "ci"
    for fig in ("fig_a_recognition.png", "fig_a_metamers.png", "fig_b_recognition.png", "fig_b_metamers.png"):
        assert (out / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "results.md").read_text()
    assert "Experiment A" in md and "Experiment B" in md and "SI Table 2" in md

    a, pa = res["experiment_a"], CI.a
    assert len(a["metamers"]) == len(pa.models) * len(pa.images) * len(pa.stages)
    rows = {(t["generator"], t["stage"]) for t in a["table"]}
    assert rows == {(m, s) for m in pa.models for s in ["natural", *pa.stages.values()]}
    for t in a["table"]:
        if t["stage"] != "natural":
            assert 0 <= t["accepted"] <= t["generated"] == len(pa.images)
        for key in ("self", "others"):
            c = t[key]
            assert c["n"] == 0 or 0 <= c["lo"] <= c["mean"] <= c["hi"] <= 1
    assert a["failed_recognisers"] == []
    # every accepted metamer passed all three measures at its stage against its own null's maximum
    for m in a["metamers"]:
        if m["passed"]:
            assert all(m["measures"][k] >= m["null_max"][k] for k in ("spearman", "pearson", "snr_db"))

    b, pb = res["experiment_b"], CI.b
    assert len(b["training"]) == len(pb.kinds) * len(pb.seeds)
    n_inputs = 10 * pb.metamer_per_class
    assert len(b["metamers"]) == len(b["training"]) * n_inputs * len(b["stages"])
    for m in b["metamers"]:
        assert m["accepted"] == (bool(m["passed_measures"]) and m["prediction_match"])
    for curve in b["curves"].values():
        assert [c["stage"] for c in curve] == ["natural", *b["stages"]]
    n_models = len(b["training"])
    for row in b["anova"].values():
        if "main" in row:
            assert row["main"]["df1"] == 1 and row["main"]["df2"] == row["n_subjects"] - 1
            assert row["n_subjects"] == n_models
            assert 0 <= row["main"]["p"] <= 1 and 0 <= row["permutation"]["p"] <= 1
    pixels = b["pixel_observers"]
    assert len(pixels["observers"]) == 6
    for row in pixels["anova"].values():
        if "main" in row:
            assert (row["main"]["df1"], row["main"]["df2"]) == (1, 5)
    assert (work / "b" / "models" / "digits_adversarial_s0" / "weights.safetensors").is_file()
