"""The seed's SNR of a perturbation: SNR_dB = 20·log10(‖x‖₂ / ‖ξ‖₂), x the input, ξ the perturbation.

This is the SI's helper for perturbation sizes (an amplitude ratio with factor 20). It is NOT the metamer
acceptance statistic, which the study computes as 10·log10(‖a₀‖/‖a₀ − a‖) (facts §2.1).

Seed values (40,000-sample waveforms at RMS 0.1, so ‖x‖ = 0.1·√40000 = 20): L2 ε = 0.5 → 32.04 dB,
ε = 1 → 26.02 dB; worst-case L∞ ε = 0.002 (every sample moved) → 33.98 dB. Cochleagram (mean test cochleagram
norm 40.65): L2 ε = 0.5 → 38.20 dB, ε = 1 → 32.18 dB.
"""
from __future__ import annotations

import math

from ..errors import InputError


def snr_db(signal_norm: float, noise_norm: float) -> float:
    """20·log10(signal_norm / noise_norm) in dB; both norms are L2 norms (same units), noise_norm > 0."""
    if signal_norm <= 0 or noise_norm <= 0:
        raise InputError(f"SNR needs positive norms, got signal {signal_norm} and perturbation {noise_norm}")
    return 20.0 * math.log10(signal_norm / noise_norm)


def perturbation_norm(norm: str, eps: float, n: int) -> float:
    """Largest L2 norm of a perturbation in the ε-ball of `norm` over `n` values (the SI's worst case).

    L2: ε. L∞: ε·√n (every value moved by ε). L1: ε (all of the budget on one value).
    """
    if norm == "l2" or norm == "l1":
        return float(eps)
    if norm == "linf":
        return float(eps) * math.sqrt(n)
    raise InputError(f"unknown norm '{norm}'; choose l1, l2 or linf")


def waveform_snr_db(norm: str, eps: float, n: int = 40000, rms: float = 0.1) -> float:
    """Worst-case SNR_dB of an ε-perturbation of an RMS-normalised waveform of n samples (‖x‖ = rms·√n)."""
    return snr_db(rms * math.sqrt(n), perturbation_norm(norm, eps, n))
