"""The study's cochleagram (facts §5, §14; seed "Auditory model cochlear stage"): constants, tiling, envelope,
downsampling, compression and gradients, each against a number or an independent numpy/scipy computation."""
import numpy as np
import pytest
import torch
from scipy.signal import hilbert
from scipy.signal.windows import kaiser
from tolerance import check, check_reference

from metazoo_core.audio.cochleagram import ClippedGradPower, Cochleagram, downsample_kernel
from metazoo_core.audio.erb import erb_cos_filters, freq_to_erb
from metazoo_core.numerics import condition_tolerance

SR = 20000
T = np.arange(40000) / SR


@pytest.fixture(scope="module")
def coch():
    return Cochleagram()


@pytest.fixture(scope="module")
def coch64(coch):
    """The same cochleagram in float64 (its float32-stored filters and kernel widened): the reference run."""
    import copy

    return copy.deepcopy(coch).double()


def _tone(freq, amp=0.1 * np.sqrt(2)):
    return torch.tensor(amp * np.sin(2 * np.pi * freq * T), dtype=torch.float32).unsqueeze(0)


def test_shape_211_by_390(coch):
    assert coch(torch.zeros(2, 40000)).shape == (2, 1, 211, 390)
    assert coch(torch.zeros(1, 1, 40000)).shape == (1, 1, 211, 390)  # the study's (B, 1, 40000) layout


def test_filter_bank_layout():
    filters, cf = erb_cos_filters()
    assert filters.shape == (211, 20001)
    bp = cf[4:-4]
    assert len(bp) == 203
    np.testing.assert_allclose(np.diff(freq_to_erb(bp)), 0.16360, atol=5e-6)  # 6.112 channels per ERB (§14)
    assert 54 < bp[0] < 56 and 9800 < bp[-1] < 9840  # BP CFs ≈ 55 Hz … 9.82 kHz (§5)
    assert np.all(np.diff(cf) > 0)  # ordered low → high
    assert filters.min() >= 0  # zero-phase, real, non-negative half-cosines


@pytest.mark.numerics
def test_squared_responses_tile_flat(coch):
    total64 = (erb_cos_filters()[0] ** 2).sum(axis=0)
    np.testing.assert_allclose(total64, 1.0, atol=1e-12)  # float64: ≤ 2 overlapping filters per bin, sums of 2 terms
    total32 = coch.filters.double().square().sum(dim=0)
    # float32-stored filters: each value off by ≤ eps/2 relative, its square by ≤ eps, so Σh² = 1 by ≤ eps
    # (condition 1; facts §14: 6e-8 measured in float32; must-show bound 1e-4).
    check(float((total32 - 1).abs().max()), condition_tolerance(1.0), "10 x float32 eps (float32-stored filters)")


def test_downsampling_kernel_constants():
    h = downsample_kernel()
    assert h.shape == (1001,)
    assert abs(h.sum() - 1.000945) < 1e-6  # DC gain (§14)
    t = np.arange(1001) - 500.5  # half-integer grid −500.5 … 499.5 (§5)
    np.testing.assert_allclose(h, kaiser(1001, 5.0) * np.sinc(t / 100) / 100, rtol=1e-12)
    assert int(np.argmax(h)) == 500  # t = −0.5, where the window peaks


@pytest.mark.numerics
def test_silence_gives_the_floor_value(coch, coch64):
    y = coch(torch.zeros(1, 40000))
    np.testing.assert_allclose(y.numpy(), 0.004902, atol=1e-6)  # (1.0009e-8 + 1e-8)^0.3 (§14), quoted to 4 digits
    floor = (downsample_kernel().sum() * 1e-8 + 1e-8) ** 0.3  # the envelope floor through the kernel, in float64
    check_reference(coch, torch.zeros(1, 40000), np.full(tuple(y.shape), floor), f64=coch64, what="floor")


