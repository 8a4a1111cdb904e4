"""HMAX: stage sizes (facts §7), S1 Gabors, C1/S2/C2 against direct computations, patch sets, the unit schedule."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tolerance import check

from metazoo_core.metamer.schedules import UnitSchedule
from metazoo_core.models import load_model
from metazoo_core.numerics import condition_tolerance, relative_error
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
        # Built in float64, stored in float32 (each entry off by ≤ eps/2 relative, |k| ≤ 1): the mean moves by
        # ≤ 6e-8 and Σk² by ≤ eps = 1.2e-7, inside these bounds; a missing normalisation is off by O(1).
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


def _direct_s1(img: torch.Tensor, s1: S1, scales: tuple[int, ...]) -> torch.Tensor:
    """The study's S1 in float64 by direct conv2d at `scales` (4 channels each): |conv| zeroed at the border over
    sqrt(relu(box(img²)) + 1e-10)."""
    x = img.double()
    ref = []
    for size, bank in ((layout.S1_SIZES[i], s1.kernels()[i]) for i in scales):
        r = size // 2
        resp = F.conv2d(x, bank.double(), padding=r).abs()
        resp[..., :r, :] = 0
        resp[..., -r:, :] = 0
        resp[..., :, :r] = 0
        resp[..., :, -r:] = 0
        energy = F.conv2d(x ** 2, torch.ones(1, 1, size, size, dtype=torch.float64), padding=r)
        ref.append(resp / torch.sqrt(energy.clamp(min=0) + 1e-10))
    return torch.cat(ref, 1)


def _grey(name: str, size: int = 250) -> torch.Tensor:
    from metazoo_core.io.images import load_image
    from metazoo_core.registry import InputSpec

    return load_image(f"builtin:{name}", InputSpec(shape=[1, size, size], range=(0, 255), colour="grey")).tensor[None]


@pytest.mark.parametrize("case", ["astronaut", pytest.param("padded crop", marks=pytest.mark.numerics)])
def test_s1_equals_direct_convolution_on_black_regions(case):
    """The Fourier-domain S1 against the definition in float64, on inputs with exactly-black regions (astronaut:
    11 % zero pixels; a coffee crop zero-padded to 188 px: 54 %). By Cauchy–Schwarz (unit-norm kernels) every
    response lies in [0, 1]; a float32 Fourier S1 gave up to 18.8 on black regions (FFT rounding / sqrt(1e-10)).
    The float64 reference is direct convolution at 4 of the 16 scales (smallest, two middle, largest) to stay fast;
    the range is checked on all 64 channels."""
    s1 = S1()
    img = _grey("astronaut") if case == "astronaut" else F.pad(_grey("coffee")[..., 60:188, 40:168], (30,) * 4)
    assert (img == 0).float().mean() > 0.1
    full = s1(img)
    assert full.dtype == torch.float32 and full.min() >= 0 and full.max() <= 1
    scales = (0, 5, 10, 15)
    out = torch.cat([full[:, 4 * i:4 * i + 4] for i in scales], 1)
    ref = _direct_s1(img, s1, scales)
    assert ref.max() <= 1 + 1e-12
    # S1 is computed in float64 and rounded once to float32: condition 1, so 10 float32 eps of the largest response
    # (float64 FFT rounding, ~1e-15, is far below).
    check(relative_error(out.double(), ref), condition_tolerance(1.0), "10 x float32 eps (float64 S1, one rounding)")
    assert out.max() > 0.3 and int((ref[out == 0] != 0).sum()) == 0  # zeroed only where the reference is 0


def test_c1_maxima_on_bundled_photos_stay_in_the_unit_range():
    """C1 = max of S1 ∈ [0, 1]: measured per-band maxima on the 8 bundled photos are 0.12–0.63 (docs/fidelity.md)."""
    c1 = C1()(S1()(torch.cat([_grey("astronaut"), _grey("chelsea")])))
    maxima = torch.stack([b.amax((1, 2, 3)) for b in split_c1(c1, 250)])
    assert maxima.max() <= 0.7 and maxima.min() >= 0.1


@pytest.mark.numerics
def test_s1_is_contrast_invariant_and_zero_at_borders(photo):
    s1 = S1()
    a, b = s1(photo), s1(photo * 0.25)
    # ×0.25 is exact in binary floating point; S1 runs in float64 and is rounded once to float32 (condition 1).
    check(relative_error(b, a), condition_tolerance(1.0), "10 x float32 eps (float64 S1, one rounding)")
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
            # a max of the same float32 values: exact
            torch.testing.assert_close(bands[band][0, :, i, j], window.amax((1, 2)), rtol=0, atol=0)


@pytest.mark.numerics
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
                window, patch = padded[:, i:i + p, j:j + p].double(), patch_set[k][n].double()
                d = ((window - patch) ** 2).sum()
                # float64 reference. float32 S2 (‖x‖² − 2x·p + ‖p‖² over 4p² terms) errs in d by up to
                # 4p²·eps·(‖x‖² + ‖p‖²), so exp(−d/2) relatively by half that: eps × this condition number.
                kappa = 4 * p * p * float((window ** 2).sum() + (patch ** 2).sum()) / 2
                got = maps[k][b][0, n, i, j].double()
                check(float(abs(got - torch.exp(-d / 2)) / torch.exp(-d / 2)), condition_tolerance(max(kappa, 1.0)),
                      "10 x float32 eps x 4p²(‖x‖²+‖p‖²)/2 (S2 distance)", f"S2 size {p}")
            assert maps[k][b].shape[-1] == C1_SIDES[b] + 1 - p % 2
    flat = s2(c1)
    c2 = C2(sizes, 250, 3)(flat)
    expected = torch.stack([torch.stack([m[0].amax((1, 2)) for m in maps[k]]).amax(0) for k in range(2)])
    torch.testing.assert_close(c2[0], expected, rtol=0, atol=0)  # a max of the same float32 values: exact


# -- patch sets -----------------------------------------------------------------------------------------------------
_GENERATE = """
import sys
from safetensors.torch import save_file
from metazoo_plugins.hmax import patches
for seed in (0, 1):
    out = patches.generate(seed=seed, patch_sizes=(4, 8), n_patches=12, photos=("astronaut", "gravel"), image_size=100)
    save_file({f"scale{k}": p for k, p in enumerate(out)}, f"{sys.argv[1]}/seed{seed}.safetensors")
