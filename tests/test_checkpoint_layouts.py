"""Checkpoints in each upstream key layout load strictly through metazoo's converters (docs/fidelity.md,
"Checkpoint sources").

Every test writes a synthetic checkpoint file in the exact layout its upstream saves (container dict, key
prefixes, the robustness library's attacker copy and normaliser buffers), loads it with
`load_model(MODEL, weights=FILE)` (safe loading → family converter → strict `load_state_dict`) and checks that
every learned tensor arrived. Keys dropped on the way are only those the study itself did not need, listed by
name below. test_converters.py covers further layouts (CORnet, Stylized-ImageNet, OpenSelfSup, IPCL,
fast_adversarial, open_clip) against the source networks' outputs.
"""
from __future__ import annotations

import pytest
import torch

from metazoo_core.errors import WeightsError
from metazoo_core.models import build_network, load_model
from metazoo_core.plugins import registry

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]

# What the study's loaders read but metazoo constructs or drops (the study tolerated or recomputed them):
STUDY_AUDIO_FRONT_END = ("model.0.full_rep.rep.Cochleagram.compute_subbands.coch_filters",
                         "model.0.full_rep.rep.downsampling_op.downsample_filter")
"""Cochleagram buffers of the study's audio checkpoints (constructed by metazoo; the study's remap in
spectemp_filters/build_network.py:44 names the first)."""


def _learned(model_id: str, seed: int) -> dict[str, torch.Tensor]:
    """The network's own state with distinct random values (what a trained checkpoint would carry)."""
    torch.manual_seed(seed)
    state = build_network(registry().get(model_id)).net.state_dict()
    return {k: (torch.randn_like(v) if v.is_floating_point() else v.clone()) for k, v in state.items()}


def _save(obj, path) -> str:
    torch.save(obj, path)
    return str(path)


def _assert_loaded(model, expected: dict[str, torch.Tensor]) -> None:
    got = model.net.state_dict()
    assert set(got) == set(expected)
    for k, v in expected.items():
        torch.testing.assert_close(got[k], v, rtol=0, atol=0, msg=k)


def _attacker_model(state: dict[str, torch.Tensor], normaliser: dict[str, list[float]], model_prefix: str = "model."):
    """robustness-library `AttackerModel` state under DataParallel: model, attacker copy, normaliser buffers."""
    out = {}
    for k, v in state.items():
        out[f"module.{model_prefix}{k}"] = v
        out[f"module.attacker.{model_prefix}{k}"] = torch.zeros_like(v) if v.is_floating_point() else v
    for key, values in normaliser.items():
        out["module." + key] = torch.tensor(values).reshape(-1, 1, 1)
    return out


MADRY_NORMALISER = {"normalizer.new_mean": IMAGENET_MEAN, "normalizer.new_std": IMAGENET_STD,
                    "attacker.normalize.new_mean": IMAGENET_MEAN, "attacker.normalize.new_std": IMAGENET_STD}
"""MadryLab/robustness names (remapped by the study's resnet50_*_robust/build_network.py:32-35)."""
STUDY_NORMALISER = {"preproc.normalize.new_mean": IMAGENET_MEAN, "preproc.normalize.new_std": IMAGENET_STD,
                    "attacker.preproc.normalize.new_mean": IMAGENET_MEAN,
                    "attacker.preproc.normalize.new_std": IMAGENET_STD}
"""The study's fork (`GraphPreprocessing.normalize`, robustness/attacker.py)."""


def test_madry_robustness_library_resnet50(tmp_path):
    """resnet50_{l2_3,linf_4,linf_8}_robust: {'model': AttackerModel state, 'optimizer', 'schedule', 'epoch'}."""
    learned = _learned("resnet50_l2_eps3", 0)
    ckpt = {"model": _attacker_model(learned, MADRY_NORMALISER), "optimizer": {}, "schedule": None, "epoch": 90}
    _assert_loaded(load_model("resnet50_l2_eps3", weights=_save(ckpt, tmp_path / "imagenet_l2_3_0.pt")), learned)


@pytest.mark.parametrize("model_id", ["resnet50_random_l2_eps3", "resnet50_simclr", "lowpass_alexnet", "vonealexnet"])
def test_study_fork_layout(model_id, tmp_path):
    """The study's own visual checkpoints (make_and_restore_model, strict): preproc.normalize.* normaliser.
    (The AlexNet variants' layout is checked against the source network's output in test_converters.py.)"""
    learned = _learned(model_id, 1)
    ckpt = {"model": _attacker_model(learned, STUDY_NORMALISER), "epoch": 120}
    spec = registry().get(model_id)
    _assert_loaded(load_model(model_id, weights=_save(ckpt, tmp_path / spec.weights.member)), learned)


