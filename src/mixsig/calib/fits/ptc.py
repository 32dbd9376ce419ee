"""Photon transfer curve: conversion gain, read noise and full well from pairs of flats.

Item 3 of `mixsig.calib.fits`: ``var_dn = mean_dn/K + σ_read_dn² + 1/12`` (the camera's own
rounding) on the linear part of the curve, from the pair-difference variance per level
(`photon_transfer`, `fit_ptc`); for a nonlinear camera the variance is fitted through its
transfer curve f, ``f′(x)²·full_scale_dn·x/K + σ_read_dn²``, so K refers to the linear signal.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from mixsig.calib.frames import CalibrationError, check_finite, check_same_shape, require_levels
from mixsig.config.hardware import NoiseConfig

from .common import Param, _config, _residual_stats

__all__ = ["CAMERA_ROUNDING_DN2", "PTCData", "PTCFit", "fit_ptc", "photon_transfer"]

#: Variance of the camera's own rounding to whole DN (uniform quantization error, DN²).
CAMERA_ROUNDING_DN2 = 1.0 / 12.0


# ----------------------------------------------------------------------------- photon transfer
@dataclass
class PTCData:
    """Reduced photon-transfer data: per level, mean signal above dark and temporal variance.

    ``variance_dn2[i] = var(A − B)/2`` averaged over the frame pairs (A, B) of level i: the
    difference removes the fixed pattern. ``n_pixels[i]`` counts the difference pixels used.
    """

    levels: np.ndarray
    mean_dn: np.ndarray
    variance_dn2: np.ndarray
    n_pixels: np.ndarray
    dark_dn: float


def _pair_variance(frames: np.ndarray) -> tuple[float, int]:
    n_pairs = frames.shape[0] // 2
    v = [float(np.var(frames[2 * i] - frames[2 * i + 1], ddof=1)) / 2.0 for i in range(n_pairs)]
    return float(np.mean(v)), n_pairs * frames[0].size


def photon_transfer(
    levels: np.ndarray,
    stacks: Sequence[np.ndarray],
    *,
    darks: np.ndarray | None = None,
) -> PTCData:
    """Means and pair-difference variances per level (each level needs ≥ 2 frames).

    The dark level comes from the series' level-0 stack if there is one, else from
    ``darks``; the dark pair is kept as the level of mean 0 (it measures the read noise).
    """
    levels = np.asarray(levels, dtype=np.float64)
    if levels.size != len(stacks):
        raise CalibrationError(
            f"photon transfer: found {levels.size} levels and {len(stacks)} frame stacks; "
            "need one stack per level"
        )
    named = [(f"level {lv:g}", np.asarray(s)) for lv, s in zip(levels, stacks)]
    if darks is not None:
        named.append(("darks", np.asarray(darks)))
    check_same_shape(named, "photon transfer")
    for name, s in named:
        check_finite(s, f"photon transfer, {name}")
        require_levels(s.shape[0], 2, f"photon transfer, {name}: frames (a pair per level)")
    stacks_f = [s.astype(np.float64) for _, s in named[: levels.size]]
    order = np.argsort(levels)
    levels = levels[order]
    stacks_f = [stacks_f[i] for i in order]
    if levels[0] == 0:
        dark_stack = stacks_f[0]
    elif darks is not None:
        dark_stack = np.asarray(darks, dtype=np.float64)
        levels = np.r_[0.0, levels]
        stacks_f = [dark_stack, *stacks_f]
    else:
        raise CalibrationError(
            "photon transfer: found no dark frames (no level 0 and no darks); need a dark "
            "pair to fix the zero of the signal and the read noise"
        )
    dark_dn = float(dark_stack.mean())
    means, variances, npix = [], [], []
    for s in stacks_f:
        var, n = _pair_variance(s)
        means.append(float(s[: 2 * (s.shape[0] // 2)].mean()) - dark_dn)
        variances.append(var)
        npix.append(n)
    return PTCData(levels, np.asarray(means), np.asarray(variances), np.asarray(npix), dark_dn)


@dataclass
class PTCFit:
    """Conversion gain, read noise and full well from the photon transfer curve.

    ``var_dn = mean_dn / K + read_noise_dn² + 1/12`` on the linear part; residuals in DN².
    ``full_well_dn`` is the largest mean signal above dark: the full well when the variance
    collapses after its peak (``full_well_reached``), else a lower bound.
    """

    conversion_gain_e_per_dn: float
    conversion_gain_e_per_dn_stderr: float
    read_noise_dn: float
    read_noise_dn_stderr: float
    read_noise_e: float
    read_noise_e_stderr: float
    full_well_dn: float
    full_well_dn_stderr: float
    full_well_e: float
    full_well_reached: bool
    residual_rms: float
    residual_max: float
    data: PTCData = field(repr=False)
    used: np.ndarray = field(repr=False)
    transfer: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    full_scale_dn: float | None = None  # with ``transfer``: the PTC was linearised through it
    confidence: str = (
        "standard errors from the weighted least-squares covariance (weights from the "
        "sampling variance 2σ⁴/(N−1) of each variance, scaled by the reduced χ² when > 1)"
    )

    @property
    def linearised(self) -> bool:
        """True when fitted through the camera's transfer curve (`fit_ptc` ``transfer``)."""
        return self.transfer is not None

    def predicted_variance(self, mean_dn: np.ndarray) -> np.ndarray:
        """The fitted temporal variance (DN²) at mean signals ``mean_dn`` (DN above dark)."""
        mean_dn = np.asarray(mean_dn, dtype=np.float64)
        reg = (
            mean_dn
            if self.transfer is None
            else _linearised_regressor(mean_dn, self.transfer, self.full_scale_dn)[0]  # type: ignore[arg-type]
        )
        k = self.conversion_gain_e_per_dn
        return reg / k + self.read_noise_dn**2 + CAMERA_ROUNDING_DN2

    @property
    def full_well_e_stderr(self) -> float:
        k, dk = self.conversion_gain_e_per_dn, self.conversion_gain_e_per_dn_stderr
        return self.full_well_e * math.hypot(dk / k, self.full_well_dn_stderr / self.full_well_dn)

    def read_noise_lsb(self, *, full_scale_dn: float, adc_bits: int) -> float:
        """Read noise in LSB of a ``adc_bits`` ADC spanning ``full_scale_dn``."""
        return self.read_noise_dn * (2**adc_bits - 1) / float(full_scale_dn)

    def parameters(self) -> list[Param]:
        return [
            Param(
                "conversion_gain_e_per_dn",
                self.conversion_gain_e_per_dn,
                self.conversion_gain_e_per_dn_stderr,
                "e-/DN",
            ),
            Param("read_noise_dn", self.read_noise_dn, self.read_noise_dn_stderr, "DN"),
            Param("read_noise_e", self.read_noise_e, self.read_noise_e_stderr, "e-"),
            Param(
                "full_well_dn" + ("" if self.full_well_reached else " (lower bound)"),
                self.full_well_dn,
                self.full_well_dn_stderr,
                "DN above dark",
            ),
            Param("full_well_e", self.full_well_e, self.full_well_e_stderr, "e-"),
            Param("residual_rms", self.residual_rms, math.nan, "DN^2"),
            Param("residual_max", self.residual_max, math.nan, "DN^2"),
        ]

    def to_config(
        self,
        *,
        full_scale_dn: float,
        adc_bits: int,
        read_noise_as: Literal["sigma_lsb", "floor"] = "sigma_lsb",
    ) -> NoiseConfig:
        """The noise of mixsig's chain in signal units (`mixsig.calib.fits`, item 3)."""
        fs = float(full_scale_dn)
        shot = self.conversion_gain_e_per_dn * fs
        if read_noise_as == "sigma_lsb":
            return _config(
                NoiseConfig,
                sigma_lsb=self.read_noise_lsb(full_scale_dn=fs, adc_bits=adc_bits),
                shot_electrons_per_unit=shot,
                floor_std=0.0,
            )
        if read_noise_as == "floor":
            return _config(
                NoiseConfig,
                sigma_lsb=0.0,
                shot_electrons_per_unit=shot,
                floor_std=self.read_noise_dn / fs,
            )
        raise ValueError(f"read_noise_as must be 'sigma_lsb' or 'floor', got {read_noise_as!r}")


