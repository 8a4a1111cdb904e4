"""The Spectemp spectro-temporal modulation filter bank (facts §6, §14; seed "Spectemp model").

Filters are designed in the 2-D Fourier domain of the zero-padded cochleagram: 211 channels + 211 zero rows
(N_F = 422 bins, spectral sampling 6 channels/ERB) × 390 frames + 780 zero frames (N_T = 1170 bins, 200 Hz).

- Temporal transfer function at rate r Hz: the FFT of the demeaned gammatone-like impulse response
  h(n) = sin(2πt)·t²·exp(−3.5t), t = r·n/200, n = 0 … 389, zero-padded to 1170; magnitude scaled to peak 1,
  phase kept. Rate 0 is a DC-only delta. The top rate (64 Hz) is high-pass: magnitude 1 from the positive-frequency
  peak to the negative-frequency peak.
- Spectral transfer function at s cycles/ERB: zero-phase R·exp(−R), R = (f/s)², f = 6k/422 cyc/ERB, scaled to
  peak 1 and mirrored; s = 0 is a DC-only delta; the top scale (2 cyc/ERB) is high-pass.
- 2-D H = outer(H_t, H_s); direction by zeroing two quadrants: a filter with signed temporal rate r keeps the
  quadrants where sign(f_t) = sign(r)·sign(f_s) (Nyquist rows/columns untouched; r = 0 counts as +1).
  Negative rates keep opposite-sign quadrants, i.e. energy that drifts UP in frequency over time (upward FM);
  positive rates respond to downward FM.
- Applied exactly as sums of separable terms (`SeparableBank`): a temporal pass over the 211 real rows, then a
  spectral pass over the 390 kept frames — no 422 × 1170 transform per filter is needed.
- Order (111 filters): sign −1 block, all 7 scales × 9 rates (every rate-0 / scale-0 combination lives here), then
  sign +1 block, 6 non-zero scales × 8 non-zero rates; scale is the outer loop, rate the inner one. Row 0 is
  (−0, 0): the global DC filter.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

TEMPORAL_RATES_HZ = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
SPECTRAL_SCALES_CYC_PER_ERB = (0.0, 0.0625, 0.125, 0.25, 0.5, 1.0, 2.0)
N_F, N_T = 211, 390
PAD_F, PAD_T = N_F, 2 * N_T
ENV_SR_HZ = 200
SR_ERB = 6.0
"""Cochleagram channels per ERB as the study's code assumed ("approximately correct"; the true density is 6.112)."""


def filter_table() -> np.ndarray:
    """(111, 2): signed temporal rate (Hz; negative = upward FM) and spectral scale (cyc/ERB), in bank order."""
    rows = []
    for sign in (-1.0, 1.0):
        for s in SPECTRAL_SCALES_CYC_PER_ERB:
            if sign > 0 and s == 0:
                continue
            for r in TEMPORAL_RATES_HZ:
                if sign > 0 and r == 0:
                    continue
                rows.append((sign * r, s))
    return np.array(rows)


def _delta(n: int) -> np.ndarray:
    h = np.zeros(n, dtype=np.complex128)
    h[0] = 1.0
    return h


def temporal_transfer(rate_hz: float, highpass: bool, n: int = N_T, pad: int = PAD_T,
                      sr_hz: float = ENV_SR_HZ) -> np.ndarray:
    """Temporal modulation filter (n + pad,) complex, for |rate| (the sign acts through the quadrant mask)."""
    if rate_hz == 0:
        return _delta(n + pad)
    t = np.arange(n) / sr_hz * abs(rate_hz)
    h = np.sin(2 * np.pi * t) * t**2 * np.exp(-3.5 * t)
    h = np.pad(h - h.mean(), (0, pad))
    spectrum = np.fft.fft(h)
    mag, phase = np.abs(spectrum), np.angle(spectrum)
    mag /= mag.max()
    if highpass:
        total = n + pad
        nyq = total // 2 if total % 2 == 0 else (total - 1) // 2
        peak_pos = int(np.argmax(mag[: nyq + 1]))
        peak_neg = int(np.argmax(mag[nyq + 1:])) + nyq + 1
        mag[peak_pos:peak_neg] = 1.0
    return mag * np.exp(1j * phase)


def spectral_transfer(scale: float, highpass: bool, n: int = N_F, pad: int = PAD_F,
                      sr_erb: float = SR_ERB) -> np.ndarray:
    """Spectral modulation filter (n + pad,) real, zero-phase."""
    total = n + pad
    if scale == 0:
        return _delta(total)
    nyq = total // 2 if total % 2 == 0 else (total - 1) // 2
    pos = sr_erb * np.arange(nyq + 1) / total
    r = (pos / scale) ** 2
    h = r * np.exp(-r)
    h /= h.max()
    if highpass:
        h[int(np.argmax(h)):] = 1.0
    neg = h[1:nyq][::-1] if total % 2 == 0 else h[1:nyq + 1][::-1]
    return np.concatenate([h, neg]).astype(np.complex128)


