"""The metamer engine: the study's step rule, convergence, batching independence, recipes, schedules, records."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from tolerance import RULE, check, own_error

from metazoo_core.io.images import load_image
from metazoo_core.metamer import RECIPES, generate_metamers, initial_noise
from metazoo_core.metamer.optimise import ItemState, optimise_stage, range_penalty, relative_loss
from metazoo_core.metamer.frozen import copy_model
from metazoo_core.models import load_model
from metazoo_core.numerics import condition_tolerance, relative_error, rounding_tolerance
from metazoo_core.stages import RangeClamp

RECORD_FIELDS = {"schema", "model", "family", "modality", "weights_sha256", "weights_source", "stage", "input",
                 "recipe", "seed", "versions", "loss_curve", "measures", "null", "criteria", "passed", "prediction",
                 "files", "wall_time_s", "device", "completed"}


@pytest.fixture(scope="module")
def random_model():
    return load_model("efficientnet_lite0", pretrained=False)


@pytest.fixture(scope="module")
def images(random_model):
    return [load_image(f"builtin:{n}", random_model.spec.input) for n in ("chelsea", "coffee", "rocket")]


def _metamer(out, model_id, name, stage):
    return load_file(str(out / model_id / name / stage / "metamer.safetensors"))["metamer"]


@pytest.mark.numerics
def test_one_step_is_the_normalised_gradient_step(random_model, images, tmp_path):
    """Independent check of x ← clamp(x − s·g/‖g‖₂) at the normalised-input stage, computed in float64 numpy."""
    spec = random_model.spec
    generate_metamers(random_model, images[:1], ["input_after_preproc"], iterations=1, blocks=1, seed=4,
                      out_dir=tmp_path)
    x = initial_noise(spec.input.shape, 0.5, 0.05, seed=4, index=0, clamp=(0, 1)).double().numpy()
    x0 = images[0].tensor.double().numpy()
    std = np.array(spec.normalization.std).reshape(3, 1, 1)
    g = (x - x0) / std**2  # ∇ of ‖(x − x0)/σ‖₂ up to a positive factor, which the normalisation removes
    expected = np.clip(x - 1.0 * g / np.linalg.norm(g), 0, 1)
    got = _metamer(tmp_path, spec.id, "chelsea", "input_after_preproc").double().numpy()
    # float32 engine against float64 numpy: the gradient's norm sums N terms pairwise (≤ log2 N eps relative), the
    # step and the clamp round once more; relative to max |x| ≤ 1.
    kappa = np.log2(g.size) + 2
    check(float(np.abs(got - expected).max() / np.abs(expected).max()), condition_tolerance(kappa),
          "10 x float32 eps x (log2 N + 2) (norm and step)")
    assert np.abs(got - x).max() > 1e-3  # it did move


def test_input_stage_metamer_converges_to_the_original(random_model, images):
    rec = generate_metamers(random_model, images[:1], ["input_after_preproc"], iterations=200, blocks=8,
                            out_dir=None)[0]
    assert rec["final_loss"] < 1e-3
    assert rec["measures"]["input_after_preproc"]["pearson"] > 0.99999
    assert rec["recipe"]["step_sizes"] == [1.0 / 2**b for b in range(8)]


def test_same_noise_for_every_stage_and_independent_of_batching(random_model):
    spec = random_model.spec
    a = initial_noise(spec.input.shape, 0.5, 0.05, seed=0, index=1, clamp=(0, 1))
    assert torch.equal(a, initial_noise(spec.input.shape, 0.5, 0.05, seed=0, index=1, clamp=(0, 1)))
    assert not torch.equal(a, initial_noise(spec.input.shape, 0.5, 0.05, seed=0, index=0, clamp=(0, 1)))
    assert a.mean().item() == pytest.approx(0.5, abs=1e-3) and a.std().item() == pytest.approx(0.05, rel=0.01)


def test_items_together_equal_items_alone(random_model, images, tmp_path):
    """Two inputs × two stages in one call (batch 2) vs one item per batch: the same metamers, up to 10× the
    engine's own float32 error over the same schedule (the same steps in float64, `_schedule_tolerance`).

    Run on one thread: with several threads oneDNN picks batch-size-dependent convolution kernels whose summation
    order differs, which moves the result by ~1e-4 after a dozen normalised steps — arithmetic, not coupling.
    """
    kw = dict(iterations=6, blocks=2, seed=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        together = generate_metamers(random_model, images[:2], ["stem", "blocks_1"], batch_size=2,
                                     out_dir=tmp_path / "a", **kw)
        generate_metamers(random_model, images[:2], ["stem", "blocks_1"], batch_size=1, out_dir=tmp_path / "b",
                          **kw)
    finally:
        torch.set_num_threads(threads)
    for stage in ("stem", "blocks_1"):
        tolerance = _schedule_tolerance(random_model, images[0], stage, seed=1)
        for name in ("chelsea", "coffee"):
            a = _metamer(tmp_path / "a", "efficientnet_lite0", name, stage)
            b = _metamer(tmp_path / "b", "efficientnet_lite0", name, stage)
            check(relative_error(a, b), tolerance, RULE, f"{name} {stage}")
    assert [(r["input"]["name"], r["stage"]) for r in together] == [
        ("chelsea", "stem"), ("chelsea", "blocks_1"), ("coffee", "stem"), ("coffee", "blocks_1")]
    assert together[0]["recipe"]["noise_seed"] == together[1]["recipe"]["noise_seed"]


def _schedule_tolerance(model, image, stage, seed):
    """`rounding_tolerance` of the engine's 6-iteration, 2-block feather2023 schedule at `stage` from `image`'s
    noise: its float32 result against the same steps in float64, over the noise and its one-ulp neighbours."""
    recipe = RECIPES["feather2023"].resolved(model.spec, iterations=6, blocks=2)
    model64 = copy_model(model).double()
    x0 = image.tensor[None]

    def run(noise):
        m = model if noise.dtype == torch.float32 else model64
        with torch.no_grad():
            target = m(x0.to(noise.dtype), [stage])[stage]
        (state,) = optimise_stage(m, stage, target, [ItemState(x=noise.clone())], recipe)
        return state.x

    own, _ = own_error(run, initial_noise(model.spec.input.shape, 0.5, 0.05, seed=seed, index=0, clamp=(0, 1)),
                       norm=False)
    return rounding_tolerance(own)


@pytest.mark.numerics
def test_adam_recipe_is_torch_adam_with_step_decay(random_model, images):
    """The engine's elementwise Adam (lr ×0.95 every k steps) equals torch.optim.Adam + StepLR on the same loss."""
    recipe = RECIPES["adam"].resolved(random_model.spec, iterations=6, blocks=1)
    recipe = type(recipe)(**{**recipe.as_record(), "lr": 0.01, "lr_decay_every": 2})
    x0 = images[0].tensor[None]
    with torch.no_grad():
        target = random_model(x0, ["stem"])["stem"]
    start = initial_noise(x0.shape[1:], 0.5, 0.05, 0, 0, (0, 1))
    (state,) = optimise_stage(random_model, "stem", target, [ItemState(x=start.clone())], recipe)
    x = start.clone()[None].requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.01)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.95)
    for _ in range(6):
        opt.zero_grad()
        a = random_model(x, ["stem"])["stem"].reshape(1, -1)
        t = target.reshape(1, -1)
        relative_loss(a, t, None, t.norm(dim=1)).sum().backward()  # the same loss: this test is about the update
        opt.step()
        sched.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    # Both float32, the same loss and gradient; they differ in how Adam's update is rounded. Per step x (≤ 1) rounds
    # once (eps/2) and the update lr·m̂/(√v̂ + ε) to a few eps relative (4 lr eps): 6 × (1/2 + 4·lr) eps, ×10.
    check((state.x - x[0].detach()).abs().max().item(), condition_tolerance(6 * (0.5 + 4 * 0.01)),
          "10 x float32 eps x steps x (1/2 + 4 lr) (Adam update rounding)")


