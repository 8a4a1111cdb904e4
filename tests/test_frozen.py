"""Frozen-model optimisations (metazoo_core/metamer/frozen.py): the optimised copy computes the same stages and the
same steps as the model, the caller's model is untouched, and what does not apply falls back with a notice."""
import pytest
import torch
from tolerance import RULE, check, own_error
from torch import nn

from metazoo_core.errors import InputError
from metazoo_core.metamer.frozen import conv_bn_pairs, copy_model, freeze, parse_optimisations
from metazoo_core.numerics import relative_error, relative_norm_error, rounding_tolerance
from metazoo_core.metamer.generate import generate_metamers
from metazoo_core.metamer.optimise import ItemState, optimise_stage
from metazoo_core.metamer.recipes import RECIPES
from metazoo_core.models import load_model

STAGES = ["conv1_relu1", "layer1", "layer2", "layer4"]


@pytest.fixture(scope="module")
def resnet():
    """ResNet50, random weights, with BatchNorm statistics and affine parameters set to random values: at
    initialisation they are mean 0, variance 1, γ 1, β 0, which would make folding trivially exact."""
    torch.manual_seed(0)
    model = load_model("resnet50", pretrained=False)
    g = torch.Generator().manual_seed(3)
    for m in model.net.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.1)
            m.weight.data.copy_(torch.randn(n, generator=g) * 0.5 + 1)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.3)
    return model


@pytest.fixture(scope="module")
def resnet64(resnet):
    """The same network in float64: the reference every float32 comparison's tolerance is measured against."""
    return copy_model(resnet).double()


def _acts(model, stages, x):
    with torch.no_grad():
        return model(x, stages)


def _one_step(model, stage, x0, noise):
    """The engine's first feather2023 step (batch 1) from `noise` towards x0's activations: the update x' − x."""
    with torch.no_grad():
        target = model(x0, [stage])[stage]
    recipe = RECIPES["feather2023"].resolved(model.spec, iterations=1, blocks=1)
    (state,) = optimise_stage(model, stage, target, [ItemState(x=noise[0].clone())], recipe)
    return state.x - noise[0]


def _step_tolerance(model, model64, stage, x0, noise):
    """`rounding_tolerance` of one float32 step's update at `stage` (model) against the same step in float64
    (model64), over `noise` and its one-ulp neighbours."""
    own, _ = own_error(lambda n: _one_step(model if n.dtype == torch.float32 else model64, stage, x0.to(n.dtype), n),
                       noise)
    return rounding_tolerance(own)


def _acts_tolerance(model, model64, stages, x):
    """Per stage, `rounding_tolerance` of the float32 activations (max |Δ| ÷ max |ref|) against float64."""
    own, _ = own_error(lambda v: _acts(model if v.dtype == torch.float32 else model64, stages, v), x, norm=False)
    return {s: rounding_tolerance(e) for s, e in own.items()}


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, 224, 224, generator=g), (torch.randn(1, 3, 224, 224, generator=g) * 0.05 + 0.5).clamp(0, 1)


@pytest.mark.numerics
def test_fold_bn_keeps_every_stage_and_leaves_the_model_alone(resnet, resnet64):
    before = {k: v.clone() for k, v in resnet.state_dict().items()}
    assert len(conv_bn_pairs(resnet, STAGES)) == 53  # every BatchNorm of ResNet50 follows its convolution
    frozen = freeze(resnet, STAGES, ["fold-bn"])
    assert frozen.applied == ("fold-bn",) and frozen.notices == [], frozen.notices
    folded = frozen.model
    assert folded is not resnet
    assert isinstance(folded.net.layer2[0].bn2, nn.Identity) and isinstance(resnet.net.layer2[0].bn2, nn.BatchNorm2d)
    assert all(torch.equal(v, before[k]) for k, v in resnet.state_dict().items())
    x0, _ = _inputs()
    ref, got = _acts(resnet, STAGES, x0), _acts(folded, STAGES, x0)
    errors = {s: relative_error(got[s], ref[s]) for s in STAGES}
    # Tolerance: the engine's rule, from the unfolded model's own float32 error against float64 (same input).
    tolerance = _acts_tolerance(resnet, resnet64, STAGES, x0)
    for s in STAGES:
        check(errors[s], tolerance[s], RULE, s)
    assert min(errors.values()) > 0  # the folded network really computes differently (not a no-op)


