"""Checkpoint converters: synthetic checkpoints in each original layout load strictly and reproduce the source.

Each test builds a source network with random weights, writes it the way its original release did (key prefixes,
container dicts, extra entries), loads it through `load_model(..., weights=PATH)` (safe loading, the family's
converter, strict `load_state_dict`) and compares outputs with the source network's own forward.
"""
from __future__ import annotations

import re

import pytest
import torch

from metazoo_core.errors import WeightsError
from metazoo_core.models import load_model
from metazoo_core.plugins import registry
from metazoo_core.registry import WeightsSpec

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def _x(seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(seed))


def _save(obj, path) -> str:
    torch.save(obj, path)
    return str(path)


def _robustness_state(net: torch.nn.Module, normaliser_prefix: str) -> dict:
    """The robustness library's AttackerModel layout under DataParallel (facts §9)."""
    state = {}
    for k, v in net.state_dict().items():
        state[f"module.model.{k}"] = v
        state[f"module.attacker.model.{k}"] = v.clone()
    for prefix in (normaliser_prefix, "attacker." + normaliser_prefix):
        state[f"module.{prefix}new_mean"] = MEAN.reshape(3, 1, 1).clone()
        state[f"module.{prefix}new_std"] = STD.reshape(3, 1, 1).clone()
    return state


def _assert_same(model, reference: torch.Tensor, x: torch.Tensor, stage: str = "final") -> None:
    with torch.no_grad():
        got = model(x, [stage])[stage]
    torch.testing.assert_close(got, reference, rtol=0, atol=1e-5)


