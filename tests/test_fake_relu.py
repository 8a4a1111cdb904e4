"""Fake-ReLU stages (facts §3, §13.3): forward = ReLU of the pre-activation, backward = identity.

The gradient of <stage(x), g> must equal the gradient of <pre-activation(x), g> (computed here without any
ReLU at that point), and differ from the true-ReLU gradient wherever pre-activations are negative.
"""
from __future__ import annotations

import pytest
import torch
from tolerance import RULE, check, own_error

from metazoo_core.models import load_model
from metazoo_core.numerics import relative_error, relative_norm_error, rounding_tolerance


MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def _x(seed: int, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(seed)).to(dtype)


def _grad(fn, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    (fn(x) * g).sum().backward()
    return x.grad


def _check(model, stage: str, pre_activation, seed: int) -> None:
    x = _x(seed)
    with torch.no_grad():
        pre = pre_activation(x)
    g = torch.randn(pre.shape, generator=torch.Generator().manual_seed(seed + 100))

    def stage_of(t):
        return model(t, [stage])[stage]

    def true_relu(t):
        return torch.relu(pre_activation(t))

    fake = _grad(stage_of, x, g)
    ident = _grad(pre_activation, x, g)
    model.fake_relu = False
    try:
        true = _grad(stage_of, x, g)
        true_ref = _grad(true_relu, x, g)
        true_tol = _tolerance(model, lambda t: _grad(stage_of, t, g.to(t.dtype)), x)
    finally:
        model.fake_relu = True
    with torch.no_grad():
        out = stage_of(x)
    # Each float32 pair runs the same layers through two code paths (the stage wrapper, the closure): within 10x
    # the float32 result's own error against the same computation in float64.
    check(relative_error(out, torch.relu(pre)), _tolerance(model, true_relu, x, norm=False), RULE, "forward")
    assert (pre < 0).any()
    check(relative_norm_error(fake, ident), _tolerance(model, lambda t: _grad(pre_activation, t, g.to(t.dtype)), x),
          RULE, "fake-relu gradient")
    assert (fake - true).abs().max() > 1e-3 * fake.abs().max()
    check(relative_norm_error(true, true_ref), true_tol, RULE, "relu gradient")


def _tolerance(model, f, x, norm=True) -> float:
    """`rounding_tolerance` of f (which uses `model`'s modules) at float32 `x` against float64: the model is cast
    to the input's dtype for each call and left in float32."""
    def in_dtype(t):
        model.to(t.dtype)
        return f(t)

    try:
        own, _ = own_error(in_dtype, x, norm=norm)
    finally:
        model.float()
    return rounding_tolerance(own)


@pytest.mark.numerics  # the matrix's representative of this file (the others apply the same rule)
def test_alexnet_conv_and_fc_stages():
    model = load_model("alexnet", pretrained=False)
    f = model.net.features
    _check(model, "relu1", lambda t: f[3](f[2](f[1](f[0]((t - MEAN) / STD)))), seed=0)
    c = model.net.classifier

    def fc0(t):
        return c[1](torch.flatten(model.net.avgpool(f((t - MEAN) / STD)), 1))

    _check(model, "fc0_relu", fc0, seed=1)


def test_resnet_layer_replaces_only_the_last_blocks_final_relu():
    model = load_model("resnet50", pretrained=False)
    n = model.net

    def pre_layer1(t):
        h = n.maxpool(n.relu(n.bn1(n.conv1((t - MEAN) / STD))))
        h = n.layer1[1](n.layer1[0](h))
        b = n.layer1[2]
        out = b.bn3(b.conv3(torch.relu(b.bn2(b.conv2(torch.relu(b.bn1(b.conv1(h))))))))
        return out + h

    _check(model, "layer1", pre_layer1, seed=2)
    _check(model, "conv1_relu1", lambda t: n.bn1(n.conv1((t - MEAN) / STD)), seed=3)


def test_cornet_and_ipcl_stages():
    cornet = load_model("cornet_s", pretrained=False)
    v1 = cornet.net.V1
    _check(cornet, "V1", lambda t: v1.norm2(v1.conv2(v1.pool(v1.nonlin1(v1.norm1(v1.conv1((t - MEAN) / STD)))))),
           seed=4)
    ipcl = load_model("alexnetgn_ipcl", pretrained=False)
    b = ipcl.net.conv_block_1
    _check(ipcl, "conv_block_1", lambda t: b[1](b[0]((t - MEAN) / STD)), seed=5)


def test_finite_difference_matches_identity_backward():
    """float64: <∇ stage, v> equals the central difference of <pre-activation, g> along v."""
    model = load_model("alexnet", pretrained=False).double()
    f = model.net.features

    def pre(t):
        return f[0]((t - MEAN.double()) / STD.double())

    x = _x(6, torch.float64)
    g = torch.randn(1, 64, 55, 55, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    v = torch.randn(x.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    x = x.clamp(0.05, 0.95)  # stay inside the clamp range for ±eps
    grad = _grad(lambda t: model(t, ["relu0"])["relu0"], x, g)
    eps = 1e-4
    with torch.no_grad():
        fd = ((pre(x + eps * v) * g).sum() - (pre(x - eps * v) * g).sum()) / (2 * eps)
    # float64 throughout; the pre-activation is linear in x, so the central difference is exact up to float64
    # rounding amplified by 1/(2 eps) (about 1e-12 relative): 1e-6 is far from it; a wrong backward is off by O(1).
    torch.testing.assert_close((grad * v).sum(), fd, rtol=1e-6, atol=1e-8)