@pytest.mark.parametrize("freq", [100.0, 437.0, 1000.0, 3500.0, 7777.0])
def test_tone_peaks_in_the_nearest_channel(coch, freq):
    y = coch(_tone(freq))[0, 0].mean(dim=1).numpy()
    cf = erb_cos_filters()[1]
    assert int(np.argmax(y)) == int(np.argmin(np.abs(cf - freq)))


def test_tone_level_is_quarter_amplitude_compressed(coch):
    amp = 0.1 * np.sqrt(2)
    y = coch(_tone(1000.0, amp))
    # Not a rounding bound: the tone sits between channel centres and the envelope ripples, 0.1-0.2 % off the ideal.
    assert float(y.max()) == pytest.approx((amp / 4) ** 0.3, rel=2e-3)  # envelope without ×2, filters /2 (§14)


@pytest.mark.numerics
def test_envelope_is_half_the_analytic_magnitude(coch, coch64):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.1, 40000)
    ch = 100
    h = erb_cos_filters()[0][ch]
    subband = np.fft.irfft(np.fft.rfft(x) * h, n=40000)
    expected = np.maximum(np.abs(hilbert(subband)) / 2, 1e-8)
    # scipy's analytic signal halves DC and Nyquist differently only at those two bins (the filter is 0 there)
    check_reference(lambda v: coch.envelopes(v)[0, ch], torch.tensor(x, dtype=torch.float32).unsqueeze(0), expected,
                    f64=lambda v: coch64.envelopes(v)[0, ch], what="envelope")


@pytest.mark.numerics
def test_downsampling_is_valid_stride_100(coch, coch64):
    env = torch.rand(1, 2, 40000, dtype=torch.float32)
    h = downsample_kernel()
    e = env[0, 1].double().numpy()
    expected = np.array([np.dot(e[100 * j:100 * j + 1001], h) for j in range(390)])  # frame j: samples 100j…100j+1000
    check_reference(lambda v: coch.downsample(v)[0, 1], env, expected, f64=lambda v: coch64.downsample(v)[0, 1],
                    what="downsampled")


def test_am_tone_envelope_shows_8_hz(coch):
    x = 0.05 * (1 + 0.8 * np.sin(2 * np.pi * 8 * T)) * np.sin(2 * np.pi * 2000 * T)
    y = coch(torch.tensor(x, dtype=torch.float32).unsqueeze(0))[0, 0].numpy()
    channel = y[int(np.argmax(y.mean(axis=1)))]
    spectrum = np.abs(np.fft.rfft(channel - channel.mean()))
    freqs = np.fft.rfftfreq(len(channel), d=1 / 200)
    assert abs(freqs[int(np.argmax(spectrum))] - 8.0) < 0.6  # frequency resolution 200/390 = 0.51 Hz


def test_clipped_power_gradient():
    x = torch.tensor([0.0, 1e-6, 1.0, -0.5], dtype=torch.float64, requires_grad=True)
    ClippedGradPower.apply(x, 0.3, 1e-8, 5.0).sum().backward()
    expected = np.minimum(0.3 * (np.maximum([0.0, 1e-6, 1.0, -0.5], 0) + 1e-8) ** -0.7, 5.0)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-9)  # clipped at 5; fake ReLU passes x < 0


@pytest.mark.parametrize("kind", ["silence", "clipped"])
def test_gradients_finite(coch, kind):
    x = torch.zeros(1, 40000) if kind == "silence" else torch.sign(_tone(440.0)) * 1.0
    x.requires_grad_(True)
    coch(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    if kind == "silence":  # every |z|² sits on the 1e-16 floor, whose clamp passes no gradient (as the study's code)
        assert float(x.grad.abs().max()) == 0.0
    else:
        assert float(x.grad.abs().sum()) > 0


def test_builds_and_runs_on_meta():
    with torch.device("meta"):
        m = Cochleagram()
    assert m.filters.device.type == "meta"
    assert m(torch.zeros(3, 40000, device="meta")).shape == (3, 1, 211, 390)
