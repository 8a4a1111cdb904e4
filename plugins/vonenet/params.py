"""VOneBlock Gabor parameters drawn from primate V1 distributions (Dapello et al. 2020; facts §8.1, §14).

Orientation: De Valois 1982a histogram; spatial frequency: De Valois 1982b histogram (cycles/degree), truncated at
sf_max; envelope sizes nx, ny (in cycles): Ringach 2002 joint histogram; sf and nx correlated (Schiller 1976,
sf_corr) through a bivariate normal copula; phase uniform in [0, 360). Draws use numpy's legacy RandomState so a
seed gives the same parameters as the reference implementation (`np.random.seed(seed)` there).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr  # the standard normal CDF (= scipy.stats.norm.cdf)

ORI_BINS = np.array([-22.5, 22.5, 67.5, 112.5, 157.5])
ORI_HIST = np.array([66, 49, 77, 54])
SF_BINS = np.array([0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0, 11.2])
SF_HIST = np.array([4, 4, 8, 25, 32, 26, 28, 12, 8])
N_BINS = np.logspace(-1, 0.2, 6, base=10)
N_JOINT = np.array([[2., 0., 1., 0., 0.],
                    [8., 9., 4., 1., 0.],
                    [1., 2., 19., 17., 3.],
                    [0., 0., 1., 7., 4.],
                    [0., 0., 0., 0., 0.]])


@dataclass(frozen=True)
class GaborParams:
    """Per-channel parameters, each an array of length n: sf (cycles/degree), theta (degrees, [0, 180)),
    phase (degrees), nx and ny (envelope standard deviations in cycles of the carrier)."""

    sf: np.ndarray
    theta: np.ndarray
    phase: np.ndarray
    nx: np.ndarray
    ny: np.ndarray


def _sample_hist(rs: np.random.RandomState, hist: np.ndarray, bins: np.ndarray, n: int) -> np.ndarray:
    """Inverse-CDF draws from a piecewise-uniform histogram."""
    return np.interp(rs.rand(n), np.hstack(([0], np.cumsum(hist / hist.sum()))), bins)


def sample(n: int, seed: int = 0, sf_corr: float = 0.75, sf_max: float = 6.0, sf_min: float = 0.0) -> GaborParams:
    """n channels' Gabor parameters, deterministic in `seed` (the study: seed 0, sf_corr 0.75, sf_max 6)."""
    rs = np.random.RandomState(seed)
    hi = np.where(SF_BINS <= sf_max)[0][-1]
    lo = np.where(SF_BINS >= sf_min)[0][0]
    sf_bins, sf_hist = SF_BINS[lo:hi + 1], SF_HIST[lo:hi]
    joint = N_JOINT / N_JOINT.sum()
    nx_hist = joint.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ny_given_nx = joint / joint.sum(axis=1, keepdims=True)

    phase = _sample_hist(rs, np.array([1.0]), np.array([0.0, 360.0]), n)
    theta = _sample_hist(rs, ORI_HIST.astype(float), ORI_BINS, n)
    theta[theta < 0] += 180
    z = rs.multivariate_normal([0, 0], np.array([[1, sf_corr], [sf_corr, 1]]), n)
    u = ndtr(z)
    nx = 10 ** np.interp(u[:, 0], np.hstack(([0], np.cumsum(nx_hist))), np.log10(N_BINS))
    ny_u = rs.rand(n)
    ny = np.zeros(n)
    for i, v in enumerate(nx):
        row = np.argwhere(N_BINS < v)[-1]
        ny[i] = np.interp(ny_u[i], np.hstack(([0], np.cumsum(ny_given_nx[row, :]))), np.log10(N_BINS))
    ny = 10 ** ny
    sf = 2 ** np.interp(u[:, 1], np.hstack(([0], np.cumsum(sf_hist / sf_hist.sum()))), np.log2(sf_bins))
    return GaborParams(sf=sf, theta=theta, phase=phase, nx=nx, ny=ny)
