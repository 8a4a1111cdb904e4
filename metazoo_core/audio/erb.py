"""ERB-spaced half-cosine filters that tile the spectrum (the study's cochlear filter bank; facts §5, §14).

`erb_cos_filters(40000, 20000)` gives 211 real, zero-phase frequency responses on the rFFT grid (20001 bins,
0 … 10 kHz): 4 low-pass, 203 band-pass half-cosines equally spaced on the ERB_N scale between 50 Hz and 10 kHz
(each spanning ±4 spacings = one half period of a cosine), and 4 high-pass filters, ordered low → high. With the
×4 oversampling every frequency is covered by 4 overlapping cosines; after division by sqrt(4) = 2 the squared
responses sum to 1 at every bin (perfect tiling). Pure numpy (float64): cheap, and usable on the meta device.
"""
from __future__ import annotations

import functools

import numpy as np

ERB_Q = 9.265
"""Glasberg & Moore ERB_N constants: ERB number(f) = 9.265·ln(1 + f / (24.7·9.265))."""
ERB_MIN_BW = 24.7


def freq_to_erb(f_hz: np.ndarray | float) -> np.ndarray:
    """Frequency (Hz) → ERB-number (Cams)."""
    return ERB_Q * np.log1p(np.asarray(f_hz, dtype=np.float64) / (ERB_MIN_BW * ERB_Q))


def erb_to_freq(erb: np.ndarray | float) -> np.ndarray:
    """ERB-number (Cams) → frequency (Hz)."""
    return ERB_MIN_BW * ERB_Q * np.expm1(np.asarray(erb, dtype=np.float64) / ERB_Q)


@functools.lru_cache(maxsize=4)
def erb_cos_filters(signal_size: int = 40000, sr: int = 20000, n: int = 50, low_hz: float = 50.0,
                    high_hz: float = 10000.0, sample_factor: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(filters (n_channels, signal_size//2 + 1), centre frequencies (n_channels,) in Hz), low → high.

    n_channels = sample_factor·(n + 1) − 1 band-pass + 2·sample_factor low/high-pass = 211 for the defaults.
    The arrays are read-only (cached).
    """
    if signal_size % 2:
        raise ValueError("signal_size must be even (the study's 40000 samples)")
    n_bins = signal_size // 2 + 1
    freqs = np.linspace(0.0, sr / 2, n_bins)
    freqs_erb = freq_to_erb(freqs)
    n_bp = sample_factor * (n + 1) - 1
    grid, spacing = np.linspace(freq_to_erb(low_hz), freq_to_erb(high_hz), n_bp + 2, retstep=True)
    cf_erb = grid[1:-1]  # band-pass centres; the two end points only bound the outermost cosines
    filters = np.zeros((n_bp + 2 * sample_factor, n_bins))
    half_width = sample_factor * spacing
    for i, c in enumerate(cf_erb):
        lo, hi = c - half_width, c + half_width
        inside = (freqs_erb > lo) & (freqs_erb < hi)
        filters[sample_factor + i, inside] = np.cos((freqs_erb[inside] - c) / (hi - lo) * np.pi)
    for i in range(sample_factor):
        # low-pass i complements band-pass i below its peak; high-pass i complements the i-th highest band-pass
        lp_top = np.nonzero(freqs < erb_to_freq(cf_erb[i]))[0].max()
        filters[i, : lp_top + 1] = np.sqrt(1 - filters[sample_factor + i, : lp_top + 1] ** 2)
        hp_bottom = np.nonzero(freqs > erb_to_freq(cf_erb[-1 - i]))[0].min()
        filters[-1 - i, hp_bottom:] = np.sqrt(1 - filters[-1 - sample_factor - i, hp_bottom:] ** 2)
    filters /= np.sqrt(sample_factor)
    cfs = np.concatenate([cf_erb[:sample_factor] - half_width, cf_erb, cf_erb[-sample_factor:] + half_width])
    centre_hz = np.maximum(erb_to_freq(cfs), 1.0)  # the lowest low-pass "centre" falls below 0 Hz: shown as 1 Hz
    filters.setflags(write=False)
    centre_hz.setflags(write=False)
    return filters, centre_hz
