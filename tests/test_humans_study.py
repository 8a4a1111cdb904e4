"""`metazoo humans study`: the shipped per-participant data reproduce the study's SI Tables 1 and 2 (F, dfs, η²p to
the printed precision) and the study's own MATLAB output for vision experiment 1 (F to four decimals)."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from metazoo_core.humans import study
from metazoo_core.humans.anova import model_comparison, observer_stage

# SI Table 1, as printed: (experiment, model file name, main "F(df1,df2)=F", main η²p, interaction, interaction η²p)
TABLE1 = [
    ("vision-exp1", "cornet_s", "F(1,42)=424.4", "0.91", "F(5,210)=293.6", "0.87"),
    ("vision-exp1", "vgg_19", "F(1,42)=1612.1", "0.97", "F(9,378)=268.4", "0.86"),
    ("vision-exp1", "resnet50", "F(1,42)=554.9", "0.93", "F(7,294)=290.2", "0.87"),
    ("vision-exp1", "resnet101", "F(1,42)=1001.7", "0.96", "F(7,294)=345.8", "0.89"),
    ("vision-exp1", "alexnet", "F(1,42)=935.4", "0.96", "F(8,336)=195.0", "0.82"),
    ("vision-exp12", "CLIP_resnet50", "F(1,40)=517.3", "0.93", "F(6,240)=181.2", "0.82"),
    ("vision-exp12", "CLIP_ViT-B_32", "F(1,40)=604.5", "0.94", "F(9,360)=110.5", "0.73"),
    ("vision-exp12", "SWSL_resnet50", "F(1,40)=1159.3", "0.97", "F(7,280)=164.7", "0.80"),
    ("vision-exp12", "SWSL_resnext101_32x8d", "F(1,40)=2363.1", "0.98", "F(7,280)=225.9", "0.85"),
    ("vision-exp12", "vision_transformer_vit_large_patch16_224", "F(1,40)=852.01", "0.96", "F(8,320)=158.9", "0.80"),
    ("audio-exp1", "kell2018", "F(1,38)=551.9", "0.94", "F(9,342)=189.2", "0.83"),
    ("audio-exp1", "cochresnet50", "F(1,38)=467.8", "0.92", "F(8,304)=227.4", "0.86"),
]

# SI Table 2, as printed: (experiment, Model 1, Model 2, "F(1,19)=F", η²p). Two pairs of rows carry each other's
# values in the SI: the study's own per-comparison outputs (STATS-*/…-ANOVA_HUMAN_RESULTS.txt: "MODELS_INCLUDED_IN_
# ANOVA: resnet50, resnet50_l2_3_robust … F(model) main effect: 242.2178") give the pairs below, whose F values are
# exactly the SI's; the SI prints 792.3 against "ResNet50 Standard" and 242.2 against "random L2" (and likewise
# 145.1/127.4 for CochResNet50 cochleagram L2 ε=1). Also the SI's "CochCNN9 cochleagram … vs CochResNet50 Standard"
# rows are CochCNN9 (kell2018) standard — the only standard model of that experiment.
TABLE2 = [
    ("vision-exp3", "resnet50_l2_3_robust", "resnet50_random_l2_perturb", "F(1,19)=792.3", "0.98"),
    ("vision-exp3", "resnet50_l2_3_robust", "resnet50", "F(1,19)=242.2", "0.93"),
    ("vision-exp3", "resnet50_linf_8_robust", "resnet50", "F(1,19)=315.3", "0.94"),
    ("vision-exp3", "resnet50_linf_8_robust", "resnet50_random_linf8_perturb", "F(1,19)=176.3", "0.90"),
    ("vision-exp3", "resnet50_linf_4_robust", "resnet50", "F(1,19)=403.0", "0.95"),
    ("vision-exp4", "alexnet_l2_3_robust", "alexnet", "F(1,19)=518.6", "0.96"),
    ("vision-exp4", "alexnet_l2_3_robust", "alexnet_random_l2_3_perturb", "F(1,19)=623.0", "0.97"),
    ("vision-exp4", "alexnet_linf_8_robust", "alexnet", "F(1,19)=104.6", "0.85"),
    ("vision-exp4", "alexnet_linf_8_robust", "alexnet_random_linf8_perturb", "F(1,19)=121.4", "0.86"),
    ("audio-exp4", "kell2018_l2_1_robust_waveform", "kell2018", "F(1,19)=210.3", "0.92"),
    ("audio-exp4", "kell2018_l2_1_robust_waveform", "kell2018_l2_1_random_step_waveform", "F(1,19)=107.3", "0.85"),
    ("audio-exp4", "kell2018_linf_p002_robust_waveform", "kell2018", "F(1,19)=133.4", "0.88"),
    ("audio-exp4", "kell2018_linf_p002_robust_waveform", "kell2018_linf_p002_random_step_waveform",
     "F(1,19)=114.6", "0.86"),
    ("audio-exp3", "cochresnet50_l2_p5_robust_waveform", "cochresnet50", "F(1,19)=9.77", "0.34"),
    ("audio-exp3", "cochresnet50_l2_1_robust_waveform", "cochresnet50", "F(1,19)=0.29", "0.015"),
    ("audio-exp3", "cochresnet50_l2_1_robust_waveform", "cochresnet50_l2_1_random_step_waveform", "F(1,19)=8.6",
     "0.31"),
    ("audio-exp3", "cochresnet50_linf_p002_robust_waveform", "cochresnet50_linf_p002_random_step_waveform",
     "F(1,19)=4.8", "0.20"),
    ("audio-exp3", "cochresnet50_linf_p002_robust_waveform", "cochresnet50", "F(1,19)=9.26", "0.33"),
    ("audio-exp8", "kell2018_l2_p5_robust_cochleagram", "kell2018", "F(1,19)=166.3", "0.90"),
    ("audio-exp8", "kell2018_l2_1_robust_cochleagram", "kell2018", "F(1,19)=145.2", "0.88"),
    ("audio-exp8", "kell2018_l2_1_robust_cochleagram", "kell2018_l2_1_random_step_cochleagram", "F(1,19)=157.2",
     "0.89"),
    ("audio-exp8", "kell2018_l2_1_robust_cochleagram", "kell2018_l2_1_robust_waveform", "F(1,19)=12.6", "0.40"),
    ("audio-exp7", "cochresnet50_l2_p5_robust_cochleagram", "cochresnet50", "F(1,19)=102.2", "0.84"),
    ("audio-exp7", "cochresnet50_l2_1_robust_cochleagram", "cochresnet50_l2_1_random_step_cochleagram",
     "F(1,19)=145.1", "0.88"),
    ("audio-exp7", "cochresnet50_l2_1_robust_cochleagram", "cochresnet50", "F(1,19)=127.4", "0.87"),
    ("audio-exp7", "cochresnet50_l2_1_robust_cochleagram", "cochresnet50_l2_1_robust_waveform", "F(1,19)=66.6",
     "0.78"),
]

# The study's MATLAB output for vision experiment 1 (17-Mar-2022-EXP1_ANALYSIS_ANOVA_NETWORK_HUMAN_RESULTS.txt):
# "F(observer) main effect" and "F(stage, observer) interaction", four decimals.
EXP1_MATLAB = {"cornet_s": (424.3749, 293.6448), "vgg_19": (1612.0788, 268.376), "resnet50": (554.9194, 290.2059),
               "resnet101": (1001.7123, 345.8264), "alexnet": (935.4408, 195.0267)}


def _matches(effect: dict, printed: str, np2: str) -> None:
    df1, df2, value = re.fullmatch(r"F\((\d+),(\d+)\)=([\d.]+)", printed).groups()
    decimals = len(value.split(".")[1]) if "." in value else 0
    assert (effect["df1"], effect["df2"]) == (int(df1), int(df2)), printed
    shown = {f"{effect['F']:.{decimals}f}", f"{int(effect['F'] * 10 ** decimals) / 10 ** decimals:.{decimals}f}"}
    assert value in shown, (printed, effect["F"])  # rounded, or truncated (SI Table 2 prints 133.4679 as 133.4)
    assert f"{effect['np2']:.{len(np2.split('.')[1])}f}" == np2, (printed, np2, effect["np2"])


@pytest.fixture(scope="module")
def analysed() -> dict[str, dict]:
    return {e: study.analyse(e) for e in {row[0] for row in TABLE1 + TABLE2}}


@pytest.mark.parametrize("row", TABLE1, ids=[r[1] for r in TABLE1])
def test_si_table1_every_row(analysed, row):
    experiment, model, main, main_np2, inter, inter_np2 = row
    found = {m["model"]: m for m in analysed[experiment]["models"]}[model]
    _matches(found["observer_stage"]["main"], main, main_np2)
    _matches(found["observer_stage"]["interaction"], inter, inter_np2)


def test_si_table2_every_row(analysed):
    assert sum(len(study.COMPARISONS[e]) for e in study.COMPARISONS) == len(TABLE2) == 26
    for experiment, m1, m2, printed, np2 in TABLE2:
        rows = {(c["model_1"], c["model_2"]): c for c in analysed[experiment]["comparisons"]}
        _matches(rows[(m1, m2)]["main"], printed, np2)


# The study's per-comparison outputs (STATS-*/…-ANOVA_HUMAN_RESULTS.txt, "F(model) main effect"), as printed.
STUDY_OUTPUT_F = {
    ("resnet50_l2_3_robust", "resnet50_random_l2_perturb"): "792.2959",
    ("resnet50_l2_3_robust", "resnet50"): "242.2178",
    ("resnet50_linf_8_robust", "resnet50"): "315.3031",
    ("resnet50_linf_8_robust", "resnet50_random_linf8_perturb"): "176.2995",
    ("resnet50_linf_4_robust", "resnet50"): "403.0333", ("alexnet_l2_3_robust", "alexnet"): "518.6343",
    ("alexnet_l2_3_robust", "alexnet_random_l2_3_perturb"): "622.9658",
    ("alexnet_linf_8_robust", "alexnet"): "104.6059",
    ("alexnet_linf_8_robust", "alexnet_random_linf8_perturb"): "121.3817",
    ("kell2018_l2_1_robust_waveform", "kell2018"): "210.2766",
    ("kell2018_l2_1_robust_waveform", "kell2018_l2_1_random_step_waveform"): "107.3328",
    ("kell2018_linf_p002_robust_waveform", "kell2018"): "133.4679",
    ("kell2018_linf_p002_robust_waveform", "kell2018_linf_p002_random_step_waveform"): "114.5677",
    ("cochresnet50_l2_p5_robust_waveform", "cochresnet50"): "9.7695",
    ("cochresnet50_l2_1_robust_waveform", "cochresnet50"): "0.29233",
    ("cochresnet50_l2_1_robust_waveform", "cochresnet50_l2_1_random_step_waveform"): "8.5516",
    ("cochresnet50_linf_p002_robust_waveform", "cochresnet50_linf_p002_random_step_waveform"): "4.7594",
    ("cochresnet50_linf_p002_robust_waveform", "cochresnet50"): "9.2561",
    ("kell2018_l2_p5_robust_cochleagram", "kell2018"): "166.3199",
    ("kell2018_l2_1_robust_cochleagram", "kell2018"): "145.2391",
    ("kell2018_l2_1_robust_cochleagram", "kell2018_l2_1_random_step_cochleagram"): "157.239",
    ("kell2018_l2_1_robust_cochleagram", "kell2018_l2_1_robust_waveform"): "12.5602",
    ("cochresnet50_l2_p5_robust_cochleagram", "cochresnet50"): "102.2481",
    ("cochresnet50_l2_1_robust_cochleagram", "cochresnet50_l2_1_random_step_cochleagram"): "145.074",
    ("cochresnet50_l2_1_robust_cochleagram", "cochresnet50"): "127.4046",
    ("cochresnet50_l2_1_robust_cochleagram", "cochresnet50_l2_1_robust_waveform"): "66.6177",
}


def test_si_table2_pairs_match_the_study_outputs_to_their_printed_digits(analysed):
    assert len(STUDY_OUTPUT_F) == 26
    for experiment, m1, m2, _, _ in TABLE2:
        F = {(c["model_1"], c["model_2"]): c for c in analysed[experiment]["comparisons"]}[(m1, m2)]["main"]["F"]
        printed = STUDY_OUTPUT_F[(m1, m2)]
        assert f"{F:.{len(printed.split('.')[1])}f}" == printed, (m1, m2, F)


# SI Table 2's printed permutation p-values that are not at the floor (10,000 random permutations each).
TABLE2_P = {("audio-exp3", "cochresnet50_l2_p5_robust_waveform", "cochresnet50"): 0.0067,
            ("audio-exp3", "cochresnet50_l2_1_robust_waveform", "cochresnet50"): 0.59,
            ("audio-exp3", "cochresnet50_l2_1_robust_waveform", "cochresnet50_l2_1_random_step_waveform"): 0.0097,
            ("audio-exp3", "cochresnet50_linf_p002_robust_waveform",
             "cochresnet50_linf_p002_random_step_waveform"): 0.044,
            ("audio-exp3", "cochresnet50_linf_p002_robust_waveform", "cochresnet50"): 0.007,
            ("audio-exp8", "kell2018_l2_1_robust_cochleagram", "kell2018_l2_1_robust_waveform"): 0.0023}


def test_permutation_p_values_agree_with_si_table2():
    """The study's scheme (run_permutation_network_types.m); both sides are estimates from 10,000 random
    permutations, so they may differ by a few standard errors."""
    from metazoo_core.humans.anova import comparison_permutation_p

    for (experiment, m1, m2), printed in TABLE2_P.items():
        models = {m.model: m for m in study.load(experiment)}
        p = comparison_permutation_p(models[m1].human, models[m2].human, "main", 10_000, seed=1)
        se = (2 * printed * (1 - printed) / 10_000) ** 0.5
        assert abs(p - printed) < 4 * se + 0.0005, (m1, m2, p, printed)
    a, b = models["kell2018_l2_1_robust_cochleagram"], models["kell2018"]
    assert comparison_permutation_p(a.human, b.human, "interaction", 2000) == 1 / 2000  # the floor, as the study


def test_experiment1_f_values_to_four_decimals(analysed):
    models = {m["model"]: m["observer_stage"] for m in analysed["vision-exp1"]["models"]}
    for model, (main, inter) in EXP1_MATLAB.items():
        assert round(models[model]["main"]["F"], 4) == pytest.approx(main, abs=1e-9)
        assert round(models[model]["interaction"]["F"], 4) == pytest.approx(inter, abs=1e-9)


def test_interaction_of_a_comparison_matches_the_study_output(analysed):
    """EXPERIMENT_8 …l2_1_adversarial_vs_standard_kell2018_cochleagram…: F(model, stage) interaction 18.9339,
    df 9 and 171, partial η² 0.49913."""
    c = {(r["model_1"], r["model_2"]): r for r in analysed["audio-exp8"]["comparisons"]}
    inter = c[("kell2018_l2_1_robust_cochleagram", "kell2018")]["interaction"]
    assert (inter["df1"], inter["df2"]) == (9, 171)
    assert round(inter["F"], 4) == 18.9339 and round(inter["np2"], 5) == 0.49913


def test_closed_form_equals_pingouin_on_the_study_data():
    """An independent computation: pingouin's mixed and repeated-measures ANOVAs via metazoo_core.analysis.stats."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pingouin")
    from metazoo_core.analysis.stats import model_comparison_anova, observer_stage_anova

    m = {x.model: x for x in study.load("vision-exp4")}
    a, b = m["alexnet_linf_8_robust"], m["alexnet"]
    s, k = a.human.shape
    rows = [{"subject": f"{obs}{i}", "observer": obs, "stage": j, "accuracy": arr[i, j]}
            for obs, arr in (("human", a.human), ("model", a.network)) for i in range(s) for j in range(k)]
    ref = observer_stage_anova(pd.DataFrame(rows))
    mine = observer_stage(a.human, a.network)
    rows = [{"subject": i, "model": name, "stage": j, "accuracy": arr[i, j]}
            for name, arr in (("m1", a.human), ("m2", b.human)) for i in range(s) for j in range(k)]
    ref2 = model_comparison_anova(pd.DataFrame(rows))
    mine2 = model_comparison(a.human, b.human)
    for got, want in ((mine, ref), (mine2, ref2)):
        for key in ("main", "interaction"):
            assert got[key].F == pytest.approx(want[key].F, rel=1e-9)
            assert got[key].np2 == pytest.approx(want[key].np2, rel=1e-9)
            assert got[key].p == pytest.approx(want[key].p, rel=1e-6, abs=1e-300)
            assert (got[key].df1, got[key].df2) == (want[key].df1, want[key].df2)