def test_relative_loss_value_and_gradient_match_autograd():
    """The hand-written backward of the loss equals autograd's gradient of the plain expression (float64, with no
    mask, a 0/1 mask and a weighted mask) and passes torch's finite-difference gradcheck; a row that already
    matches its target gets gradient 0, not NaN."""
    g = torch.Generator().manual_seed(3)
    a = torch.randn(3, 40, generator=g, dtype=torch.float64)
    t = torch.randn(3, 40, generator=g, dtype=torch.float64)
    masks = [None, (torch.rand(40, generator=g) > 0.5).double(), torch.rand(40, generator=g, dtype=torch.float64)]
    w = torch.randn(3, dtype=torch.float64, generator=g)  # unequal upstream gradients per row
    for m in masks:
        mm = torch.ones(40, dtype=torch.float64) if m is None else m
        x = a.clone().requires_grad_(True)
        plain = ((x - t) * mm).square().sum(dim=1).sqrt() / (t * mm).square().sum(dim=1).sqrt()
        (expected,) = torch.autograd.grad((plain * w).sum(), x)
        x = a.clone().requires_grad_(True)
        ours = relative_loss(x, t, m, None if m is not None else t.norm(dim=1))
        (got,) = torch.autograd.grad((ours * w).sum(), x)
        # float64, 40-term sums: rounding ≈ 40 × eps64 × a small condition (1e-14), well inside these bounds
        assert torch.allclose(ours, plain.detach(), rtol=1e-12)
        assert torch.allclose(got, expected, rtol=1e-10, atol=1e-14)
        assert torch.autograd.gradcheck(lambda y, m=m: relative_loss(y, t, m), (a.clone().requires_grad_(True),))
    x = t.clone().requires_grad_(True)
    (zero,) = torch.autograd.grad(relative_loss(x, t).sum(), x)
    assert torch.equal(zero, torch.zeros_like(t))