@pytest.mark.numerics
def test_fold_bn_one_step_update(resnet, resnet64):
    """One engine step's update at `conv1_relu1`, `layer1` and `layer2`: the folded model's within 10× the float32
    rounding of the unfolded model itself, measured as its distance from the same step in float64 (deeper in,
    ReLU and max-pool decisions at near-ties flip under any change of summation order; see metazoo_core.numerics)."""
    folded = freeze(resnet, STAGES, ["fold-bn"]).model
    x0, noise = _inputs(1)
    for stage in ("conv1_relu1", "layer1", "layer2"):
        ref, got = _one_step(resnet, stage, x0, noise), _one_step(folded, stage, x0, noise)
        check(relative_norm_error(got, ref), _step_tolerance(resnet, resnet64, stage, x0, noise), RULE, stage)


def test_stage_hooks_and_truncation_still_work(resnet):
    folded = freeze(resnet, STAGES, ["fold-bn"]).model
    calls = []
    folded.net.layer3.register_forward_hook(lambda *a: calls.append(1))
    x0, _ = _inputs()
    out = _acts(folded, ["layer2"], x0)
    assert set(out) == {"layer2"} and calls == []  # stopped after layer2
    _acts(folded, ["layer4"], x0)
    assert calls == [1]


@pytest.mark.numerics
def test_channels_last_is_exact(resnet, resnet64):
    """Channels-last computes the same `layer1` and the same engine step up to float32 rounding: within 10× the
    contiguous model's own error against float64 (issue 25: a flat 1e-5 failed on an AVX-512 CPU, 1.4e-4)."""
    frozen = freeze(resnet, ["layer1"], ["channels-last"])
    assert frozen.applied == ("channels-last",)
    assert frozen.model.net.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    x0, noise = _inputs(2)
    ref, got = _acts(resnet, ["layer1"], x0)["layer1"], _acts(frozen.model, ["layer1"], x0)["layer1"]
    check(relative_error(got, ref), _acts_tolerance(resnet, resnet64, ["layer1"], x0)["layer1"], RULE,
          "layer1")
    upd_ref, upd = _one_step(resnet, "layer1", x0, noise), _one_step(frozen.model, "layer1", x0, noise)
    check(relative_norm_error(upd, upd_ref), _step_tolerance(resnet, resnet64, "layer1", x0, noise), RULE,
          "update")


def test_a_network_without_batchnorm_falls_back_with_a_notice():
    alexnet = load_model("alexnet", pretrained=False)
    heard = []
    frozen = freeze(alexnet, ["relu2"], ["fold-bn"], notify=heard.append)
    assert frozen.model is alexnet and frozen.applied == ()
    assert heard == frozen.notices and len(heard) == 1
    assert "fold-bn not used for 'alexnet'" in heard[0] and "no BatchNorm directly after a convolution" in heard[0]


def test_unknown_module_types_are_left_alone(resnet):
    """A BatchNorm subclass (e.g. timm's BatchNormAct2d adds an activation) is not folded; nor is a BatchNorm
    whose input is not the convolution's output itself."""
    class ActNorm(nn.BatchNorm2d):
        pass

    model = load_model("resnet50", pretrained=False)
    model.net.bn1.__class__ = ActNorm
    pairs = conv_bn_pairs(model, ["layer1"])
    assert ("conv1", "bn1") not in pairs and ("layer1.0.conv1", "layer1.0.bn1") in pairs
    assert len(pairs) == 1 + 3 * 3  # downsample branch of layer1.0 and three BatchNorms per block


def test_parse_optimisations():
    assert parse_optimisations(None) == ("fold-bn",)  # the default set
    assert parse_optimisations("channels-last,fold-bn") == ("fold-bn", "channels-last")
    assert parse_optimisations("all") == ("fold-bn", "channels-last", "compile")
    assert parse_optimisations("none") == ()
    with pytest.raises(InputError) as e:
        parse_optimisations("fold-bn,fuse")
    assert "\n" not in str(e.value) and "'fuse'" in str(e.value) and "fold-bn, channels-last, compile" in str(e.value)


