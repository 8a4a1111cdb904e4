"""Resolved ids (`timm:NAME`, `torchvision:NAME@WEIGHTS`): one-line refusals, the torch-free spec cache and its
staleness, `--stage auto`, and the contract (random weights, offline) — including that it fails when it must."""
import json
import subprocess
import sys

import pytest
from torch import nn

from metazoo_core.anymodel import cache, parse_id, resolve
from metazoo_core.anymodel.check import check
from metazoo_core.anymodel.contract import contract
from metazoo_core.models import load_model
from metazoo_core.registry import ModelSpec
from metazoo_core.stages import StagedModel, StageNetwork, Tap


@pytest.mark.parametrize("model_id, says", [
    ("tf:resnet18", "unknown model source 'tf'"),
    ("timm:resnt18", "did you mean resnet18"),
    ("timm:resnet18.bogus_tag", "has no pretrained tag 'bogus_tag'"),
    ("torchvision:resnet5", "did you mean resnet50"),
    ("torchvision:resnet50@IMAGENET1K_V9", "its weights: IMAGENET1K_V1, IMAGENET1K_V2"),
    ("open_clip:ViT-B-33", "open_clip has no model 'ViT-B-33' (did you mean ViT-B-32"),
    ("open_clip:ViT-B-32/openia", "no pretrained tag 'openia' (did you mean openai?)"),
])
def test_bad_ids_are_one_line(cli, model_id, says):
    r = cli("info", model_id)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1 and says in lines[0], lines


def test_resolved_spec_is_cached_reused_and_stale_on_a_version_change(cli):
    spec = resolve("timm:test_resnet")
    assert spec.build["name"] == "test_resnet.r160_in1k" and spec.input.shape == [3, 160, 160]
    assert spec.weights.source == "hf://timm/test_resnet.r160_in1k/model.safetensors"
    assert spec.stage_names == ["act1", "layer1", "layer2", "layer3", "layer4", "final"]
    assert spec.expand_stages(["auto"]) == spec.build["auto_stages"] and "final" in spec.build["auto_stages"]
    path = cache.entry_path(parse_id("timm:test_resnet"))
    entry = json.loads(path.read_text())
    code = ("import sys; sys.argv = ['metazoo', 'list', '--resolved', '--json']\n"
            "from metazoo_cli.app import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'list --resolved imported torch'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "timm:test_resnet" in [e["id"] for e in json.loads(r.stdout)]
    entry["versions"]["timm"] = "0.0.1"  # resolved with another timm: stale, resolved again
    path.write_text(json.dumps(entry))
    assert cache.read(parse_id("timm:test_resnet")) is None
    assert resolve("timm:test_resnet") == spec
    assert cache.read(parse_id("timm:test_resnet"))["versions"] == cache.versions("timm")


@pytest.mark.parametrize("model_id", ["timm:test_resnet", "timm:test_vit", "torchvision:squeezenet1_1"])
def test_contract_passes_and_the_verdict_is_shown_by_info(cli, model_id):
    verdict = check(model_id)
    assert verdict["passed"], verdict["checks"]
    assert all(v == "ok" for v in verdict["checks"].values())
    r = cli("info", model_id)
    assert r.returncode == 0 and "contract check" in r.stdout and "passed" in r.stdout


def test_contract_fails_on_a_wrong_oracle_and_marks_a_stage_without_gradient():
    """The oracle check catches a relative error of 1e-5 (ten times the tolerance); a stage that the input
    cannot move (a constant) is marked not usable for metamers."""
    model = load_model(resolve("timm:test_resnet"), pretrained=False)

    def off(z):
        return [t * (1 + 1e-5) for t in model.net.forward_intermediates(z, intermediates_only=True)]

    verdict = contract(model, off, model.spec.build["oracle"])
    assert not verdict["passed"] and "relative error" in verdict["checks"]["oracle"]

    class Constant(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 3)
            self.const = nn.Identity()

        def forward(self, x):
            return self.const(self.conv(x).detach() * 0 + 1)

    spec = ModelSpec.model_validate({"id": "toy", "family": "toy", "modality": "vision",
                                     "input": {"shape": [3, 8, 8], "range": [0, 1]},
                                     "stages": [{"name": "conv", "shape": [2, 6, 6]},
                                                {"name": "const", "shape": [2, 6, 6]}]})
    toy = StagedModel(spec, StageNetwork(Constant(), {"conv": Tap("conv"), "const": Tap("const")}))
    verdict = contract(toy)
    assert verdict["passed"] and verdict["unusable"] == {"const": "no gradient path from the input"}


def test_generate_at_auto_stages_of_a_timm_convnext_runs_end_to_end(cli, tmp_path):
    r = cli("generate", "timm:test_convnext", "builtin:chelsea", "--stage", "auto", "--random-weights",
            "--iterations", "2", "--blocks", "1", "--init-step", "8", "--out", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    records = json.loads(r.stdout)
    spec = resolve("timm:test_convnext")
    assert [rec["stage"] for rec in records] == spec.build["auto_stages"]
    assert all(rec["random_weights"] for rec in records) and "RANDOM weights" in r.stderr


TIMM_ZOO = [  # smallest variants of ≥ 12 families (timm 1.0.31 names; `test_*` are timm's own tiny test nets)
    "timm:test_resnet", "timm:resnet10t", "timm:test_convnext", "timm:convnext_atto", "timm:test_vit",
    "timm:test_vit_relpos", "timm:deit_tiny_patch16_224", "timm:test_efficientnet", "timm:regnetx_002",
    "timm:regnety_002", "timm:mobilenetv3_small_050", "timm:lcnet_050", "timm:test_maxvit", "timm:test_coatnet",
    "timm:eva02_tiny_patch14_224", "timm:ghostnet_050", "timm:mobilevit_xxs", "timm:edgenext_xx_small",
    "timm:levit_128s", "timm:xcit_nano_12_p16_224", "timm:pit_ti_224", "timm:test_nfnet", "timm:test_byobnet",
    "timm:efficientvit_b0", "timm:fastvit_t8", "timm:convit_tiny", "timm:vgg11", "timm:swin_tiny_patch4_window7_224",
    "timm:beit_base_patch16_224", "timm:mobilenetv4_conv_small",
]
TORCHVISION_ZOO = [
    "torchvision:resnet18", "torchvision:resnet50@IMAGENET1K_V1", "torchvision:squeezenet1_1",
    "torchvision:mobilenet_v3_small", "torchvision:shufflenet_v2_x0_5", "torchvision:mnasnet0_5",
    "torchvision:alexnet", "torchvision:efficientnet_b0", "torchvision:regnet_x_400mf", "torchvision:vgg11",
    "torchvision:convnext_tiny",
]
OPEN_CLIP_ZOO = ["open_clip:ViT-S-32", "open_clip:RN50/openai", "open_clip:ViT-B-32/openai"]


@pytest.mark.zoo
@pytest.mark.parametrize("model_id", TIMM_ZOO + TORCHVISION_ZOO + OPEN_CLIP_ZOO)
def test_contract_across_the_zoo(model_id):
    verdict = check(model_id)
    assert verdict["passed"], verdict["checks"]


@pytest.mark.zoo
def test_contract_catches_an_in_place_activation_after_a_stage():
    """torchvision's DenseNet applies `F.relu(..., inplace=True)` to `features.norm5`'s output inside forward,
    overwriting the recorded stage: the truncation check sees the stage alone differ from the full forward."""
    verdict = check("torchvision:densenet121")
    assert not verdict["passed"] and "features_norm5" in verdict["checks"]["truncation"]