def test_input_clamp_has_the_study_s_subgradient_at_the_bounds():
    """PyTorch 1.5 (the study) passed the clamp's gradient at x = lo and x = hi; PyTorch 2.14's own clamp gives 0
    there, which would freeze every pixel once clamped to exactly 0 or 1."""
    x = torch.tensor([-0.5, 0.0, 0.5, 1.0, 1.5], requires_grad=True)
    (g,) = torch.autograd.grad(RangeClamp.apply(x, 0.0, 1.0).sum(), x)
    assert g.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_skipping_the_in_graph_clamp_changes_nothing_for_in_range_inputs(random_model, images, one_thread):
    """`in_range=True` (what the engine passes once it has clamped x) gives the same stage and input gradient as
    the model's own call on an in-range input (with pixels at exactly 0 and 1); out of range the in-graph clamp
    is what differs. Bit-identical on one thread; at 2 threads oneDNN's summation order moves the input gradient
    by up to 2.3e-5 between the two calls (measured), so the test sets one thread itself."""
    x = images[0].tensor[None].clone()
    x[..., :8, :8], x[..., -8:, -8:] = 0.0, 1.0
    out = {}
    for flag in (False, True):
        xi = x.clone().requires_grad_(True)
        a = random_model(xi, ["blocks_1"], in_range=flag)["blocks_1"]
        out[flag] = (a.detach(), torch.autograd.grad(a.square().sum(), xi)[0])
    assert torch.equal(out[False][0], out[True][0]) and torch.equal(out[False][1], out[True][1])
    outside = x * 3 - 1
    with torch.no_grad():
        assert not torch.equal(random_model(outside, ["blocks_1"])["blocks_1"],
                               random_model(outside, ["blocks_1"], in_range=True)["blocks_1"])


