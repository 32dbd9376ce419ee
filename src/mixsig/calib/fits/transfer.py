"""Transfer-curve fits: gamma, polynomial and monotone LUT from an exposure series.

Item 1 of `mixsig.calib.fits`: known input levels L and the mean DN per level give the
normalised response ``v = (mean_dn − dark_dn)/full_scale_dn`` (`exposure_response`); each fit
returns mixsig's transfer curve f on ``u = L/full_scale_level`` with residuals in fractions
of full scale. Levels at or above ``saturation`` (default 0.98) are left out.

Why one module of just over 400 lines: the three models and their shared data preparation
(`_transfer_data`) are one concept, the camera's pointwise response, with one set of
conventions (``full_scale_level``, ``levels``/``response``/``excluded_levels``, ``predict``
on u) that `calibrate_folder` relies on to compare them; split, each would hold a copy of
those conventions or import the others' private helpers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mixsig.calib.frames import CalibrationError, check_finite, check_same_shape, require_levels
from mixsig.config.hardware import GammaConfig, LUTConfig, PolynomialConfig

from .common import Param, _config, _residual_stats
from .least_squares import _least_squares

__all__ = [
    "GammaFit",
    "LUTFit",
    "PolynomialFit",
    "exposure_response",
    "fit_gamma",
    "fit_lut",
    "fit_polynomial",
    "isotonic_increasing",
]


def exposure_response(
    stacks: Sequence[np.ndarray], *, dark_dn: float, full_scale_dn: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean normalised response per level and its standard error.

    ``stacks[i]`` is ``(n_i, H, W)`` frames at level i. Returns ``v = (mean − dark_dn) /
    full_scale_dn`` and the standard error of v from the frame-to-frame scatter of the frame
    means (nan for levels with a single frame).
    """
    if not full_scale_dn > 0:
        raise CalibrationError(f"full_scale_dn must be > 0, found {full_scale_dn!r}")
    check_same_shape([(f"level {i}", s) for i, s in enumerate(stacks)], "exposure series")
    v, se = [], []
    for i, s in enumerate(stacks):
        s = check_finite(np.asarray(s), f"exposure series, level {i}")
        means = s.reshape(s.shape[0], -1).astype(np.float64).mean(axis=1)
        v.append((means.mean() - dark_dn) / full_scale_dn)
        se.append(
            means.std(ddof=1) / math.sqrt(means.size) / full_scale_dn if means.size > 1 else np.nan
        )
    return np.asarray(v), np.asarray(se)