def _linearised_regressor(
    mean_dn: np.ndarray, transfer: Callable[[np.ndarray], np.ndarray], full_scale_dn: float
) -> tuple[np.ndarray, Callable[[float], float]]:
    """g(μ) = full_scale·x·f′(x)², x = f⁻¹(μ/full_scale): the shot-noise variance per 1/K of
    a camera with transfer curve f (`mixsig.calib.fits`, item 3); and x(μ)."""
    fs = float(full_scale_dn)
    if not (math.isfinite(fs) and fs > 0):
        raise CalibrationError(
            f"photon transfer curve: linearising needs the full scale in DN, found {fs!r}"
        )
    top = max(1.0, float(np.max(mean_dn)) / fs) * 1.5
    u = np.linspace(0.0, top, 20_001)
    f = np.asarray(transfer(u), dtype=np.float64)
    if not (np.all(np.isfinite(f)) and np.all(np.diff(f) > 0)):
        raise CalibrationError(
            "photon transfer curve: the transfer curve is not strictly increasing on "
            f"[0, {top:.3g}] of full scale; need a monotone curve to linearise the PTC "
            "(use transfer='gamma' or 'lut')"
        )

    def x_of(mu: float | np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(mu, dtype=np.float64) / fs, f, u, left=0.0)

    x = x_of(mean_dn)
    h = 1e-6
    slope = (np.asarray(transfer(x + h)) - np.asarray(transfer(np.maximum(x - h, 0.0)))) / (
        x + h - np.maximum(x - h, 0.0)
    )
    g = np.where(x > 0, fs * x * slope**2, 0.0)  # no photo-electrons at zero signal
    return g, lambda mu: float(x_of(mu))


