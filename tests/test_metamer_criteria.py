"""Acceptance criteria (facts §2): the measures against scipy, null distributions, and the pass/fail rule."""
from __future__ import annotations

import pytest
import scipy.stats
import torch

from metazoo_core.measures import average_ranks, pearson, snr_db, spearman
from metazoo_core.registry import MetamerDefaults

PHOTOS = ["chelsea", "coffee", "rocket", "astronaut"]


# -- measures ----------------------------------------------------------------------------------------------------
def test_spearman_matches_scipy_with_ties():
    g = torch.Generator().manual_seed(1)
    a = torch.relu(torch.randn(3, 500, generator=g))  # about half tied zeros, like a ReLU stage
    b = torch.relu(a + 0.5 * torch.randn(3, 500, generator=g))
    ours = spearman(a, b)
    for i in range(3):
        expected = scipy.stats.spearmanr(a[i].double().numpy(), b[i].double().numpy())[0]
        assert ours[i].item() == pytest.approx(expected, abs=1e-12)
    assert average_ranks(torch.tensor([[3.0, 1.0, 3.0, 2.0]])).tolist() == [[3.5, 1.0, 3.5, 2.0]]


def test_pearson_matches_scipy_and_snr_is_ten_log10_amplitude_ratio():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(2, 300, generator=g)
    b = a + torch.randn(2, 300, generator=g)
    for i in range(2):
        expected = scipy.stats.pearsonr(a[i].double().numpy(), b[i].double().numpy())[0]
        assert pearson(a, b)[i].item() == pytest.approx(expected, abs=1e-12)
    # ‖a‖ = 10‖a − b‖ → 10·log10(10) = 10 dB (amplitude ratio, factor 10: facts §2.1)
    x = torch.tensor([[3.0, 4.0]])
    assert snr_db(x, x - torch.tensor([[0.3, 0.4]])).item() == pytest.approx(10.0)
    assert snr_db(x, x).item() == float("inf")


def test_degenerate_inputs_follow_the_null_script():
    zeros, x = torch.zeros(1, 10), torch.arange(10.0)[None]
    assert spearman(zeros, x).item() == 0 and pearson(x, zeros).item() == 0 and snr_db(zeros, x).item() == 0


# -- null and acceptance -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model():
    from metazoo_core.models import load_model

    return load_model("efficientnet_lite0")


@pytest.fixture(scope="module")
def photos(model):
    from metazoo_core.inputs import load_input

    return [load_input(f"builtin:{n}", model.spec) for n in PHOTOS]


@pytest.fixture(scope="module")
def null(model, photos):
    from metazoo_core.metamer import build_null

    return build_null(model, photos, pairs=6, seed=3)


def test_null_is_built_from_different_augmented_photos_and_round_trips(model, photos, null, tmp_path):
    from metazoo_core.measures import all_measures
    from metazoo_core.metamer import NullDistribution, build_null

    assert null.pairs == 6 and null.stages[0] == "input_after_preproc" and null.stages[1:] == model.spec.stage_names
    assert all(i != j for i, j in null.params["pair_indices"])
    # augmentation makes pairs differ from the plain photos: the plain pair's measures are not in the null
    plain = build_null(model, photos, pairs=6, seed=3, augment=False)
    i, j = plain.params["pair_indices"][0]
    acts = model(torch.stack([photos[i].tensor, photos[j].tensor]), ["blocks_1"])["blocks_1"].reshape(2, -1)
    expected = all_measures(acts[:1], acts[1:])["snr_db"].item()
    assert plain.values["blocks_1"]["snr_db"][0].item() == pytest.approx(expected, abs=1e-9)
    assert not torch.equal(plain.values["blocks_1"]["snr_db"], null.values["blocks_1"]["snr_db"])
    # stored with model id, weights hash and parameters; reloads equal; deterministic per seed
    path = null.save(tmp_path / "n.safetensors")
    back = NullDistribution.load(path)
    assert back.model == "efficientnet_lite0" and back.weights_sha256 == model.weights_sha256
    assert back.params["pairs"] == 6 and back.params["seed"] == 3 and back.params["augment"] is True
    assert back.max("final") == null.max("final")
    again = build_null(model, photos, pairs=6, seed=3)
    assert torch.equal(again.values["final"]["spearman"], null.values["final"]["spearman"])
    assert all(-1 <= v <= 1 for k, v in null.max("blocks_3").items() if k != "snr_db")


def test_accepted_metamer_passes_and_underoptimised_fails(model, photos, null):
    from metazoo_core.metamer import generate_metamers

    good, bad = (generate_metamers(model, photos[:1], ["blocks_1"], iterations=n, blocks=2, null=null,
                                   out_dir=None)[0] for n in (40, 1))
    limit = null.max("blocks_1")
    for rec in (good, bad):  # the verdicts are exactly the rule "every measure ≥ the null's max, prediction matches"
        m = rec["measures"]["blocks_1"]
        assert rec["null"]["max"] == limit
        assert rec["criteria"] == {"spearman": m["spearman"] >= limit["spearman"],
                                   "pearson": m["pearson"] >= limit["pearson"],
                                   "snr_db": m["snr_db"] >= limit["snr_db"],
                                   "prediction_match": rec["prediction"]["original"] == rec["prediction"]["metamer"]}
        assert rec["passed"] == all(rec["criteria"].values())
        assert set(rec["measures"]) == {"input_after_preproc", *model.spec.stage_names}
    assert good["passed"] is True and good["prediction"] == {"original": "cat", "metamer": "cat", "match": True,
                                                             "rule": "16-way"}
    assert bad["passed"] is False and bad["final_loss"] > good["final_loss"]


def test_only_the_listed_criteria_gate_and_no_null_is_not_evaluated(model, photos, null):
    from metazoo_core.metamer.acceptance import assess, measure_stages

    x0 = photos[0].tensor[None]
    noisy = (x0 + 0.2 * torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    orig, met = measure_stages(model, x0), measure_stages(model, noisy)
    unjudged = assess(model, "blocks_1", orig, met, None)[0]
    assert unjudged["passed"] is None and unjudged["criteria"]["spearman"] is None
    snr_only = model.spec.model_copy(update={"metamer": MetamerDefaults(criteria=["snr"])})
    original_spec = model.spec
    try:
        model.spec = snr_only  # as HMAX: only the SNR criterion is listed
        v = assess(model, "blocks_1", orig, met, null)[0]
    finally:
        model.spec = original_spec
    assert v["criteria"]["spearman"] is None and v["criteria"]["pearson"] is None
    assert v["passed"] == (v["criteria"]["snr_db"] and v["criteria"]["prediction_match"])


def test_a_null_of_another_model_is_refused(model, null):
    from metazoo_core.metamer.null import NullDistribution, NullError

    other = NullDistribution(model="alexnet", weights_sha256=None, values=null.values)
    with pytest.raises(NullError, match="built for 'alexnet'"):
        other.check_model(model)
    random = NullDistribution(model=model.spec.id, weights_sha256=None, values=null.values)
    with pytest.raises(NullError, match="weights"):
        random.check_model(model)

