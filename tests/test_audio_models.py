"""CochCNN9 and CochResNet50: stage names, shapes and feature counts equal the seed's tables (SI Modeling Note 2),
every SI Table 4 variant is registered, the front/back parts compose to the model, and the study's checkpoint
layout converts onto the networks."""
import pytest
import torch

from metazoo_core.audio.network import convert_robustness_audio
from metazoo_core.models import build_network, load_model
from metazoo_core.plugins import registry
from metazoo_core.stages import stage_shapes

# (stage, output shape, number of features) as the seed's tables print them
SEED_COCHCNN9 = [
    ("cochleagram", (1, 211, 390), 82290), ("relu0", (96, 71, 130), 886080), ("relu1", (256, 18, 33), 152064),
    ("relu2", (512, 9, 17), 78336), ("relu3", (1024, 9, 17), 156672), ("relu4", (512, 9, 17), 78336),
    ("avgpool", (512, 5, 9), 23040), ("relu5", (4096,), 4096), ("final", (794,), 794)]
SEED_COCHRESNET50 = [
    ("cochleagram", (1, 211, 390), 82290), ("conv1_relu1", (64, 106, 195), 1322880),
    ("layer1", (256, 53, 98), 1329664), ("layer2", (512, 27, 49), 677376), ("layer3", (1024, 14, 25), 358400),
    ("layer4", (2048, 7, 13), 186368), ("avgpool", (2048, 1, 1), 2048), ("final", (794,), 794)]
# SI Table 4 rows: model id → top-1 (%)
SI_TABLE4 = {
    "cochcnn9": 66.672, "cochcnn9_waveform_l2_eps1": 48.091, "cochcnn9_random_waveform_l2_eps1": 65.710,
    "cochcnn9_waveform_linf_eps0p002": 60.440, "cochcnn9_random_waveform_linf_eps0p002": 66.283,
    "cochcnn9_cochleagram_l2_eps1": 48.002, "cochcnn9_cochleagram_l2_eps0p5": 57.198,
    "cochcnn9_random_cochleagram_l2_eps1": 66.706,
    "cochresnet50": 86.797, "cochresnet50_waveform_l2_eps0p5": 78.130, "cochresnet50_waveform_l2_eps1": 70.546,
    "cochresnet50_random_waveform_l2_eps1": 85.916, "cochresnet50_waveform_linf_eps0p002": 83.491,
    "cochresnet50_random_waveform_linf_eps0p002": 86.367, "cochresnet50_cochleagram_l2_eps1": 71.392,
    "cochresnet50_cochleagram_l2_eps0p5": 80.435, "cochresnet50_random_cochleagram_l2_eps1": 86.556}


@pytest.mark.parametrize("model_id,table", [("cochcnn9", SEED_COCHCNN9), ("cochresnet50", SEED_COCHRESNET50)])
def test_stage_table_matches_seed(model_id, table):
    model = load_model(model_id, pretrained=False, device="meta")
    spec = registry().get(model_id)
    assert [(s.name, tuple(s.shape), s.n_features) for s in spec.stages] == table
    shapes = stage_shapes(model)
    assert [(name, shapes[name]) for name, _, _ in table] == [(name, shape) for name, shape, _ in table]


def test_every_table4_variant_is_registered():
    reg = registry()
    for model_id, top1 in SI_TABLE4.items():
        spec = reg.get(model_id)
        assert spec.provenance.top1 == pytest.approx(top1) and spec.classifier == "words794"
        assert spec.input.sample_rate == 20000 and spec.input.shape == [40000]
    families = {s.family for s in reg.query(modality="audio")}
    assert {"cochcnn9", "cochresnet50", "spectemp"} <= families


def test_parts_compose_to_the_model():
    model = load_model("cochcnn9", pretrained=False)
    x = 0.1 * torch.randn(2, 40000)
    with torch.no_grad():
        out = model(x, ["cochleagram", "relu0", "final"])
        front = model.parts["front"](x)
        back = model.parts["back"](front)
    torch.testing.assert_close(front, out["cochleagram"])
    torch.testing.assert_close(back, out["final"])
    torch.testing.assert_close(out["relu0"], torch.relu(out["relu0"]))  # forward of the fake ReLU is a ReLU


def test_fake_relu_passes_gradient_below_zero():
    model = load_model("cochcnn9", pretrained=False)
    x = (0.1 * torch.randn(1, 40000)).requires_grad_(True)
    relu0 = model(x, ["relu0"])["relu0"]
    assert float((relu0 == 0).float().mean()) > 0.1  # some units are off …
    relu0.sum().backward()
    grad_fake = x.grad.clone()
    x.grad = None
    model.fake_relu = False
    model(x, ["relu0"])["relu0"].sum().backward()
    assert not torch.allclose(grad_fake, x.grad)  # … and still pass gradient under the fake ReLU (facts §3)