def test_means_and_sem_are_across_participants():
    m = {x.model: x for x in study.load("audio-exp6")}["spectemp_filters"]
    row = study.analyse("audio-exp6")["models"][0]
    assert row["participants"] == m.human.shape[0] == 20
    assert row["human"]["mean"] == pytest.approx(m.human.mean(axis=0).tolist())
    assert row["network"]["sem"] == pytest.approx((m.network.std(axis=0, ddof=1) / np.sqrt(20)).tolist())


def test_cli_json_structure_and_errors(tmp_path):
    from typer.testing import CliRunner

    from metazoo_cli.app import app

    def run(*args: str):
        return CliRunner().invoke(app, ["humans", "study", *args])

    res = run("vision-exp1", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data) == {"experiment", "models", "comparisons"} and data["experiment"] == "vision-exp1"
    m = data["models"][0]
    assert set(m) == {"model", "stages", "participants", "human", "network", "observer_stage"}
    assert set(m["human"]) == {"mean", "sem"} and len(m["human"]["mean"]) == len(m["stages"])
    assert set(m["observer_stage"]) == {"main", "interaction"}
    assert set(m["observer_stage"]["main"]) == {"F", "df1", "df2", "p", "np2"}
    c = json.loads(run("vision-exp3", "--json").stdout)["comparisons"][0]
    assert set(c) == {"model_1", "model_2", "main", "interaction"}
    listing = run()
    assert listing.exit_code == 0 and "audio-exp8" in listing.stdout and "vision-exp16" in listing.stdout
    table = run("audio-exp3", "--plot", str(tmp_path / "curves.png"))
    assert table.exit_code == 0 and "F(1,19)=9.77" in table.stdout
    from PIL import Image

    assert Image.open(tmp_path / "curves.png").size[0] > 500
    bad = subprocess.run([sys.executable, "-m", "metazoo_cli.app", "humans", "study", "vision-exp99"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


def test_shipped_data_carry_the_mit_notice():
    from importlib import resources

    folder = resources.files("metazoo_core.humans").joinpath("study_data")
    assert "MIT License" in folder.joinpath("LICENSE-model_metamers_pytorch.txt").read_text()
    assert "Jenelle Feather" in folder.joinpath("NOTICE.md").read_text()
