"""HMAX: stage sizes (facts §7), S1 Gabors, C1/S2/C2 against direct computations, patch sets, the unit schedule."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from metazoo_core.metamer.schedules import UnitSchedule
from metazoo_core.models import load_model
from metazoo_core.plugins import host
from metazoo_core.stages import stage_shapes
from metazoo_plugins.hmax import layout, patches
from metazoo_plugins.hmax.model import C1, C2, S1, S2, convert_checkpoint, gabor_filter, split_c1
from metazoo_plugins.hmax.schedule import HmaxUnitSchedule

C1_SIDES = [63, 51, 42, 36, 32, 28, 26, 23]  # facts §7 / §14


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    from metazoo_core.io.images import load_image
    from metazoo_core.registry import InputSpec

    spec = InputSpec(shape=[1, 250, 250], range=(0, 255), colour="grey")
    return load_image("builtin:coffee", spec).tensor[None]


def _schedule(stage: str, **options) -> HmaxUnitSchedule:
    spec = host().registry.get("hmax")
    return host().schedule(spec, stage, options)


# -- stages ---------------------------------------------------------------------------------------------------------
def test_stage_names_and_shapes():
    model = load_model("hmax", pretrained=False, device="meta")
    shapes = stage_shapes(model)
    assert list(shapes) == ["s1", "c1", "s2", "c2", "final"]
    assert shapes["s1"] == (64, 250, 250)
    assert shapes["c1"] == (50572,)  # facts §7: 4 · Σ H² over the 8 bands
    assert sum(4 * h * h for h in C1_SIDES) == 50572
    # even patch sizes: every band gives H + 1 px per patch; 8 scales × 400 patches
    assert shapes["s2"] == (8 * 400 * sum((h + 1) ** 2 for h in C1_SIDES),) == (42409600,)
    assert shapes["c2"] == (8, 400) and shapes["final"] == (1000,)
    assert model.spec.input.shape == [1, 250, 250] and model.spec.input.range == (0, 255)
    assert model.spec.normalization is None
    assert layout.c1_sizes(250) == C1_SIDES


# -- S1 -------------------------------------------------------------------------------------------------------------
def test_s1_filters_zero_mean_unit_norm_with_listed_sizes():
    s1 = S1()
    assert [k.shape[-1] for k in s1.kernels()] == list(range(7, 38, 2))
    for bank, size, wl in zip(s1.kernels(), layout.S1_SIZES, layout.S1_WAVELENGTHS):
        assert bank.shape == (4, 1, size, size)
        k = bank[:, 0].double()
        torch.testing.assert_close(k.mean((1, 2)), torch.zeros(4, dtype=torch.float64), atol=1e-7, rtol=0)
        torch.testing.assert_close(k.pow(2).sum((1, 2)), torch.ones(4, dtype=torch.float64), atol=1e-6, rtol=0)
        # the circular mask is applied before the mean is removed: corners equal minus the mean, not 0 (facts §14)
        raw = gabor_filter(size, wl, 0.0)
        assert raw[0, 0] != 0 and abs(raw[0, 0] - raw[0, -1]) < 1e-12
    assert layout.S1_WAVELENGTHS[0] == 4.0 and layout.S1_WAVELENGTHS[-1] == 3.25
    assert layout.ORIENTATIONS == (90.0, -45.0, 0.0, 45.0)


@pytest.mark.parametrize("orientation, stripes", [
    (0.0, lambda r, c: c),                        # vertical bars: luminance varies along columns
    (90.0, lambda r, c: r),                       # horizontal bars
    (45.0, lambda r, c: (c - r) / math.sqrt(2)),
    (-45.0, lambda r, c: (c + r) / math.sqrt(2)),
])
def test_s1_prefers_the_orientation_of_a_grating(orientation, stripes):
    s1 = S1()
    r, c = torch.meshgrid(torch.arange(250.0), torch.arange(250.0), indexing="ij")
    channel = layout.ORIENTATIONS.index(orientation)
    for scale in (0, 5, 10, 15):
        period = 2 * layout.S1_SIZES[scale] / layout.S1_WAVELENGTHS[scale]
        img = (127.5 + 100 * torch.cos(2 * math.pi * stripes(r, c) / period))[None, None]
        resp = s1(img)[0, 4 * scale:4 * scale + 4, 100:150, 100:150].mean((1, 2))
        assert int(resp.argmax()) == channel, (scale, resp)
        assert resp[channel] > 2 * resp[[i for i in range(4) if i != channel]].max()


def test_s1_equals_direct_convolution(photo):
    """The Fourier-domain S1 against the definition: |conv2d| zeroed at the border over the local image norm."""
    s1 = S1()
    photo = photo[..., 60:188, 40:168]  # a 128 px crop keeps the float64 reference fast
    out = s1(photo)
    ref = []
    for size, bank in zip(layout.S1_SIZES, s1.kernels()):
        r = size // 2
        resp = F.conv2d(photo.double(), bank.double(), padding=r).abs()
        resp[..., :r, :] = 0
        resp[..., -r:, :] = 0
        resp[..., :, :r] = 0
        resp[..., :, -r:] = 0
        energy = F.conv2d(photo.double() ** 2, torch.ones(1, 1, size, size, dtype=torch.float64), padding=r)
        ref.append(resp / torch.sqrt(energy.clamp(min=0) + 1e-10))
    ref = torch.cat(ref, 1).float()
    torch.testing.assert_close(out, ref, atol=2e-6, rtol=1e-4)
    assert out.abs().max() > 0.1


def test_s1_is_contrast_invariant_and_zero_at_borders(photo):
    s1 = S1()
    a, b = s1(photo), s1(photo * 0.25)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    for i, size in enumerate(layout.S1_SIZES):
        r = size // 2
        ch = a[0, 4 * i:4 * i + 4]
        assert ch[:, :r].abs().max() == 0 and ch[:, -r:].abs().max() == 0 and ch[:, :, :r].abs().max() == 0
        assert ch[:, r:-r, r:-r].abs().max() > 0


# -- C1, S2, C2 against direct computations --------------------------------------------------------------------------
def test_c1_is_max_over_scale_pairs_and_space(photo):
    s1 = S1()(photo)
    bands = split_c1(C1()(s1), 250)
    assert [b.shape[-1] for b in bands] == C1_SIDES
    for band, k in ((0, 8), (3, 14), (7, 22)):
        pair = s1[0, 8 * band:8 * band + 8].view(2, 4, 250, 250).amax(0)
        stride, pad = k // 2, k // 2
        for i, j in ((0, 0), (5, 7), (C1_SIDES[band] - 1, C1_SIDES[band] - 1)):
            r0, c0 = max(i * stride - pad, 0), max(j * stride - pad, 0)
            window = pair[:, r0:i * stride - pad + k, c0:j * stride - pad + k]
            torch.testing.assert_close(bands[band][0, :, i, j], window.amax((1, 2)))


def test_s2_gaussian_of_patch_distance_and_c2_max():
    torch.manual_seed(0)
    sizes = (4, 6)
    patch_set = [torch.rand(3, 4, p, p) * 0.3 for p in sizes]
    c1 = torch.rand(1, layout.c1_slices(250)[-1][1]) * 0.3
    s2 = S2(patch_set, 250)
    maps = s2.scale_maps(c1)
    bands = split_c1(c1, 250)
    for k, p in enumerate(sizes):
        for b in (0, 7):
            padded = F.pad(bands[b][0], (p // 2,) * 4)
            for n, i, j in ((0, 0, 0), (2, 10, 3), (1, maps[k][b].shape[-1] - 1, 5)):
                d = ((padded[:, i:i + p, j:j + p] - patch_set[k][n]) ** 2).sum()
                torch.testing.assert_close(maps[k][b][0, n, i, j], torch.exp(-d / 2), atol=1e-5, rtol=1e-4)
            assert maps[k][b].shape[-1] == C1_SIDES[b] + 1 - p % 2
    flat = s2(c1)
    c2 = C2(sizes, 250, 3)(flat)
    expected = torch.stack([torch.stack([m[0].amax((1, 2)) for m in maps[k]]).amax(0) for k in range(2)])
    torch.testing.assert_close(c2[0], expected)


# -- patch sets -----------------------------------------------------------------------------------------------------
def test_generated_patch_set_is_deterministic_and_cut_from_c1(photo):
    a = patches.generated(seed=0)
    b = patches.generated(seed=0)
    assert [tuple(p.shape) for p in a] == [(400, 4, s, s) for s in layout.DEFAULT_PATCH_SIZES]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert all(p.min() >= 0 and p.max() <= 1 for p in a)  # C1 values: normalised S1 responses
    assert sum(int((p.abs().sum((1, 2, 3)) > 0).sum()) for p in a) > 0.95 * 3200


def test_original_mat_patch_set_is_read_in_matlab_layout(tmp_path, monkeypatch):
    from scipy.io import savemat

    rng = np.random.default_rng(1)
    sizes = [4, 8]
    mine = [rng.random((400, 4, p, p)).astype(np.float32) for p in sizes]
    cells = np.empty((1, 2), dtype=object)
    for k, arr in enumerate(mine):  # MATLAB stores (p, p, 4, 400) column-major: flat index = x + p·(y + p·o)
        cells[0, k] = arr.transpose(1, 3, 2, 0).reshape(-1, 400)
    path = tmp_path / "universal_patch_set.mat"
    savemat(path, {"patches": cells, "patchSizes": np.array([[p, p, 4, 400] for p in sizes]).T})
    loaded = patches.load_mat(path)
    for got, want in zip(loaded, mine):
        np.testing.assert_array_equal(got.numpy(), want)
    monkeypatch.setenv(patches.PATCH_SET_ENV, str(tmp_path / "missing.mat"))
    with pytest.raises(Exception, match="does not exist"):
        load_model("hmax", pretrained=False)


def test_study_checkpoint_readout_and_patches_load():
    model = load_model("hmax", pretrained=False)
    theirs = [torch.rand(400, 4, p, p) for p in layout.DEFAULT_PATCH_SIZES]
    state = {"module.model.fc.weight": torch.randn(1000, 3200), "module.model.fc.bias": torch.randn(1000),
             "module.attacker.model.fc.weight": torch.zeros(1000, 3200)}
    for k, p in enumerate(theirs):  # the study's S2 conv weight: (4·400, 1, p, p), orientation-major
        state[f"module.model.s2_units.{k}.conv.weight"] = p.transpose(0, 1).reshape(1600, 1, p.shape[-1], p.shape[-1])
        state[f"module.model.s1_units.{k}.gabor.weight"] = torch.zeros(4, 1, 7, 7)
    converted = convert_checkpoint(state, model.net)
    model.net.load_state_dict(converted, strict=True)
    for mine, want in zip(model.net.s2.patch_sets(), theirs):
        assert torch.equal(mine, want)
    assert torch.equal(model.net.fc.bias, state["module.model.fc.bias"])


# -- the unit schedule ----------------------------------------------------------------------------------------------
def test_schedule_hook_returns_unit_schedules_for_s_and_c_stages_only():
    for stage in ("s1", "c1", "s2", "c2"):
        assert isinstance(_schedule(stage), UnitSchedule)
    assert _schedule("final") is None and _schedule("input_after_preproc") is None


def test_paper_schedule_units_at_chosen_steps():
    """Seed: one S1 channel / C1 band / S2–C2 patch scale, redrawn every 50 steps for the first 2000 steps of
    every 3000-step block, all units for the remaining 1000."""
    s1 = _schedule("s1", seed=3, iterations=3000, blocks=8)
    for block in (0, 4, 7):
        for step in (0, 49, 50, 1234, 1999):
            m = s1.mask(block, step)
            assert m.shape == (64, 1, 1) and int(m.sum()) == 1
        for step in (2000, 2500, 2999):
            assert s1.mask(block, step) is None
        firsts = [int(s1.mask(block, 50 * d).flatten().nonzero()) for d in range(40)]
        assert all(int(s1.mask(block, 50 * d + 49).flatten().nonzero()) == firsts[d] for d in range(40))
        assert len(set(firsts)) > 10  # redrawn, not fixed

    c1 = _schedule("c1", seed=3)
    m = c1.mask(0, 10)
    band = c1.group(0, 10)
    start = sum(4 * h * h for h in C1_SIDES[:band])
    assert m.shape == (50572,) and int(m.sum()) == 4 * C1_SIDES[band] ** 2
    assert m[start:start + 4 * C1_SIDES[band] ** 2].all()

    s2 = _schedule("s2", seed=3)
    m = s2.mask(1, 0)
    assert m.shape == (42409600,) and int(m.sum()) == 400 * sum((h + 1) ** 2 for h in C1_SIDES)

    c2 = _schedule("c2", seed=3)
    m = c2.mask(2, 100)
    assert m.shape == (8, 1) and int(m.sum()) == 1
    assert c2.mask(2, 2000) is None


def test_code_variant_uses_first_400_steps_and_not_the_last_block():
    s1 = _schedule("s1", seed=0, iterations=3000, blocks=8, variant="code")
    assert s1.mask(0, 399) is not None and s1.mask(0, 400) is None
    assert s1.mask(6, 0) is not None and s1.mask(7, 0) is None
    assert len({s1.group(0, 50 * d) for d in range(8)}) >= 2
    by_name = _schedule("s1", seed=0, iterations=3000, blocks=8, name="hmax_units_code")
    assert by_name.variant == "code" and by_name.mask(0, 400) is None
    assert _schedule("s1", name="none") is None


def test_schedule_scales_with_iterations_and_is_deterministic():
    short = _schedule("s1", seed=5, iterations=300, blocks=2)
    assert (short.period, short.subset_steps) == (5, 200)
    assert short.mask(0, 199) is not None and short.mask(0, 200) is None
    again = _schedule("s1", seed=5, iterations=300, blocks=2)
    order = [(b, s) for b in (1, 0) for s in (150, 3, 77, 0)]
    assert all(torch.equal(short.mask(b, s), again.mask(b, s)) for b, s in reversed(order))  # any call order
    other = _schedule("s1", seed=6, iterations=300, blocks=2)
    assert any(short.group(0, 5 * d) != other.group(0, 5 * d) for d in range(40))
    drawn = {short.group(b, 5 * d) for b in range(50) for d in range(40)}
    assert drawn == set(range(64))
    with pytest.raises(Exception, match="variant"):
        _schedule("s1", variant="fast")


# -- an S1 metamer against a null (must-show 5) ----------------------------------------------------------------------
@pytest.mark.slow
def test_s1_metamer_of_a_photo_passes_the_snr_criterion(tmp_path):
    """Seed: HMAX metamers are accepted on dB SNR only. A short run (2 blocks × 20 steps, unit schedule scaled
    to it) of `chelsea` at s1 must beat the maximum SNR of a null from other bundled photos (augmented pairs).
    The model is HMAX restricted to its s1 stage, so the null and the measures skip the 42-million-unit s2."""
    from metazoo_core.inputs import load_input
    from metazoo_core.metamer import build_null, generate_metamers

    spec = host().registry.get("hmax")
    model = load_model(spec.model_copy(update={"stages": [spec.stage("s1")]}), pretrained=False)
    photos = [load_input(f"builtin:{n}", spec) for n in ("astronaut", "camera", "coffee", "rocket", "motorcycle")]
    null = build_null(model, photos, pairs=6, seed=0, augment=True, batch_size=4)
    record, = generate_metamers(model, [load_input("builtin:chelsea", spec)], ["s1"], iterations=20, blocks=2,
                                seed=0, out_dir=tmp_path, null=null)
    threshold = null.max("s1")["snr_db"]
    assert record["recipe"]["schedule"] == "hmax_units"
    assert record["criteria"]["spearman"] is None and record["criteria"]["pearson"] is None  # SNR only (seed)
    assert record["measures"]["s1"]["snr_db"] > threshold + 1.0
    assert record["criteria"]["snr_db"] is True
    curve = [loss for _, loss in record["loss_curve"]]
    assert curve[-1] < 0.7 * curve[0]
    assert (tmp_path / "hmax" / "chelsea" / "s1" / "record.json").is_file()
