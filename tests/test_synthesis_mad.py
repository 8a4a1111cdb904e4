"""MAD competition on two digit CNNs (different random weights, different stages) in float64: the loss curve equals
plenoptic's `MADCompetition` for 20 steps from the same start, every direction moves its metric the asked way
while the other is held, and the result round trip."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from synthesis_models import digit

from metazoo_core.synthesis.mad import DIRECTIONS, MADOptions, MADResult, mad

EPS = np.finfo(np.float64).eps


@pytest.fixture(scope="module")
def models():
    return digit(0), "relu1", digit(1), "relu2"


@pytest.fixture(scope="module")
def image():
    g = torch.Generator().manual_seed(3)
    return (0.15 + 0.7 * torch.rand(1, 1, 16, 16, generator=g)).double()


def _relative_l2(model, stage):
    """The study's distance written for plenoptic: ‖f(y) − f(x)‖₂ / ‖f(x)‖₂ at the stage (x the reference).
    plenoptic's `model_metric_factory` cannot be used: its RMSE adds 1e-10 under the root, so it is 1e-5 on identical
    images and `MADCompetition` refuses it (validate_metric asks for ≤ 5e-7)."""
    def metric(x, y):
        fx, fy = model(x, [stage])[stage], model(y, [stage])[stage]
        return torch.linalg.vector_norm(fy - fx) / torch.linalg.vector_norm(fx)
    return metric


STEPS, SEED, TRADEOFF = 20, 7, 1.0


@pytest.fixture(scope="module")
def ours(models, image):
    ma, sa, mb, sb = models
    return mad(ma, sa, mb, sb, image, MADOptions(iterations=STEPS, tradeoff=TRADEOFF, seed=SEED))[0]


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_loss_curve_equals_plenoptic(models, image, ours, direction):
    po = pytest.importorskip("plenoptic")
    ma, sa, mb, sb = models
    metric_a, metric_b = _relative_l2(ma, sa), _relative_l2(mb, sb)
    opt, ref = (metric_a, metric_b) if direction.endswith("_a") else (metric_b, metric_a)
    theirs = po.MADCompetition(image, opt, ref, direction[:3], metric_tradeoff_lambda=TRADEOFF)
    torch.manual_seed(SEED)  # plenoptic draws its start noise from the global generator, as metazoo from its seed
    theirs.setup(0.1)
    assert torch.equal(theirs.initial_image, ours.start.unsqueeze(0))
    theirs.synthesize(max_iter=STEPS, stop_criterion=0.0)
    want = np.asarray(theirs.losses, dtype=np.float64)[:STEPS]  # plenoptic appends the loss after the last step
    got = ours.losses[DIRECTIONS.index(direction)].numpy()
    # float64, the same operations (batched here, one image there): per-step rounding ~ eps carried through 20 Adam
    # steps; 1e4·eps·steps bounds that growth (the curves were bit-identical when this test was written)
    assert np.abs(got - want).max() <= 1e4 * EPS * STEPS * np.abs(want).max()


def test_directions_move_their_metric_and_hold_the_other(models, image):
    ma, sa, mb, sb = models
    (res,) = mad(ma, sa, mb, sb, image, MADOptions(iterations=150, tradeoff=1e3, seed=SEED))
    for j, d in enumerate(DIRECTIONS):
        moved, held = (res.metric_a[j], res.metric_b[j]) if d.endswith("_a") else (res.metric_b[j], res.metric_a[j])
        if d.startswith("min"):
            assert moved[-1] < 0.7 * moved[0]
        else:
            assert moved[-1] > 1.3 * moved[0]
        assert res.record["reference_held_relative"][j] < 0.1
        assert abs(float(held[-1]) - res.record["reference_target"][j]) == pytest.approx(
            res.record["reference_held_relative"][j] * res.record["reference_target"][j])


def test_save_read_plot(ours, tmp_path):
    ours.save(tmp_path / "m")
    back = MADResult.read(tmp_path / "m")
    assert torch.equal(back.images, ours.images) and torch.equal(back.losses, ours.losses)
    assert back.record["options"]["seed"] == SEED and "torch" in back.record["versions"]
    assert len(back.plot().axes) == 8


def test_bad_options_are_one_line():
    from metazoo_core.errors import InputError

    with pytest.raises(InputError, match="--direction"):
        MADOptions(directions=("up",))
    with pytest.raises(InputError, match="--metric-a"):
        MADOptions(metric_a="ssim")