def test_cli_refuses_a_bad_optimisation_in_one_line(cli, tmp_path):
    r = cli("generate", "alexnet", "builtin:chelsea", "--stage", "relu0", "--random-weights", "--optimise", "fast",
            "--out", str(tmp_path))
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and "--optimise 'fast': unknown optimisation" in r.stderr


@pytest.mark.slow
@pytest.mark.numerics
def test_compile_matches_eager():
    """torch.compile of AlexNet's truncated forward (compiles in ~20 s on one core): the same update, and
    inductor's cache under $METAZOO_CACHE."""
    alexnet = load_model("alexnet", pretrained=False)
    frozen = freeze(alexnet, ["relu0"], ["compile"])
    assert frozen.applied == ("compile",), frozen.notices
    x0, noise = _inputs(4)
    ref = _one_step(alexnet, "relu0", x0, noise)
    got = _one_step(frozen.model, "relu0", x0, noise)
    tolerance = _step_tolerance(alexnet, copy_model(alexnet).double(), "relu0", x0, noise)
    check(relative_norm_error(got, ref), tolerance, RULE, "update")
    from metazoo_core.weights import cache_dir

    assert (cache_dir() / "inductor").is_dir()  # inductor's on-disk cache lives in metazoo's


def test_a_300_step_metamer_has_the_same_measures(resnet, one_thread):
    """The engine with --optimise fold-bn: 300 steps at ResNet50 `conv1_relu1` give the same metamer measures as
    the eager engine, far below the resolution of any null (measures of different natural images differ by
    more than 0.1 in ρ)."""
    from metazoo_core.inputs import load_input

    items = [load_input("builtin:chelsea", resnet.spec)]
    runs = {opt: generate_metamers(resnet, items, ["conv1_relu1"], iterations=300, blocks=1, optimise=opt)
            for opt in ("none", "fold-bn")}
    eager, folded = (runs[k][0]["measures"]["conv1_relu1"] for k in ("none", "fold-bn"))
    assert runs["none"][0]["optimisations"] == [] and runs["fold-bn"][0]["optimisations"] == ["fold-bn"]
    # Not a rounding bound: 300 float32 steps diverge chaotically; the bound is the measures' scientific resolution.
    assert abs(eager["spearman"] - folded["spearman"]) <= 1e-4
    assert abs(eager["pearson"] - folded["pearson"]) <= 1e-4
    assert abs(eager["snr_db"] - folded["snr_db"]) <= 0.01


def test_the_engine_says_what_it_dropped_only_when_asked():
    """`generate_metamers(optimise=...)`: an optimisation asked for that does not apply gives one notice and the
    run goes on eagerly; the default set falls back silently."""
    from metazoo_core.inputs import load_input

    alexnet = load_model("alexnet", pretrained=False)
    items = [load_input("builtin:chelsea", alexnet.spec)]
    heard: list[str] = []
    asked = generate_metamers(alexnet, items, ["relu0"], iterations=2, blocks=1, optimise="fold-bn",
                              notify=heard.append)
    assert len(heard) == 1 and "fold-bn not used for 'alexnet'" in heard[0]
    default = generate_metamers(alexnet, items, ["relu0"], iterations=2, blocks=1, notify=heard.append)
    assert len(heard) == 1
    assert torch.equal(asked.metamers[0], default.metamers[0])  # exact: the same eager kernels on the same input


def test_sweep_plans_take_and_check_the_option(tmp_path):
    from metazoo_core.sweep.plan import PlanError, parse_plan

    plan = {"kind": "metamer", "models": ["alexnet"], "stages": ["relu0"], "inputs": ["builtin:chelsea"],
            "seeds": [0], "options": {"optimise": "fold-bn,compile"}}
    (unit,) = parse_plan(plan, "p", tmp_path).units
    assert unit.options["optimise"] == "fold-bn,compile"
    with pytest.raises(PlanError) as e:
        parse_plan({**plan, "options": {"optimise": "fuse"}}, "p", tmp_path)
    assert "\n" not in str(e.value) and "option 'optimise' 'fuse': unknown optimisation" in str(e.value)
