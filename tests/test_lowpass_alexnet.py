"""LowpassAlexNet: HannPooling2d as the study defined it, stage shapes of SI Modeling Note 2, checkpoint keys."""
import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tolerance import check

from metazoo_core.models import load_model
from metazoo_core.numerics import condition_tolerance, relative_error
from metazoo_core.stages import stage_shapes
from metazoo_plugins.lowpass_alexnet.hann import HannPooling2d, hann_window
from metazoo_plugins.lowpass_alexnet.model import convert_checkpoint

# SI Modeling Note 2, LowpassAlexNet table: stage → (shape, number of features)
SEED_TABLE = {
    "relu0": ((64, 55, 55), 193600), "relu1": ((192, 27, 27), 139968), "relu2": ((384, 13, 13), 64896),
    "relu3": ((256, 13, 13), 43264), "relu4": ((256, 13, 13), 43264), "fc0_relu": ((4096,), 4096),
    "fc1_relu": ((4096,), 4096), "final": ((1000,), 1000),
}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return load_model("lowpass_alexnet", pretrained=False)


def test_stage_shapes_match_seed_table():
    shapes = stage_shapes(load_model("lowpass_alexnet", pretrained=False, device="meta"))
    assert shapes == {k: v[0] for k, v in SEED_TABLE.items()}
    assert {k: math.prod(v) for k, v in shapes.items()} == {k: v[1] for k, v in SEED_TABLE.items()}


@pytest.mark.parametrize("pool, taps, peak", [(17, 15, 1 / 64), (9, 7, 1 / 16)])
def test_hann_window_size_sum_and_values(pool, taps, peak):
    w = hann_window(pool)
    assert w.shape == (taps, taps)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert w.max() == pytest.approx(peak, rel=1e-12)  # facts §14
    n = np.arange(1, pool - 1)
    h = 0.5 - 0.5 * np.cos(2 * np.pi * n / (pool - 1))  # Hann formula without the zero end points
    np.testing.assert_allclose(w, np.outer(h, h) / np.outer(h, h).sum(), rtol=1e-12)


@pytest.mark.numerics
def test_constant_image_stays_constant_away_from_borders():
    pool = HannPooling2d(stride=2, pool_size=9, padding=2)
    x = torch.full((2, 3, 40, 40), 0.37)
    y = pool(x)
    assert y.shape == (2, 3, 19, 19)
    # float32: 0.37 × Σw over the 81 window weights (Σw = 1 in float64): condition 81 for a sum of positive terms
    check(relative_error(y[..., 2:-2, 2:-2].double(), torch.full_like(y[..., 2:-2, 2:-2], 0.37, dtype=torch.float64)),
          condition_tolerance(81), "10 x float32 eps x 81 (a 9x9 weighted sum)")
    assert y[..., 0, 0].max() < 0.37 - 1e-3  # zero padding darkens the border


@pytest.mark.numerics
def test_channels_are_pooled_separately():
    pool = HannPooling2d(stride=2, pool_size=9, padding=2)
    x = torch.zeros(1, 2, 32, 32)
    x[:, 1] = 1.0
    y = pool(x)
    assert y[:, 0].abs().max() == 0
    inner = y[:, 1, 4:-4, 4:-4].double()
    check(relative_error(inner, torch.ones_like(inner)), condition_tolerance(81),
          "10 x float32 eps x 81 (a 9x9 weighted sum)")


@pytest.mark.parametrize("freq", [0.3, 0.4, 0.45])
def test_grating_above_new_nyquist_is_attenuated_far_more_than_by_max_pooling(freq):
    """Stride 2 halves the Nyquist limit to 0.25 cycles/px; max-pooling aliases the grating instead."""
    cols = torch.arange(64.0)
    x = torch.cos(2 * math.pi * freq * cols).expand(1, 1, 64, 64).contiguous()
    rms = lambda t: t[..., 4:-4, 4:-4].pow(2).mean().sqrt().item()  # noqa: E731
    hann = rms(HannPooling2d(2, 9, 2)(x))
    maxp = rms(F.max_pool2d(x, 3, 2, 1))
    assert hann < 0.03 * rms(x)
    assert maxp > 0.7 * rms(x)
    assert hann < 0.03 * maxp


def test_first_stage_is_stride_one_conv_relu_hann(model):
    conv, relu, hpool = model.net.features[0]
    assert conv.stride == (1, 1) and conv.kernel_size == (11, 11) and conv.padding == (5, 5)
    assert (hpool.stride, hpool.pool_size, hpool.padding) == (4, 17, 5)
    x = torch.rand(1, 3, 224, 224)
    expected = hpool(F.relu(conv(model.preprocess(x))))
    torch.testing.assert_close(model(x, ["relu0"])["relu0"], expected)


def test_relu_stages_use_fake_relu_gradients(model):
    """The relu stages are fake-ReLU copies: gradient flows where the pre-activation is negative (facts §3)."""
    x = torch.rand(1, 3, 224, 224, requires_grad=True)
    fc0 = model(x, ["fc0_relu"])["fc0_relu"]
    pre = model.net.classifier[1](torch.flatten(model.net.avgpool(model.net.features(model.preprocess(x))), 1))
    torch.testing.assert_close(fc0, pre.clamp(min=0))
    neg = pre[0] < 0
    assert neg.any()
    g, = torch.autograd.grad(fc0[0, neg].sum(), x)
    assert g.abs().sum() > 0


def test_study_checkpoint_layout_loads_strictly(model):
    """The study's module layout (alexnet_reduced_aliasing.py): robustness-format keys load by name."""
    study_keys = {"features.0.0.weight", "features.0.0.bias", "features.0.2.hann_window2d", "features.2.hann_window2d",
                  "features.3.weight", "features.5.hann_window2d", "features.6.weight", "features.8.weight",
                  "features.10.weight", "features.12.hann_window2d", "classifier.1.weight", "classifier.4.weight",
                  "classifier.6.bias"}
    own = model.net.state_dict()
    assert study_keys <= set(own)
    assert torch.equal(own["features.0.2.hann_window2d"][0, 0], torch.tensor(hann_window(17), dtype=torch.float32))
    study = {f"module.model.{k}": v.clone() + 1 for k, v in own.items()}
    study.update({f"module.attacker.model.{k}": v.clone() for k, v in own.items()})
    study["module.preproc.normalize.new_mean"] = torch.zeros(3, 1, 1)
    converted = convert_checkpoint(study)
    fresh = copy.deepcopy(model.net)
    result = fresh.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    torch.testing.assert_close(fresh.features[3].weight, own["features.3.weight"] + 1)