@pytest.mark.parametrize("change", ["missing", "unexpected_in_model", "unknown_part"])
def test_robustness_layout_is_strict(change, tmp_path):
    """What the study's strict load would reject fails here too, with one line."""
    learned = _learned("rmt_resnet18_l2_eps3", 2)
    state = _attacker_model(learned, MADRY_NORMALISER)
    if change == "missing":
        del state["module.model.conv1.weight"]
    elif change == "unexpected_in_model":
        state["module.model.layer5.0.conv1.weight"] = torch.zeros(1)
    else:
        state["module.teacher.conv1.weight"] = torch.zeros(1)
    with pytest.raises(WeightsError) as err:
        load_model("rmt_resnet18_l2_eps3", weights=_save({"model": state}, tmp_path / "bad.ckpt"))
    assert "\n" not in str(err.value)


def test_swsl_release_file(tmp_path):
    """SWSL (semi_weakly_supervised_resnet50-16a12f1b.pth, the study's swsl_resnet50.pt): bare torchvision keys.

    The study wrapped them under module.model./module.attacker.model. and loaded with strict=False because the
    file carries no normaliser; metazoo loads the bare keys strictly (its normalisation comes from the registry).
    """
    learned = _learned("swsl_resnet50", 3)
    assert "fc.weight" in learned and "conv1.weight" in learned
    _assert_loaded(load_model("swsl_resnet50", weights=_save(learned, tmp_path / "swsl_resnet50.pt")), learned)


def test_dedeswim_xcit_plain_timm_state(tmp_path):
    """dedeswim/RobustBench XCiT: the training state's `model` entry saved as is (plain timm keys), raw pixels."""
    learned = _learned("xcit_s12_linf_eps4", 4)
    assert "cls_token" in learned and "head.weight" in learned
    model = load_model("xcit_s12_linf_eps4", weights=_save(learned, tmp_path / "xcit-s12-ImageNet-eps-4.pth.tar"))
    _assert_loaded(model, learned)
    assert model.spec.normalization is None


def test_dedeswim_embedded_normaliser(tmp_path):
    """A `--normalize-model` checkpoint (normalize.mean/std + model.*): checked against the registry, then dropped."""
    learned = _learned("gelu_resnet50_linf_eps4", 5)
    state = {f"model.{k}": v for k, v in learned.items()}
    state.update({"normalize.mean": torch.full((3,), 0.5), "normalize.std": torch.full((3,), 0.5)})
    model = load_model("gelu_resnet50_linf_eps4", weights=_save(state, tmp_path / "gelu.pth.tar"))
    _assert_loaded(model, learned)

    state["normalize.mean"] = torch.tensor(IMAGENET_MEAN)
    with pytest.raises(WeightsError, match="embeds input mean"):
        load_model("gelu_resnet50_linf_eps4", weights=_save(state, tmp_path / "gelu_imagenet.pth.tar"))


@pytest.mark.parametrize("model_id", ["cochresnet50", "cochresnet50_cochleagram_l2_eps1"])
def test_study_audio_layout(model_id, tmp_path):
    """The study's audio checkpoints: model.0 = cochleagram front end (buffers, listed in STUDY_AUDIO_FRONT_END),
    model.1 = the network. Waveform-trained ones were loaded strict=True, cochleagram-trained ones strict=False."""
    learned = _learned(model_id, 6)
    backbone = {k.removeprefix("backbone."): v for k, v in learned.items()}
    state = _attacker_model({f"1.{k}": v for k, v in backbone.items()},
                            {"preproc.normalize.new_mean": [0.0], "preproc.normalize.new_std": [1.0]})
    state.update({f"module.{k}": torch.zeros(3) for k in STUDY_AUDIO_FRONT_END})
    spec = registry().get(model_id)
    _assert_loaded(load_model(model_id, weights=_save({"model": state, "epoch": 150}, tmp_path / spec.weights.member)),
                   learned)


# ---- stages no learned weight reaches --------------------------------------------------------------------

def _study_spectemp_checkpoint(path, seed: int) -> str:
    g = torch.Generator().manual_seed(seed)
    w, b = torch.randn(794, 23421, generator=g) * 0.01, torch.randn(794, generator=g)
    return _save({"model": {"module.model.1.classification.weight": w, "module.model.1.classification.bias": b,
                            "module.attacker.model.1.classification.weight": torch.zeros(794, 23421)}}, path)