def _transfer_data(
    levels: np.ndarray, response: np.ndarray, saturation: float, needed: int, what: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    levels = check_finite(np.asarray(levels, dtype=np.float64), f"{what}: levels")
    response = check_finite(np.asarray(response, dtype=np.float64), f"{what}: response")
    if levels.shape != response.shape or levels.ndim != 1:
        raise CalibrationError(
            f"{what}: found {levels.shape} levels and {response.shape} responses; need two "
            "1-D arrays of the same length"
        )
    if np.any(levels < 0):
        raise CalibrationError(f"{what}: found negative input levels; need levels >= 0")
    if np.unique(levels).size != levels.size:
        raise CalibrationError(f"{what}: found repeated levels; need one mean per level")
    order = np.argsort(levels)
    levels, response = levels[order], response[order]
    keep = response < saturation
    require_levels(
        int(keep.sum()),
        needed,
        f"{what}: exposure levels below saturation ({saturation:g} of full scale)",
    )
    return levels[keep], response[keep], levels[~keep]


@dataclass
class GammaFit:
    """``v = (L/full_scale_level)^γ (+ offset)``; residuals in fractions of full scale."""

    gamma: float
    gamma_stderr: float
    full_scale_level: float
    full_scale_level_stderr: float
    offset: float
    offset_stderr: float
    residual_rms: float
    residual_max: float
    levels: np.ndarray = field(repr=False)
    response: np.ndarray = field(repr=False)
    excluded_levels: np.ndarray = field(repr=False)
    confidence: str = "standard errors from the least-squares covariance"

    def predict(self, u: np.ndarray) -> np.ndarray:
        """The fitted curve f(u) on normalised input u (offset included)."""
        u = np.asarray(u, dtype=np.float64)
        return np.sign(u) * np.abs(u) ** self.gamma + self.offset

    def parameters(self) -> list[Param]:
        return [
            Param("gamma", self.gamma, self.gamma_stderr),
            Param(
                "full_scale_level",
                self.full_scale_level,
                self.full_scale_level_stderr,
                "input-level units",
            ),
            Param("offset", self.offset, self.offset_stderr, "fraction of full scale"),
            Param("residual_rms", self.residual_rms, math.nan, "fraction of full scale"),
            Param("residual_max", self.residual_max, math.nan, "fraction of full scale"),
        ]

    def to_config(self) -> GammaConfig:
        return _config(GammaConfig, gamma=self.gamma)


def fit_gamma(
    levels: np.ndarray,
    response: np.ndarray,
    *,
    full_scale_level: float | None = None,
    with_offset: bool = False,
    saturation: float = 0.98,
) -> GammaFit:
    """Nonlinear least squares of ``v = A·L^γ (+ b)`` on the normalised response v.

    Started from a log-log straight-line fit. Without ``full_scale_level`` the amplitude A is
    free and ``full_scale_level = A^(−1/γ)`` (where the curve reaches full scale); with it, the
    curve is pinned to ``v = u^γ`` with ``u = L/full_scale_level``. Needs at least 3 levels
    below saturation (4 with the offset).
    """
    free = full_scale_level is None
    n_par = (2 if free else 1) + int(with_offset)
    lv, v, excluded = _transfer_data(levels, response, saturation, n_par + 1, "gamma fit")
    if not free and not (full_scale_level and full_scale_level > 0):
        raise CalibrationError(f"full_scale_level must be > 0, found {full_scale_level!r}")
    ref = float(full_scale_level) if not free else float(lv.max())
    t = lv / ref
    pos = (t > 0) & (v > 0)
    require_levels(int(pos.sum()), 2, "gamma fit: levels with a positive input and response")
    slope, intercept = np.polyfit(np.log(t[pos]), np.log(v[pos]), 1)
    logt = np.where(t > 0, np.log(np.where(t > 0, t, 1.0)), 0.0)

    def unpack(p: np.ndarray) -> tuple[float, float, float]:
        la = p[0] if free else 0.0
        g = p[1] if free else p[0]
        b = p[-1] if with_offset else 0.0
        return la, g, b

    def residual(p: np.ndarray) -> np.ndarray:
        la, g, b = unpack(p)
        return np.exp(la) * t**g + b - v

    def jacobian(p: np.ndarray) -> np.ndarray:
        la, g, b = unpack(p)
        tg = np.exp(la) * t**g
        cols = ([tg] if free else []) + [tg * logt] + ([np.ones_like(t)] if with_offset else [])
        return np.stack(cols, axis=1)

    p0 = ([intercept] if free else []) + [slope] + ([0.0] if with_offset else [])
    p, r, cov = _least_squares(residual, p0, jacobian=jacobian)
    la, g, b = unpack(p)
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    gi = 1 if free else 0
    if free:
        l_fs = ref * math.exp(-la / g)
        grad = np.array([-1.0 / g, la / g**2]) * l_fs
        l_fs_se = float(np.sqrt(max(grad @ cov[:2, :2] @ grad, 0.0)))
    else:
        l_fs, l_fs_se = ref, 0.0
    rms, rmax = _residual_stats(r)
    return GammaFit(
        gamma=float(g),
        gamma_stderr=float(se[gi]),
        full_scale_level=float(l_fs),
        full_scale_level_stderr=l_fs_se,
        offset=float(b),
        offset_stderr=float(se[-1]) if with_offset else 0.0,
        residual_rms=rms,
        residual_max=rmax,
        levels=lv,
        response=v,
        excluded_levels=excluded,
    )


@dataclass
class PolynomialFit:
    """``v = Σ_k c_k u^k`` with ``u = L/full_scale_level``; residuals in fractions of full scale."""

    coeffs: np.ndarray
    coeffs_stderr: np.ndarray
    full_scale_level: float
    residual_rms: float
    residual_max: float
    levels: np.ndarray = field(repr=False)
    response: np.ndarray = field(repr=False)
    excluded_levels: np.ndarray = field(repr=False)
    confidence: str = (
        "standard errors from the least-squares covariance (conditional on full_scale_level)"
    )

    @property
    def degree(self) -> int:
        return self.coeffs.size - 1

    def predict(self, u: np.ndarray) -> np.ndarray:
        return np.polynomial.polynomial.polyval(np.asarray(u, dtype=np.float64), self.coeffs)

    def parameters(self) -> list[Param]:
        rows = [
            Param(f"c{k}", float(c), float(s))
            for k, (c, s) in enumerate(zip(self.coeffs, self.coeffs_stderr))
        ]
        return rows + [
            Param("full_scale_level", self.full_scale_level, math.nan, "input-level units"),
            Param("residual_rms", self.residual_rms, math.nan, "fraction of full scale"),
            Param("residual_max", self.residual_max, math.nan, "fraction of full scale"),
        ]

    def to_config(self) -> PolynomialConfig:
        return _config(PolynomialConfig, coeffs=[float(c) for c in self.coeffs])


def _first_crossing(p: np.ndarray, t_max: float) -> float:
    """The smallest real t in (0, 2·t_max] with polynomial p(t) = 1 (coefficients low first)."""
    q = p.copy()
    q[0] -= 1.0
    roots = np.polynomial.polynomial.polyroots(q)
    real = roots[np.abs(roots.imag) < 1e-9].real
    real = np.sort(real[(real > 0) & (real <= 2 * t_max)])
    if real.size == 0:
        raise CalibrationError(
            "polynomial fit: the fitted curve never reaches full scale within twice the "
            "largest measured level; need full_scale_level (the input level of full scale)"
        )
    return float(real[0])


def fit_polynomial(
    levels: np.ndarray,
    response: np.ndarray,
    *,
    degree: int = 3,
    full_scale_level: float | None = None,
    saturation: float = 0.98,
) -> PolynomialFit:
    """Linear least squares of a degree-``degree`` polynomial; needs ``degree + 1`` levels.

    Without ``full_scale_level`` it is the smallest positive input at which the fitted
    polynomial reaches 1 (full scale), and the coefficients are rescaled to ``u = L/that``.
    Standard errors need at least ``degree + 2`` levels (nan otherwise).
    """
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise ValueError(f"degree must be an integer >= 1, got {degree!r}")
    lv, v, excluded = _transfer_data(
        levels, response, saturation, degree + 1, f"degree-{degree} polynomial fit"
    )
    ref = float(full_scale_level) if full_scale_level is not None else float(lv.max())
    if not ref > 0:
        raise CalibrationError(f"full_scale_level must be > 0, found {full_scale_level!r}")
    t = lv / ref
    V = np.vander(t, degree + 1, increasing=True)
    b, *_ = np.linalg.lstsq(V, v, rcond=None)
    r = V @ b - v
    dof = v.size - b.size
    if dof > 0:
        cov = float(r @ r) / dof * np.linalg.pinv(V.T @ V)
        se_b = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    else:
        se_b = np.full(b.size, np.nan)
    if full_scale_level is None:
        t_fs = _first_crossing(b, float(t.max()))
        scale = t_fs ** np.arange(degree + 1)
        coeffs, se = b * scale, se_b * scale
        l_fs = ref * t_fs
    else:
        coeffs, se, l_fs = b, se_b, ref
    rms, rmax = _residual_stats(r)
    return PolynomialFit(coeffs, se, float(l_fs), rms, rmax, lv, v, excluded)


def isotonic_increasing(y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Weighted least-squares non-decreasing fit of ``y`` (pool-adjacent-violators)."""
    y = np.asarray(y, dtype=np.float64)
    w = np.ones_like(y) if w is None else np.asarray(w, dtype=np.float64)
    vals: list[float] = []
    wts: list[float] = []
    counts: list[int] = []
    for yi, wi in zip(y, w):
        vals.append(float(yi))
        wts.append(float(wi))
        counts.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            wsum = wts[-2] + wts[-1]
            merged = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / wsum
            vals[-2:] = [merged]
            wts[-2:] = [wsum]
            counts[-2:] = [counts[-2] + counts[-1]]
    return np.repeat(vals, counts)


@dataclass
class LUTFit:
    """Monotone piecewise-linear curve with knots ``(inputs, values)`` on normalised u.

    Residuals: measured response minus the LUT at the measured levels (non-zero only where
    the isotonic fit pooled non-monotone points), in fractions of full scale.
    """

    inputs: np.ndarray
    values: np.ndarray
    values_stderr: np.ndarray
    full_scale_level: float
    full_scale_level_extrapolated: bool
    residual_rms: float
    residual_max: float
    levels: np.ndarray = field(repr=False)
    response: np.ndarray = field(repr=False)
    excluded_levels: np.ndarray = field(repr=False)
    confidence: str = (
        "knot standard errors from the frame-to-frame scatter of the frame means "
        "(nan with one frame per level)"
    )

    def predict(self, u: np.ndarray) -> np.ndarray:
        """The LUT with linear extension beyond the end knots (as `MonotoneLUT`)."""
        u = np.asarray(u, dtype=np.float64)
        xk, yk = self.inputs, self.values
        seg = np.clip(np.searchsorted(xk, u, side="right") - 1, 0, xk.size - 2)
        slope = np.diff(yk) / np.diff(xk)
        return yk[seg] + slope[seg] * (u - xk[seg])

    def parameters(self) -> list[Param]:
        rows = [
            Param(f"f({x:.4g})", float(y), float(s))
            for x, y, s in zip(self.inputs, self.values, self.values_stderr)
        ]
        note = " (extrapolated)" if self.full_scale_level_extrapolated else ""
        return rows + [
            Param("full_scale_level" + note, self.full_scale_level, math.nan, "input-level units"),
            Param("residual_rms", self.residual_rms, math.nan, "fraction of full scale"),
            Param("residual_max", self.residual_max, math.nan, "fraction of full scale"),
        ]

    def to_config(self) -> LUTConfig:
        return _config(
            LUTConfig,
            inputs=[float(x) for x in self.inputs],
            values=[float(y) for y in self.values],
        )


def fit_lut(
    levels: np.ndarray,
    response: np.ndarray,
    *,
    response_stderr: np.ndarray | None = None,
    full_scale_level: float | None = None,
    saturation: float = 0.98,
) -> LUTFit:
    """Monotone LUT: pool-adjacent-violators on the mean response per level (≥ 2 levels).

    The dark level defines ``v = 0`` at ``L = 0``: a knot (0, 0) is added when the series has
    no level 0. Without ``full_scale_level`` it is where the monotone curve reaches 1,
    interpolated between knots, or extrapolated along the last segment when the data stop
    below full scale (``full_scale_level_extrapolated``).
    """
    se_all = None
    if response_stderr is not None:
        se_all = dict(
            zip(
                np.asarray(levels, dtype=np.float64).tolist(),
                np.asarray(response_stderr, dtype=np.float64).tolist(),
            )
        )
    lv, v, excluded = _transfer_data(levels, response, saturation, 2, "LUT fit")
    se = (
        np.array([se_all.get(x, np.nan) for x in lv.tolist()])
        if se_all
        else np.full(lv.size, np.nan)
    )
    if lv[0] > 0:
        lv, v, se = np.r_[0.0, lv], np.r_[0.0, v], np.r_[0.0, se]
    mono = isotonic_increasing(v)
    extrapolated = False
    if full_scale_level is None:
        above = np.nonzero(mono >= 1.0)[0]
        if above.size and above[0] > 0:
            i = above[0]
            l_fs = float(np.interp(1.0, mono[i - 1 : i + 1], lv[i - 1 : i + 1]))
        else:
            dl, dv = lv[-1] - lv[-2], mono[-1] - mono[-2]
            if not dv > 0:
                raise CalibrationError(
                    "LUT fit: the response is flat at the top of the series, so the input "
                    "level of full scale cannot be extrapolated; need full_scale_level"
                )
            l_fs = float(lv[-1] + (1.0 - mono[-1]) * dl / dv)
            extrapolated = True
    else:
        l_fs = float(full_scale_level)
        if not l_fs > 0:
            raise CalibrationError(f"full_scale_level must be > 0, found {full_scale_level!r}")
    u = lv / l_fs
    r = mono - v
    rms, rmax = _residual_stats(r)
    return LUTFit(u, mono, se, l_fs, extrapolated, rms, rmax, lv, v, excluded)
