"""The stage wrapper: truncation, fake-ReLU, meta-device shapes, and the embedded default with real weights."""
import numpy as np
import pytest
import torch
from torch import nn

from tolerance import RULE, check, own_error

from metazoo_core.models import load_model
from metazoo_core.numerics import relative_error, relative_norm_error, rounding_tolerance
from metazoo_core.plugins import get_spec
from metazoo_core.registry import ModelSpec
from metazoo_core.stages import StagedModel, StageNetwork, Tap, stage_shapes

SPEC = ModelSpec.model_validate({
    "id": "chain", "family": "test", "modality": "vision",
    "input": {"shape": [2, 4, 4], "range": [0, 1]},
    "normalization": {"mean": [0.5, 0.5], "std": [0.5, 0.5]},
    "stages": [{"name": "relu0", "shape": [3, 4, 4], "relu": True}, {"name": "relu1", "shape": [3, 4, 4], "relu": True},
               {"name": "final", "shape": [5]}]})


def _chain():
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(3, 3, 3, padding=1),
                        nn.ReLU(), nn.Flatten(), nn.Linear(48, 5))
    taps = {"relu0": Tap("1", point="input", relu=True), "relu1": Tap("3", point="input", relu=True), "final": Tap("5")}
    return net, StagedModel(SPEC, StageNetwork(net, taps))


def test_truncation_stops_after_deepest_stage():
    net, model = _chain()
    calls = []
    for name in ("2", "5"):
        net.get_submodule(name).register_forward_hook(lambda m, a, o, name=name: calls.append(name))
    model(torch.rand(1, 2, 4, 4), ["relu0"])
    assert calls == []
    model(torch.rand(1, 2, 4, 4), ["relu1"])
    assert calls == ["2"]


def _in_dtype(model, f):
    """f (which uses `model`) with the model cast to its input's dtype first: for float64 references."""
    def run(t):
        model.to(t.dtype)
        return f(t)
    return run


@pytest.mark.numerics
def test_stage_values_match_plain_forward():
    net, model = _chain()
    x = torch.rand(2, 2, 4, 4)
    out = model(x, ["relu0", "final", "input_after_preproc"])
    z = (x - 0.5) / 0.5
    plain = {"input_after_preproc": z, "relu0": torch.relu(net[0](z)), "final": net(z)}
    # The wrapper and the plain forward run the same layers: within 10x the wrapper's own float32 error.
    own, _ = own_error(_in_dtype(model, lambda t: model(t, list(plain))), x, norm=False)
    model.float()
    for stage, want in plain.items():
        check(relative_error(out[stage], want), rounding_tolerance(own[stage]), RULE, stage)


@pytest.mark.numerics
def test_fake_relu_gradient_is_identity_and_switchable():
    net, model = _chain()
    x = torch.rand(1, 2, 4, 4, requires_grad=True)
    g_out = torch.randn(1, 3, 4, 4)
    (model(x, ["relu0"])["relu0"] * g_out).sum().backward()
    # identity backward through the ReLU: d/dx of <g, conv(norm(x))> ignoring the ReLU's mask
    x2 = x.detach().clone().requires_grad_(True)
    (net[0]((x2 - 0.5) / 0.5) * g_out).sum().backward()
    check(relative_norm_error(x.grad, x2.grad), _gradient_tolerance(model, g_out, x), RULE, "fake-relu gradient")
    model.fake_relu = False
    x3 = x.detach().clone().requires_grad_(True)
    (model(x3, ["relu0"])["relu0"] * g_out).sum().backward()
    x4 = x.detach().clone().requires_grad_(True)
    (torch.relu(net[0]((x4 - 0.5) / 0.5)) * g_out).sum().backward()
    check(relative_norm_error(x3.grad, x4.grad), _gradient_tolerance(model, g_out, x), RULE, "relu gradient")
    assert relative_norm_error(x3.grad, x.grad) > 1e-2  # the masks differ: an O(1) change, not rounding


def _gradient_tolerance(model, g_out, x) -> float:
    """`rounding_tolerance` of the input gradient of <relu0, g_out> against float64 (model left in float32)."""
    def grad(t):
        t = t.detach().clone().requires_grad_(True)
        (model(t, ["relu0"])["relu0"] * g_out.to(t.dtype)).sum().backward()
        return t.grad

    own, _ = own_error(_in_dtype(model, grad), x.detach())
    model.float()
    return rounding_tolerance(own)


def test_parameters_frozen():
    _, model = _chain()
    assert not any(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("model_id", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_meta_shapes_equal_registry(model_id):
    spec = get_spec(model_id)
    shapes = stage_shapes(load_model(model_id, device="meta"))
    assert shapes == {s.name: tuple(s.shape) for s in spec.stages}


@pytest.fixture(scope="module")
def lite0():
    return load_model("efficientnet_lite0")


@pytest.mark.numerics
def test_wrapper_equals_timm_with_same_weights(lite0):
    import timm

    ref = timm.create_model("tf_efficientnet_lite0")
    ref.load_state_dict(lite0.net.state_dict())
    ref.eval()
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        got, want = lite0.logits(x), ref(lite0.preprocess(x))
        # Same weights, same layers: within 10x timm's own float32 error against its float64 copy.
        own, _ = own_error(_in_dtype(ref, lambda t: ref(lite0.preprocess(t.float()).to(t.dtype))), x, norm=False)
    ref.float()
    check(relative_error(got, want), rounding_tolerance(own), RULE, "logits")


def test_chelsea_is_a_cat(lite0):
    from metazoo_core.io.images import load_image
    from metazoo_core.labels import imagenet16, predict_labels

    x = load_image("builtin:chelsea", lite0.spec.input).tensor.unsqueeze(0)
    with torch.no_grad():
        logits = lite0.logits(x)
    assert int(logits.argmax()) in imagenet16()["cat"]  # 281-286: tabby, tiger cat, Persian, Siamese, Egyptian cat…
    assert predict_labels(logits, "imagenet1000") == ["cat"]
    assert lite0.weights_sha256 == get_spec("efficientnet_lite0").weights.sha256


def test_activations_command_writes_named_arrays(cli, tmp_path):
    r = cli("activations", "efficientnet_lite0", "builtin:chelsea", "builtin:coffee",
            "--stage", "blocks_1", "--stage", "avgpool", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "chelsea__blocks_1.npy").shape == (24, 56, 56)
    assert np.load(tmp_path / "coffee__avgpool.npy").shape == (1280,)