def _full_well(
    mean: np.ndarray, var: np.ndarray, npix: np.ndarray, collapse_fraction: float
) -> tuple[int, bool, float, float]:
    """The level of the variance peak, whether the full well was reached (the variance
    collapses below ``collapse_fraction`` of the peak at a larger mean), the full well (the
    largest mean, DN above dark: a lower bound when not reached) and its standard error."""
    peak = int(np.argmax(var))
    after = np.arange(mean.size) > peak
    collapsed = after & (var < collapse_fraction * var[peak]) & (mean >= mean[peak])
    reached = bool(collapsed.any())
    i_fw = int(np.argmax(mean))
    full_well_dn = float(mean[i_fw])
    plateau = collapsed if reached else np.zeros_like(collapsed)
    if plateau.sum() > 1:
        fw_se = float(mean[plateau].std(ddof=1) / math.sqrt(plateau.sum()))
    else:  # one plateau level: its pixel scatter is only the read noise and the DSNU
        fw_se = float(math.sqrt(max(var[i_fw], 0.0) / npix[i_fw]))
    return peak, reached, full_well_dn, fw_se


def _weighted_line(
    x: np.ndarray, y: np.ndarray, n: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least squares of ``y = a + b·x`` for variances y estimated from n pixels each;
    returns ``(coef, covariance, residuals)``, the covariance scaled by the reduced χ² when > 1."""
    X = np.stack([np.ones_like(x), x], axis=1)
    pred = y.copy()
    for _ in range(3):  # weights from the predicted variance: Var(s²) = 2σ⁴/(N−1)
        w = (n - 1) / (2.0 * np.maximum(pred, 1e-12) ** 2)
        A = X.T @ (X * w[:, None])
        coef = np.linalg.solve(A, X.T @ (w * y))
        pred = X @ coef
    r = y - pred
    dof = max(y.size - 2, 1)
    chi2 = float(np.sum(w * r**2)) / dof
    cov = np.linalg.inv(A) * max(chi2, 1.0)
    return coef, cov, r


def _read_noise(a: float, b: float, cov: np.ndarray) -> tuple[float, float, float, float]:
    """Read noise in DN and in electrons, each with its standard error, from the intercept a
    (DN²) and slope b (DN²/DN, = 1/K) of the line and their covariance."""
    k = 1.0 / b
    r2 = a - CAMERA_ROUNDING_DN2
    read_dn = math.sqrt(max(r2, 0.0))
    read_dn_se = math.sqrt(cov[0, 0]) / (2 * read_dn) if read_dn > 0 else math.sqrt(cov[0, 0])
    read_e = read_dn * k
    if read_dn > 0:  # read_e = sqrt(a − q)/b: propagate the full covariance
        g = np.array([1.0 / (2 * read_dn * b), -read_dn / b**2])
        read_e_se = float(math.sqrt(max(g @ cov @ g, 0.0)))
    else:
        read_e_se = read_dn_se * k
    return read_dn, read_dn_se, read_e, read_e_se


def fit_ptc(
    data: PTCData,
    *,
    linear_fraction: float = 0.7,
    collapse_fraction: float = 0.5,
    min_levels: int = 5,
    transfer: Callable[[np.ndarray], np.ndarray] | None = None,
    full_scale_dn: float | None = None,
) -> PTCFit:
    """Fit the photon transfer curve (needs ≥ ``min_levels`` mean levels, dark included).

    Full well: the variance peaks and then collapses (below ``collapse_fraction`` of the
    peak at a larger mean) once pixels clip at the full well; the full well is then the
    largest mean. The straight line is fitted to levels below ``linear_fraction`` of it (and
    before the peak), weighted by the sampling variance of each variance.

    ``transfer``: the camera's transfer curve f on normalised signal (e.g. a `GammaFit`'s
    ``predict``), with ``full_scale_dn``: the variance is then fitted as
    ``f′(x)²·full_scale_dn·x/K + σ_read²`` (`mixsig.calib.fits`, item 3), so K and the full
    well in electrons refer to the linear signal. Without it the camera is taken to be linear.
    """
    mean, var, npix = data.mean_dn, data.variance_dn2, data.n_pixels
    require_levels(mean.size, min_levels, "photon transfer curve: mean levels")
    peak, reached, full_well_dn, fw_se = _full_well(mean, var, npix, collapse_fraction)
    used = np.arange(mean.size) <= peak
    if reached:
        used &= mean <= linear_fraction * full_well_dn
    require_levels(int(used.sum()), 3, "photon transfer curve: levels on its linear part")
    if transfer is None:
        reg, x_of = mean, None
    else:
        reg, x_of = _linearised_regressor(mean, transfer, float(full_scale_dn or math.nan))
    coef, cov, r = _weighted_line(reg[used], var[used], npix[used])
    a, b = float(coef[0]), float(coef[1])
    if not b > 0:
        raise CalibrationError(
            f"photon transfer curve: found a slope {b:.4g} DN²/DN; need a variance that grows "
            "with the mean (check exposures and the dark subtraction)"
        )
    k = 1.0 / b
    k_se = math.sqrt(cov[1, 1]) / b**2
    read_dn, read_dn_se, read_e, read_e_se = _read_noise(a, b, cov)
    rms, rmax = _residual_stats(r)
    return PTCFit(
        conversion_gain_e_per_dn=k,
        conversion_gain_e_per_dn_stderr=k_se,
        read_noise_dn=read_dn,
        read_noise_dn_stderr=read_dn_se,
        read_noise_e=read_e,
        read_noise_e_stderr=read_e_se,
        full_well_dn=full_well_dn,
        full_well_dn_stderr=fw_se,
        full_well_e=(
            full_well_dn * k if x_of is None else x_of(full_well_dn) * float(full_scale_dn) * k  # type: ignore[arg-type]
        ),
        full_well_reached=reached,
        residual_rms=rms,
        residual_max=rmax,
        data=data,
        used=used,
        transfer=transfer,
        full_scale_dn=None if transfer is None else float(full_scale_dn),  # type: ignore[arg-type]
    )