def _reference(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net.eval()((x - MEAN) / STD)


def test_madry_robustness_checkpoint(tmp_path):
    """Madry / robust-models-transfer `.ckpt`: {'model': module.model.*, module.attacker.model.*, normalizer}."""
    import torchvision

    torch.manual_seed(0)
    src = torchvision.models.resnet18()
    ckpt = {"model": _robustness_state(src, "normalizer."), "optimizer": {}, "schedule": None, "epoch": 90}
    model = load_model("rmt_resnet18_l2_eps3", weights=_save(ckpt, tmp_path / "resnet18_l2_eps3.ckpt"))
    _assert_same(model, _reference(src, _x()), _x())


def test_study_robustness_checkpoint(tmp_path):
    """The study's own archive (AlexNet variants): preproc.normalize.* normaliser keys."""
    import torchvision

    torch.manual_seed(1)
    src = torchvision.models.alexnet()
    ckpt = {"model": _robustness_state(src, "preproc.normalize."), "epoch": 119}
    model = load_model("alexnet_l2_eps3", weights=_save(ckpt, tmp_path / "alexnet_l2_3_robust_checkpoint.pt"))
    _assert_same(model, _reference(src, _x(1)), _x(1))


def test_robustness_normaliser_mismatch_is_one_line_error(tmp_path):
    import torchvision

    state = _robustness_state(torchvision.models.resnet18(), "normalizer.")
    state["module.normalizer.new_mean"] = torch.full((3, 1, 1), 0.5)
    with pytest.raises(WeightsError) as err:
        load_model("rmt_resnet18_l2_eps3", weights=_save({"model": state}, tmp_path / "bad.ckpt"))
    assert "mean" in str(err.value) and "\n" not in str(err.value)


def test_stylized_imagenet_checkpoints(tmp_path):
    """texture-vs-shape `.pth.tar`: AlexNet with DataParallel features (`features.module.0…`), ResNet50 `module.…`."""
    import torchvision

    torch.manual_seed(2)
    alex = torchvision.models.alexnet()
    state = {(k.replace("features.", "features.module.", 1) if k.startswith("features.") else k): v
             for k, v in alex.state_dict().items()}
    model = load_model("alexnet_stylized", weights=_save({"state_dict": state, "epoch": 60, "arch": "alexnet"},
                                                          tmp_path / "alexnet_sin.pth.tar"))
    _assert_same(model, _reference(alex, _x(2)), _x(2))

    res = torchvision.models.resnet50()
    state = {f"module.{k}": v for k, v in res.state_dict().items()}
    model = load_model("resnet50_stylized", weights=_save({"state_dict": state, "epoch": 60, "arch": "resnet50"},
                                                           tmp_path / "resnet50_sin.pth.tar"))
    _assert_same(model, _reference(res, _x(3)), _x(3))


def test_openselfsup_checkpoint(tmp_path):
    """OpenSelfSup backbone + linear head (`backbone.*`, `head.fc_cls.*`, projection neck dropped)."""
    import torchvision

    torch.manual_seed(3)
    src = torchvision.models.resnet50()
    state = {("head.fc_cls." + k[3:] if k.startswith("fc.") else "backbone." + k): v
             for k, v in src.state_dict().items()}
    state["neck.mlp.0.weight"] = torch.zeros(2048, 2048)
    spec = registry().get("resnet50_simclr")
    spec = spec.model_copy(update={"weights": WeightsSpec(source=None, format="openselfsup")})
    model = load_model(spec, weights=_save({"state_dict": state}, tmp_path / "simclr.pth"))
    _assert_same(model, _reference(src, _x(4)), _x(4))


def test_cornet_release_checkpoint(tmp_path):
    """CORnet release: {'state_dict': module.V1.conv1.weight, …}."""
    from metazoo_plugins.cornet.model import cornet_s

    torch.manual_seed(4)
    src = cornet_s()
    for m in src.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
    state = {f"module.{k}": v for k, v in src.state_dict().items()}
    model = load_model("cornet_s", weights=_save({"state_dict": state, "epoch": 43}, tmp_path / "cornet_s.pth"))
    _assert_same(model, _reference(src, _x(5)), _x(5))


def test_ipcl_checkpoints_with_study_readout(tmp_path):
    """open_ipcl `*_weights_only.pth.tar` ({'state_dict': module.*}) + the study's fc7 readout file."""
    from metazoo_plugins.ipcl.model import AlexNetGN

    torch.manual_seed(5)
    src = AlexNetGN(out_dim=128, readout_classes=None).eval()
    backbone = {f"module.{k}": v for k, v in src.state_dict().items()}
    assert {"module.conv_block_1.1.weight", "module.fc6.1.running_var", "module.fc8.0.weight"} <= set(backbone)
    readout = torch.nn.Linear(4096, 1000)
    head = {"state_dict": {"classifier.weight": readout.weight.detach(), "classifier.bias": readout.bias.detach()},
            "epoch": 10, "best_acc1": torch.tensor(40.3)}
    head_path = _save(head, tmp_path / "ipcl1_fc7_lincls_onecycle.pth.tar")
    spec = registry().get("alexnetgn_ipcl")
    spec = spec.model_copy(update={"build": {**spec.build, "readout_weights": {"source": head_path}}})
    model = load_model(spec, weights=_save({"state_dict": backbone}, tmp_path / "ipcl.pth.tar"))
    x = _x(6)
    with torch.no_grad():
        z = (x - MEAN) / STD
        h = src.maxpool_block_2(src.conv_block_2(src.maxpool_block_1(src.conv_block_1(z))))
        h = src.ave_pool(src.maxpool_block_5(src.conv_block_5(src.conv_block_4(src.conv_block_3(h)))))
        fc7 = src.fc7(src.fc6(h.flatten(1)))
        ref = readout(fc7)
    _assert_same(model, ref, x)

    sup = AlexNetGN(out_dim=1000, readout_classes=None)
    state = {f"module.{k}": v for k, v in sup.state_dict().items()}
    model = load_model("alexnetgn_ipcl_supervised", weights=_save({"state_dict": state}, tmp_path / "sup.pth.tar"))
    _assert_same(model, _reference(sup, x), x)


def test_timm_safetensors_and_dedeswim_checkpoints(tmp_path):
    """timm Hub safetensors (SWSL ResNet50) and a dedeswim training checkpoint (ConvNeXt-T, module. keys)."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(6)
    swsl = timm.create_model("resnet50", pretrained=False)
    save_file(swsl.state_dict(), str(tmp_path / "model.safetensors"))
    model = load_model("swsl_resnet50", weights=str(tmp_path / "model.safetensors"))
    _assert_same(model, _reference(swsl, _x(7)), _x(7))

    cnx = timm.create_model("convnext_tiny", pretrained=False)
    ckpt = {"state_dict": {f"module.{k}": v for k, v in cnx.state_dict().items()}, "epoch": 99,
            "arch": "convnext_tiny", "metric": 0.5}
    model = load_model("convnext_tiny_linf_eps4", weights=_save(ckpt, tmp_path / "convnext-t-ImageNet-eps-4.pth.tar"))
    with torch.no_grad():
        raw = cnx.eval()(_x(8))  # trained on raw [0, 1] pixels (no_normalize: true)
    _assert_same(model, raw, _x(8))


def test_fast_adversarial_checkpoint(tmp_path):
    import torchvision

    torch.manual_seed(7)
    src = torchvision.models.resnet50()
    ckpt = {"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}, "epoch": 15,
            "arch": "resnet50", "best_prec1": torch.tensor(50.0)}
    model = load_model("fast_adversarial_resnet50_linf_eps4", weights=_save(ckpt, tmp_path / "imagenet_4px.pth.tar"))
    _assert_same(model, _reference(src, _x(9)), _x(9))


@pytest.mark.slow
def test_open_clip_safetensors(tmp_path):
    """open_clip's Hub file (both towers, CLIP keys) loads strictly; the embedding equals open_clip's."""
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(8)
    src = open_clip.create_model("ViT-B-32-quickgelu", pretrained=None).eval()
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(tmp_path / "open_clip_model.safetensors"))
    model = load_model("clip_vit_b32", weights=str(tmp_path / "open_clip_model.safetensors"))
    x = _x(10)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    with torch.no_grad():
        ref = src.encode_image((x - mean) / std)
    _assert_same(model, ref, x, stage="linear_end")


def test_densenet_old_keys():
    """torchvision's legacy DenseNet names (`denselayer1.norm.1.weight`) map to today's (`norm1.weight`)."""
    from metazoo_plugins.robust.model import convert

    spec = registry().get("rmt_densenet161_l2_eps3")
    net = load_model(spec.id, pretrained=False, device="meta").net
    keys = list(net.state_dict())
    old = {"module.model." + re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", k): torch.zeros(1)
           for k in keys}
    assert sum(".norm.1." in k for k in old) > 0
    assert set(convert(spec, old)) == set(keys)