def transfer_function(rate_hz: float, scale: float) -> np.ndarray:
    """One filter's 2-D transfer function (N_F + PAD_F, N_T + PAD_T) = (422, 1170), complex128."""
    ht = temporal_transfer(rate_hz, highpass=abs(rate_hz) == max(TEMPORAL_RATES_HZ))
    hs = spectral_transfer(scale, highpass=scale == max(SPECTRAL_SCALES_CYC_PER_ERB))
    h = np.outer(hs, ht)
    f_s = np.fft.fftfreq(N_F + PAD_F)
    f_t = np.fft.fftfreq(N_T + PAD_T)
    f_s[(N_F + PAD_F) // 2] = np.nan  # Nyquist bins are never zeroed
    f_t[(N_T + PAD_T) // 2] = np.nan
    direction = 1.0 if rate_hz == 0 else np.sign(rate_hz)
    sign_s, sign_t = np.sign(f_s)[:, None], np.sign(f_t)[None, :]
    zero = ((sign_t == -direction) & (sign_s == 1)) | ((sign_t == direction) & (sign_s == -1))
    h[zero] = 0
    return h


def _halves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the strictly positive and strictly negative FFT bins of an even length n (DC, Nyquist
    excluded, as the quadrant mask of `transfer_function`)."""
    f = np.fft.fftfreq(n)
    f[n // 2] = np.nan
    return f > 0, f < 0


@dataclass(frozen=True)
class SeparableBank:
    """The bank as sums of separable terms, for fast exact filtering (`model.SpecTempFilterBank`).

    Zeroing two quadrants of outer(H_s, H_t) equals subtracting two separable terms: for direction +1
    H = H_s⊗H_t − H_s⁺⊗H_t⁻ − H_s⁻⊗H_t⁺, for direction −1 H = H_s⊗H_t − H_s⁺⊗H_t⁺ − H_s⁻⊗H_t⁻ (⁺/⁻: the
    strictly positive/negative frequency bins only). Filters sharing a signed rate share the three temporal
    factors, so they are processed as one group.

    temporal: (27, 1170) complex — per |rate| (in TEMPORAL_RATES_HZ order) the full, positive-only and
        negative-only temporal transfer functions (rows 3j, 3j+1, 3j+2).
    spectral: (3, 111, 422) real — the three spectral factors of every filter, filters in group order.
    groups: (start, stop, t0, t1, t2) — rows start:stop of `spectral` pair with temporal rows t0, t1, t2.
    order: (111,) — the `filter_table()` index of each row of `spectral`.
    """

    temporal: np.ndarray
    spectral: np.ndarray
    groups: tuple[tuple[int, int, int, int, int], ...]
    order: np.ndarray


@functools.lru_cache(maxsize=1)
def separable_bank() -> SeparableBank:
    table = filter_table()
    t_pos, t_neg = _halves(N_T + PAD_T)
    s_pos, s_neg = _halves(N_F + PAD_F)
    temporal = []
    for rate in TEMPORAL_RATES_HZ:
        ht = temporal_transfer(rate, highpass=rate == max(TEMPORAL_RATES_HZ))
        temporal += [ht, np.where(t_pos, ht, 0), np.where(t_neg, ht, 0)]
    spectral, groups, order = [], [], []
    keys = sorted({(np.signbit(r), abs(r)) for r, _ in table}, key=lambda k: (not k[0], k[1]))
    for negative, rate in keys:
        members = [i for i, (r, _) in enumerate(table) if np.signbit(r) == negative and abs(r) == rate]
        j = 3 * TEMPORAL_RATES_HZ.index(rate)
        up = negative and rate != 0  # rate 0 counts as direction +1; its H_t± vanish anyway
        t1, t2 = (j + 1, j + 2) if up else (j + 2, j + 1)
        groups.append((len(order), len(order) + len(members), j, t1, t2))
        for i in members:
            hs = spectral_transfer(table[i, 1], highpass=table[i, 1] == max(SPECTRAL_SCALES_CYC_PER_ERB)).real
            spectral.append((hs, -np.where(s_pos, hs, 0), -np.where(s_neg, hs, 0)))
            order.append(i)
    return SeparableBank(np.array(temporal), np.array(spectral).transpose(1, 0, 2), tuple(groups), np.array(order))