def test_plenoptic_range_penalty_matches_plenoptic():
    import plenoptic as po

    x = torch.linspace(-0.5, 1.5, 48).reshape(2, 1, 4, 6)
    ours = range_penalty(x, 0.0, 1.0)
    assert ours.tolist() == pytest.approx([po.regularize.penalize_range(x[i]).item() for i in range(2)])


class _FirstChannelOnly:
    """A unit schedule: only channel 0 of the normalised input counts in the loss."""

    def mask(self, block, step):
        return torch.tensor([True, False, False]).reshape(3, 1, 1)


def test_schedule_from_the_family_masks_units(images):
    import dataclasses

    from metazoo_core.plugins import build_host

    def first_channel(spec, stage, options):
        return _FirstChannelOnly() if stage == "input_after_preproc" else None

    host = build_host()
    family = dataclasses.replace(host.families["efficientnet"], schedules={"first_channel": first_channel})
    host = dataclasses.replace(host, families={**host.families, "efficientnet": family})
    model = load_model("efficientnet_lite0", pretrained=False, plugin_host=host)
    rec = generate_metamers(model, images[:1], ["input_after_preproc"], iterations=150, blocks=6, out_dir=None,
                            plugin_host=host, schedule="first_channel")[0]
    # only channel 0 moved: the loss logged during optimisation (channel 0) is small, the final full loss is not
    assert rec["loss_curve"][-2][1] < 0.01 < rec["final_loss"]
    assert rec["measures"]["input_after_preproc"]["pearson"] < 0.9


def test_stop_loss_ends_items_early(random_model, images):
    rec = generate_metamers(random_model, images[:1], ["input_after_preproc"], iterations=100, blocks=4,
                            out_dir=None, stop_loss=0.05, log_every=10, gather_every=10)[0]
    assert rec["stopped_early"] and rec["steps_done"] < 400 and rec["steps_done"] % 10 == 0
    assert rec["loss_curve"][-2][1] < 0.05


def _check_trained_final_stage(rec, iterations, blocks):
    assert RECORD_FIELDS <= set(rec)
    assert rec["prediction"]["rule"] == "16-way" and rec["prediction"]["original"] == "cat"
    assert rec["prediction"]["match"] is True
    at = {int(s): v for s, v in rec["loss_curve"]}
    block_losses = [at[b * iterations] for b in range(blocks)] + [rec["final_loss"]]
    assert all(a > b for a, b in zip(block_losses, block_losses[1:])), block_losses
    assert rec["weights_sha256"] and rec["passed"] is None and rec["criteria"]["prediction_match"] is True
    assert set(rec["measures"]) == {"input_after_preproc", "stem", *(f"blocks_{i}" for i in range(7)), "head",
                                    "avgpool", "final"}


def test_trained_efficientnet_final_stage_short(tmp_path):
    model = load_model("efficientnet_lite0")
    img = load_image("builtin:chelsea", model.spec.input)
    rec = generate_metamers(model, [img], ["final"], iterations=25, blocks=3, out_dir=tmp_path)[0]
    _check_trained_final_stage(rec, 25, 3)
    assert json.loads((tmp_path / "efficientnet_lite0/chelsea/final/record.json").read_text())["stage"] == "final"


@pytest.mark.slow
def test_trained_efficientnet_final_stage_cli_300x3(cli, tmp_path):
    """Must-show 1: `metazoo generate efficientnet_lite0 builtin:chelsea --stage final --iterations 300 --blocks 3`."""
    res = cli("generate", "efficientnet_lite0", "builtin:chelsea", "--stage", "final", "--iterations", "300",
              "--blocks", "3", "--out", str(tmp_path), "--json", timeout=1800)  # ~105 s of CPU; slack for load
    assert res.returncode == 0, res.stderr
    (rec,) = json.loads(res.stdout)
    _check_trained_final_stage(rec, 300, 3)
    for f in ("metamer.png", "metamer.safetensors", "record.json"):
        assert (tmp_path / "efficientnet_lite0/chelsea/final" / f).is_file()