@pytest.mark.parametrize("model_id", ["cochcnn9", "cochresnet50"])
def test_study_checkpoint_layout_converts(model_id):
    network = build_network(registry().get(model_id))
    ours = {k: v.clone() for k, v in network.net.state_dict().items()}
    assert all(k.startswith("backbone.") for k in ours)  # the cochleagram holds no learned state
    study = {"module.model.0.full_rep.rep.Cochleagram.compute_subbands.coch_filters": torch.zeros(211, 20001, 2),
             "module.model.0.full_rep.rep.downsampling_op.downsample_filter": torch.zeros(1, 1, 1001),
             "module.preproc.normalize.new_mean": torch.zeros(1, 1, 1),
             "module.attacker.preproc.normalize.new_std": torch.ones(1, 1, 1)}
    for key, value in ours.items():
        study["module.model.1." + key.removeprefix("backbone.")] = value + 1
        study["module.attacker.model.1." + key.removeprefix("backbone.")] = value
    converted = convert_robustness_audio(study)
    assert set(converted) == set(ours)
    network.net.load_state_dict(converted, strict=True)
    key = next(k for k, v in ours.items() if v.is_floating_point())
    torch.testing.assert_close(network.net.state_dict()[key], ours[key] + 1)  # the model copy, not the attacker's


# index → word of the study's label map `word_idx_to_word`, read from robustness/audio_functions/
# word_and_speaker_encodings_jsinv3.pckl of jenellefeather/model_metamers_pytorch at commit
# f89cdad5c355081f97886863ed901fc9b34bce21 (index 0 is '__nullSignal__' there, '(null)' here)
STUDY_WORD_INDEX = {1: "ability", 2: "about", 3: "above", 50: "approximately", 100: "business", 200: "development",
                    250: "except", 300: "going", 380: "latin", 400: "local", 500: "period", 600: "reports",
                    700: "summer", 792: "yesterday", 793: "young"}


def test_audio_output_order_is_the_study_label_map():
    from metazoo_core.humans.design import word_answer
    from metazoo_core.labels import audio_output_names

    names = audio_output_names(794)
    assert len(names) == 794 and names[0] == "(null)"
    assert {i: names[i] for i in STUDY_WORD_INDEX} == STUDY_WORD_INDEX  # a shift by one moves every pair
    assert {i: word_answer(str(i)) for i in STUDY_WORD_INDEX} == STUDY_WORD_INDEX  # the experiment's answer key
    assert names[1:] == sorted(names[1:]) and len(set(names)) == 794
    assert audio_output_names(793) is None and audio_output_names(795) is None


# -- generation at weights-free stages, offline with an empty cache (issue 26) ----------------------------------------
@pytest.mark.parametrize("model_id,stage", [("cochcnn9", "cochleagram"), ("spectemp", "average")])
def test_generate_at_weights_free_stages_runs_offline(cli, tmp_path, model_id, stage):
    import json

    cache, hf = tmp_path / "cache", tmp_path / "hf"
    cache.mkdir()
    hf.mkdir()
    env = {"METAZOO_CACHE": str(cache), "HF_HOME": str(hf), "HF_HUB_OFFLINE": "1"}
    r = cli("generate", model_id, "builtin:apple", "--stage", stage, "--iterations", "1", "--blocks", "1",
            "--workers", "1", "--out", str(tmp_path / "run"), env=env)
    assert r.returncode == 0, r.stderr
    assert f"stage(s) {stage} of '{model_id}' use no learned weights" in r.stderr
    assert "the model's decision are skipped" in r.stderr
    record = json.loads(next((tmp_path / "run").rglob("record.json")).read_text())
    spec = registry().get(model_id)
    free = ["input_after_preproc", *[s.name for s in spec.stages if not s.needs_weights]]
    assert list(record["measures"]) == free and stage in free
    assert record["prediction"]["rule"] is None and record["weights_sha256"] is None
    assert record["random_weights"] is False
    assert not any(p.is_file() for p in [*cache.rglob("*"), *hf.rglob("*")])  # nothing downloaded
    r = cli("generate", model_id, "builtin:apple", "--stage", stage, "--stage", spec.stage_names[-1],
            "--iterations", "1", "--blocks", "1", "--workers", "1", "--out", str(tmp_path / "run2"), env=env)
    assert r.returncode != 0 and "Traceback" not in r.stderr and "weights" in r.stderr  # a learned stage needs them


def test_meaningful_stages_are_the_weights_free_ones_only_without_the_checkpoint():
    spec = registry().get("cochcnn9")
    skipped = load_model(spec, stages=["cochleagram"])
    random = load_model(spec, pretrained=False)
    assert skipped.checkpoint_skipped and not random.checkpoint_skipped
    assert skipped.meaningful_stages() == ["input_after_preproc", "cochleagram"]
    assert random.meaningful_stages() == ["input_after_preproc", *spec.stage_names]
    x = torch.randn(1, *spec.input.shape) * 0.01
    torch.testing.assert_close(skipped(x, ["cochleagram"])["cochleagram"], random(x, ["cochleagram"])["cochleagram"],
                               rtol=0, atol=0)