"""


def test_generate_is_seeded_in_a_fresh_process_and_cuts_c1_windows(tmp_path):
    """`patches.generate` (not the cache) in two fresh processes: equal for one seed, different for another; every
    patch equals a (4, p, p) window of the C1 bands of one of the source photos (100 px photos keep it fast)."""
    import subprocess
    import sys

    from safetensors.torch import load_file

    runs = []
    for k in range(2):
        (tmp_path / str(k)).mkdir()
        subprocess.run([sys.executable, "-c", _GENERATE, str(tmp_path / str(k))], check=True, timeout=300)
        runs.append({s: load_file(str(tmp_path / str(k) / f"seed{s}.safetensors")) for s in (0, 1)})
    for key in ("scale0", "scale1"):
        assert torch.equal(runs[0][0][key], runs[1][0][key])
        assert not torch.equal(runs[0][0][key], runs[0][1][key])
    bands = split_c1(C1()(S1()(torch.cat([_grey("astronaut", 100), _grey("gravel", 100)]))), 100)
    for key, p in (("scale0", 4), ("scale1", 8)):
        cut = runs[0][0][key]
        assert cut.shape == (12, 4, p, p) and cut.max() <= 1 and cut.min() >= 0
        windows = torch.cat([b.unfold(2, p, 1).unfold(3, p, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, 4, p, p)
                             for b in bands])
        for patch in cut:
            assert (windows - patch).abs().amax((1, 2, 3)).min() == 0


def test_patch_cache_is_keyed_on_the_generating_code(monkeypatch, tmp_path):
    """`generated` reuses a cached set only for the code that made it: a new GENERATOR_VERSION or a changed source
    file of the generator (here: model.py) builds the set again. `generate` is replaced by a counter (the cache
    logic is under test here; the generator itself is tested above)."""
    from pathlib import Path

    monkeypatch.setenv("METAZOO_CACHE", str(tmp_path))
    calls = []

    def fake_generate(seed, sizes, image_size=250):
        calls.append(seed)
        return [torch.full((2, 4, p, p), float(len(calls))) for p in sizes]

    monkeypatch.setattr(patches, "generate", fake_generate)
    first = patches.generated(seed=0, patch_sizes=(4,))
    assert torch.equal(patches.generated(seed=0, patch_sizes=(4,))[0], first[0]) and len(calls) == 1
    monkeypatch.setattr(patches, "GENERATOR_VERSION", patches.GENERATOR_VERSION + 1)
    patches.generated(seed=0, patch_sizes=(4,))
    assert len(calls) == 2
    from metazoo_plugins.hmax import model

    source = Path(model.__file__).read_bytes()
    real_read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes",
                        lambda self: source + b"#" if self == Path(model.__file__) else real_read(self))
    assert patches.generated(seed=0, patch_sizes=(4,))[0][0, 0, 0, 0] == 3 and len(calls) == 3


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