def test_weights_free_stages_equal_with_and_without_checkpoint(tmp_path):
    """Stages marked needs_weights: false give the same output with or without a checkpoint; the first stage
    after them does not (so the marks are neither missing nor over-claimed). Spectemp's cochleagram is the
    front end every audio model shares."""
    wave = torch.randn(1, 40000, generator=torch.Generator().manual_seed(0)) * 0.1
    spectemp = registry().get("spectemp")
    free = [s.name for s in spectemp.stages if not s.needs_weights]
    assert free == ["cochleagram", "filtered_signal", "power", "average"]
    trained = load_model("spectemp", weights=_study_spectemp_checkpoint(tmp_path / "spectemp_model.pt", 0))
    bare = load_model("spectemp", pretrained=False)
    with torch.no_grad():
        a, b = trained(wave, [*free, "final"]), bare(wave, [*free, "final"])
    for s in free:
        torch.testing.assert_close(a[s], b[s], rtol=0, atol=0)
    assert not torch.allclose(a["final"], b["final"])


def test_hmax_s1_c1_equal_with_and_without_the_study_checkpoint(tmp_path):
    """hmax_linear_classification.pt carries the readout, the S2 patch set and S1 Gabor weights (here zeros):
    S1/C1 stay the constructed filters, so their outputs do not depend on the checkpoint; S2's patches do."""
    from metazoo_plugins.hmax import layout

    g = torch.Generator().manual_seed(9)
    state = {"module.model.fc.weight": torch.randn(1000, 3200, generator=g),
             "module.model.fc.bias": torch.randn(1000, generator=g)}
    for k, p in enumerate(layout.DEFAULT_PATCH_SIZES):  # the study's S2 conv weight: (4·400, 1, p, p)
        state[f"module.model.s2_units.{k}.conv.weight"] = torch.rand(1600, 1, p, p, generator=g)
        state[f"module.model.s1_units.{k}.gabor.weight"] = torch.zeros(4, 1, 7, 7)
    trained = load_model("hmax", weights=_save({"model": state}, tmp_path / "hmax_linear_classification.pt"))
    bare = load_model("hmax", pretrained=False)
    img = torch.rand(1, 1, 250, 250, generator=g) * 255
    with torch.no_grad():
        a, b = trained(img, ["s1", "c1"]), bare(img, ["s1", "c1"])
    for s in ("s1", "c1"):
        torch.testing.assert_close(a[s], b[s], rtol=0, atol=0)
    assert not torch.equal(trained.net.s2.patch_sets()[0], bare.net.s2.patch_sets()[0])


def test_every_audio_model_and_hmax_mark_their_fixed_front_end():
    for spec in registry().query(modality="audio"):
        assert not spec.stage("cochleagram").needs_weights, spec.id
        assert spec.stage("final").needs_weights, spec.id
    hmax = registry().get("hmax")
    assert [s.name for s in hmax.stages if not s.needs_weights] == ["s1", "c1"]
    assert all(s.needs_weights for s in registry().get("resnet50").stages)


def test_weights_free_stage_runs_offline_with_a_notice(cli, tmp_path):
    """`metazoo activations hmax IMG --stage c1` with no checkpoint and no network: runs, says why."""
    import numpy as np

    env = {"HF_HUB_OFFLINE": "1", "METAZOO_CACHE": str(tmp_path / "cache"),
           "METAZOO_WEIGHTS_CONFIG": str(tmp_path / "none.yaml")}
    r = cli("activations", "hmax", "builtin:camera", "--stage", "c1", "--out", str(tmp_path / "act"), env=env)
    assert r.returncode == 0, r.stderr
    assert "use no learned weights" in r.stderr and "c1" in r.stderr
    assert np.load(tmp_path / "act" / "camera__c1.npy").shape == (50572,)

    r = cli("activations", "spectemp", "builtin", "--stage", "average", "--stage", "final",
            "--out", str(tmp_path / "act2"), env=env)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "spectemp" in r.stderr and "use no learned weights" not in r.stderr


def test_ipcl_backbone_stages_without_the_study_readout(tmp_path):
    """open_ipcl release file ({'state_dict': module.*}) alone: stages up to fc7 load and equal the source network;
    `final` needs the study's readout (build.readout_weights), which is not in this offline cache."""
    from metazoo_plugins.ipcl.model import AlexNetGN

    torch.manual_seed(8)
    src = AlexNetGN(out_dim=128, readout_classes=None).eval()
    path = _save({"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}, tmp_path / "ipcl.pth.tar")
    model = load_model("alexnetgn_ipcl", weights=path, stages=["conv_block_1", "fc7"])
    assert "readout" in model.weights_notice
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(8))
    z = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        h = src.maxpool_block_2(src.conv_block_2(src.maxpool_block_1(src.conv_block_1(z))))
        h = src.ave_pool(src.maxpool_block_5(src.conv_block_5(src.conv_block_4(src.conv_block_3(h)))))
        fc7 = src.fc7(src.fc6(h.flatten(1)))
        got = model(x, ["fc7"])["fc7"]
    torch.testing.assert_close(got, fc7, rtol=0, atol=1e-5)
    with pytest.raises(WeightsError):
        load_model("alexnetgn_ipcl", weights=path, stages=["fc7", "final"])
