"""The calibration fits: measurements in, mixsig hardware parameters (with uncertainties) out.

Owns the estimators of `mixsig.calib`. Each ``fit_*`` function takes NumPy arrays (frames in
camera codes, DN, or already reduced data) and returns a small dataclass holding the fitted
parameters, the residuals of the fit (``residual_rms``, ``residual_max``: root mean square and
largest absolute residual, in the units stated per fit), the uncertainty of every parameter
(``*_stderr``; ``confidence`` says how it was obtained: from the least-squares covariance or
from a bootstrap), ``parameters()`` (rows for the report) and ``to_config()`` (the matching
piece of `mixsig.config.HardwareConfig`).

Units and the mapping DN → mixsig signal
----------------------------------------
The camera is the ADC of a mixed-signal layer. mixsig's signal is the dark-subtracted camera
output divided by the camera's full scale:

    x = (DN − dark_dn) / full_scale_dn          (x = 1 is full scale)

where ``dark_dn`` is the mean dark level (DN) and ``full_scale_dn`` the usable signal range
above it (DN): the full well in DN when the photon transfer curve reaches it, else the largest
code minus the dark level (see `mixsig.calib.report`). With the ADC range ``[0, 1]`` of b bits,
one LSB is ``Δ = 1/(2^b − 1)`` in signal units, i.e. ``full_scale_dn/(2^b − 1)`` DN.

1. Transfer curve (`fit_gamma`, `fit_polynomial`, `fit_lut`) from an exposure series (known
   input levels L, mean DN per level). Response ``v = (mean_dn − dark_dn)/full_scale_dn``;
   normalised input ``u = L / full_scale_level``, where ``full_scale_level`` is the input level
   whose ideal response is full scale: given by the user, or estimated as the level at which
   the fitted curve reaches ``v = 1`` (so ``f(1) = 1``). The fitted f is mixsig's transfer
   curve on ``u = x/full_scale`` (`mixsig.signal.distortion.transfer`). Residuals in fractions
   of full scale. Levels with ``v >= saturation`` (default 0.98) are left out of the fits.
2. Fixed pattern (`fit_fixed_pattern`) from flat fields and dark frames: per-pixel gain
   ``g = (flat − dark)/mean(flat − dark) − 1`` (PRNU) and offset ``dsnu_dn = dark_map −
   mean(dark_map)`` (DSNU). In mixsig, `GainOffset` computes ``y = x·(1 + g) + o·full_scale``
   with ``o = dsnu_dn / full_scale_dn``: exactly the camera's ``DN = dark_dn + dsnu_dn +
   S·(1 + g)`` for an ideal signal S (DN) written in signal units.
3. Photon transfer curve (`photon_transfer`, `fit_ptc`): ``var_dn = mean_dn/K + σ_read_dn²``
   (+ 1/12 DN² of the camera's own rounding, removed), with K the conversion gain in e⁻/DN.
   In mixsig units (`PTCFit.to_config`): ``shot_electrons_per_unit = K·full_scale_dn`` (a
   signal x holds x·K·full_scale_dn electrons), read noise ``σ_read_dn/full_scale_dn`` in
   signal units = ``σ_read_dn·(2^b − 1)/full_scale_dn`` LSB of a b-bit ADC, given either as
   ``sigma_lsb`` (default) or as the fixed ``floor_std`` (then sigma_lsb = 0). A nonlinear
   camera (transfer curve f, item 1, applied to its photo-electrons) has
   ``var_dn = f′(x)²·full_scale_dn·x/K + σ_read_dn²`` at ``x = f⁻¹(mean_dn/full_scale_dn)``:
   ``fit_ptc(..., transfer=f)`` fits that, so K counts electrons per DN of the *linear* signal,
   the K that mixsig's chain (shot noise before the transfer curve) needs.
4. Crosstalk (`fit_crosstalk`) from impulse frames: the mean normalised impulse response
   around each peak (sum 1) is the kernel k of `Crosstalk` (a true convolution, so the
   response is k itself, unflipped); its strength s is the least-squares fit of the 3×3
   default kernel (centre 1 − s, four neighbours s/4).
5. Misregistration (`fit_misregistration`) between an intended and a recorded tile, in the
   convention of `mixsig.signal.distortion.Misregistration`:
   ``recorded(p) = a·intended((p − c − shift)/s + c) + b``, c the image centre, shift
   ``(dy, dx)`` in pixels (+dy down the rows, +dx along the columns), s the magnification.
6. Nonlinear cameras: the linear domain. mixsig's chain applies misregistration, crosstalk
   and the fixed pattern to the *linear* signal s, before the transfer curve f (item 1):
   ``DN = dark_dn + full_scale_dn·f(s)`` with ``s = x·(1 + g) + o``. So with a fitted f
   (``transfer=``, e.g. a `GammaFit`'s ``predict``, and ``full_scale_dn``) `fit_fixed_pattern`
   and `fit_crosstalk` fit in the linear domain: every measured value is mapped through
   `linearise`, ``L(DN) = full_scale_dn·f⁻¹((DN − dark_dn)/full_scale_dn)`` (DN of the
   linear signal: what a linear camera of the same full scale would read), and `linear_signal`
   subtracts the dark map there: ``L(DN) − L(dark_map)``. Then ``g`` is the PRNU of the
   linear signal, ``o = f⁻¹(dsnu_dn/full_scale_dn)`` the offset that gives the measured dark
   frame through f (f(o) = dsnu/full_scale), and the crosstalk kernel that of the light.
   Without ``transfer`` L is the identity and everything reduces to items 2 and 4. A
   measured DN value is linearised after averaging over frames where the fit averages (the
   read noise is added after f).

Uncertainties are 1-sigma standard errors. Least-squares covariances are
``σ̂²·(JᵀJ)⁻¹`` with σ̂² the residual variance (they assume independent residuals; with
spatially correlated residuals, as in image registration, they are a lower bound).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import ValidationError

from mixsig.calib.frames import (
    CalibrationError,
    check_finite,
    check_same_shape,
    check_saturation,
    require_levels,
)
from mixsig.config.hardware import (
    CrosstalkConfig,
    GainOffsetConfig,
    GammaConfig,
    LUTConfig,
    MisregistrationConfig,
    NoiseConfig,
    PolynomialConfig,
)

__all__ = [
    "CrosstalkFit",
    "FixedPatternFit",
    "GammaFit",
    "LUTFit",
    "MisregistrationFit",
    "PTCData",
    "PTCFit",
    "Param",
    "PolynomialFit",
    "exposure_response",
    "fit_crosstalk",
    "fit_fixed_pattern",
    "fit_gamma",
    "fit_lut",
    "fit_misregistration",
    "fit_polynomial",
    "fit_ptc",
    "inverse_transfer",
    "isotonic_increasing",
    "linear_signal",
    "linearise",
    "photon_transfer",
    "warp_bilinear",
]

#: Variance of the camera's own rounding to whole DN (uniform quantization error, DN²).
CAMERA_ROUNDING_DN2 = 1.0 / 12.0


@dataclass(frozen=True)
class Param:
    """One reported parameter: name, value, 1-sigma standard error (nan: none), unit."""

    name: str
    value: float
    stderr: float
    unit: str = ""


def _config(model, **kwargs):
    try:
        return model(**kwargs)
    except ValidationError as err:
        raise CalibrationError(
            f"the fitted parameters do not make a valid {model.__name__}: {err}"
        ) from None


def _residual_stats(r: np.ndarray) -> tuple[float, float]:
    r = np.asarray(r, dtype=np.float64)
    if r.size == 0:
        return 0.0, 0.0
    return float(np.sqrt(np.mean(r**2))), float(np.max(np.abs(r)))


# ----------------------------------------------------------------------------- least squares
def _least_squares(
    residual: Callable[[np.ndarray], np.ndarray],
    p0: Sequence[float],
    *,
    jacobian: Callable[[np.ndarray], np.ndarray] | None = None,
    steps: Sequence[float] | None = None,
    max_iter: int = 200,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Levenberg-Marquardt; returns ``(p, residuals, covariance)`` (covariance σ̂²(JᵀJ)⁻¹)."""
    p = np.asarray(p0, dtype=np.float64).copy()
    h = np.asarray(steps if steps is not None else 1e-6 * np.maximum(1.0, np.abs(p)))

    def jac(q: np.ndarray) -> np.ndarray:
        if jacobian is not None:
            return jacobian(q)
        cols = []
        for i in range(q.size):
            dq = np.zeros_like(q)
            dq[i] = h[i]
            cols.append((residual(q + dq) - residual(q - dq)) / (2 * h[i]))
        return np.stack(cols, axis=1)

    r = residual(p)
    cost = float(r @ r)
    lam = 1e-3
    for _ in range(max_iter):
        J = jac(p)
        A = J.T @ J
        g = J.T @ r
        improved = False
        while lam < 1e12:
            try:
                delta = np.linalg.solve(A + lam * np.diag(np.diag(A) + 1e-300), -g)
            except np.linalg.LinAlgError:
                lam *= 10
                continue
            r_new = residual(p + delta)
            c_new = float(r_new @ r_new)
            if np.isfinite(c_new) and c_new <= cost:
                small = cost - c_new <= 1e-15 * max(cost, 1e-300)
                p, r, cost = p + delta, r_new, c_new
                lam = max(lam / 10, 1e-12)
                improved = not small
                break
            lam *= 10
        if not improved:
            break
    J = jac(p)
    dof = max(r.size - p.size, 1)
    s2 = cost / dof
    cov = s2 * np.linalg.pinv(J.T @ J)
    return p, r, cov


# ----------------------------------------------------------------------------- transfer curve
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


# ----------------------------------------------------------------------------- linear domain
Transfer = Callable[[np.ndarray], np.ndarray]


def _full_scale(full_scale_dn: float | None, what: str) -> float:
    fs = math.nan if full_scale_dn is None else float(full_scale_dn)
    if not (math.isfinite(fs) and fs > 0):
        raise CalibrationError(
            f"{what}: linearising through the transfer curve needs the full scale in DN "
            f"(full_scale_dn > 0), found {full_scale_dn!r}"
        )
    return fs


def _bracket(transfer: Transfer, v_min: float, v_max: float) -> tuple[float, float]:
    """Normalised inputs ``lo < 0 < hi`` with ``f(lo) <= v_min`` and ``f(hi) >= v_max``."""
    lo, hi = -0.01, 1.0
    for _ in range(40):
        if float(transfer(np.asarray(lo))) <= v_min:
            break
        lo *= 2
    for _ in range(40):
        if float(transfer(np.asarray(hi))) >= v_max:
            break
        hi *= 2
    f_lo, f_hi = float(transfer(np.asarray(lo))), float(transfer(np.asarray(hi)))
    if not (f_lo <= v_min and f_hi >= v_max):
        raise CalibrationError(
            f"linearising: the transfer curve does not span the measured responses "
            f"[{v_min:.4g}, {v_max:.4g}] of full scale (it gives [{f_lo:.4g}, {f_hi:.4g}] "
            f"on inputs [{lo:.3g}, {hi:.3g}]); need a curve that covers the data"
        )
    return lo, hi


def inverse_transfer(v: np.ndarray, transfer: Transfer, *, iterations: int = 60) -> np.ndarray:
    """The normalised input u with ``f(u) = v``, elementwise (u, v in fractions of full scale).

    ``transfer`` is f (e.g. a `GammaFit`'s ``predict``, odd-extended or extrapolated below 0
    like mixsig's transfer modules). It must be strictly increasing over the inputs that
    cover ``v`` (checked on a grid of up to 4097 points; a `CalibrationError` otherwise). Each
    value is bracketed by the grid and then bisected on f itself, to float precision.
    """
    v = np.asarray(v, dtype=np.float64)
    if v.size == 0:
        return v.copy()
    v_min, v_max = float(v.min()), float(v.max())
    lo, hi = _bracket(transfer, v_min, v_max)
    grid = np.linspace(lo, hi, 4097)
    f = np.asarray(transfer(grid), dtype=np.float64)
    i0 = int(np.flatnonzero(f <= v_min)[-1]) if np.any(f <= v_min) else 0
    i1 = int(np.flatnonzero(f >= v_max)[0]) + 1 if np.any(f >= v_max) else grid.size
    grid, f = grid[i0 : max(i1, i0 + 2)], f[i0 : max(i1, i0 + 2)]  # the inputs the data need
    lo, hi = float(grid[0]), float(grid[-1])
    if not (np.all(np.isfinite(f)) and np.all(np.diff(f) > 0)):
        raise CalibrationError(
            f"linearising: the transfer curve is not strictly increasing on [{lo:.3g}, "
            f"{hi:.3g}] of full scale, so it cannot be inverted; need a monotone curve "
            "(use transfer='gamma' or 'lut')"
        )
    k = np.clip(np.searchsorted(f, v, side="right"), 1, grid.size - 1)
    a, b = grid[k - 1], grid[k]
    for _ in range(iterations):
        m = 0.5 * (a + b)
        below = np.asarray(transfer(m), dtype=np.float64) <= v
        a, b = np.where(below, m, a), np.where(below, b, m)
    return 0.5 * (a + b)


def linearise(
    dn: np.ndarray, *, transfer: Transfer | None, full_scale_dn: float | None
) -> np.ndarray:
    """DN above the dark level → DN of the linear signal, ``fs·f⁻¹(dn/fs)`` (module docstring,
    item 6); ``dn`` itself (as float64) without ``transfer``."""
    dn = np.asarray(dn, dtype=np.float64)
    if transfer is None:
        return dn
    fs = _full_scale(full_scale_dn, "linearising")
    return fs * inverse_transfer(dn / fs, transfer)


def linear_signal(
    frames: np.ndarray,
    dark: np.ndarray | float,
    *,
    transfer: Transfer | None = None,
    full_scale_dn: float | None = None,
) -> np.ndarray:
    """Dark-subtracted signal in DN of the linear domain: ``L(frames) − L(dark)``, L the
    `linearise` map about the mean dark level ``mean(dark)`` (DN); ``frames − dark`` for a
    linear camera (``transfer=None``). ``dark`` is a map (H, W) or a scalar, in DN."""
    frames = np.asarray(frames, dtype=np.float64)
    dark = np.asarray(dark, dtype=np.float64)
    if transfer is None:
        return frames - dark
    d0 = float(dark.mean())
    kw = dict(transfer=transfer, full_scale_dn=full_scale_dn)
    return linearise(frames - d0, **kw) - linearise(dark - d0, **kw)


def _linear_per_dn(linear_dn: np.ndarray, transfer: Transfer | None, fs: float) -> np.ndarray:
    """d(linear DN)/d(DN) = 1/f′(s) at linear signals ``linear_dn`` (1 for a linear camera):
    what a small DN noise becomes in the linear domain."""
    if transfer is None:
        return np.ones_like(np.asarray(linear_dn, dtype=np.float64))
    u = np.asarray(linear_dn, dtype=np.float64) / fs
    h = 1e-6
    slope = (np.asarray(transfer(u + h)) - np.asarray(transfer(u - h))) / (2 * h)
    return 1.0 / slope


# ----------------------------------------------------------------------------- fixed pattern
@dataclass
class FixedPatternFit:
    """Per-pixel gain (PRNU) and offset (DSNU) maps of the sensor.

    ``gain`` is g (dimensionless, mean 0) of the linear signal, ``offset_dn`` the DSNU map in
    DN as the dark frames show it (mean 0), ``dark_dn`` the mean dark level, ``dark_map_dn``
    the per-pixel dark level. ``offset_linear_dn`` is the DSNU in the linear domain (DN of
    the linear signal, module docstring item 6): the offset o·full_scale that mixsig's chain
    adds before the transfer curve, f(o) = offset_dn/full_scale; it equals ``offset_dn`` for
    a linear camera (``transfer=None``), as do the other ``*_linear_dn`` values their DN
    counterparts. The stds are corrected for the temporal noise left in maps averaged over
    finitely many frames.
    """

    gain: np.ndarray = field(repr=False)
    offset_dn: np.ndarray = field(repr=False)
    dark_map_dn: np.ndarray = field(repr=False)
    dark_dn: float
    flat_signal_dn: float
    prnu_std: float
    prnu_std_stderr: float
    dsnu_std_dn: float
    dsnu_std_dn_stderr: float
    gain_map_stderr: float
    offset_map_stderr_dn: float
    n_flats: int
    n_darks: int
    offset_linear_dn: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    flat_signal_linear_dn: float = math.nan
    dsnu_std_linear_dn: float = math.nan
    transfer: Transfer | None = field(default=None, repr=False)
    full_scale_dn: float | None = None  # with ``transfer``: the full scale of the linear domain
    confidence: str = (
        "std standard errors σ/√(2(N−1)) over N pixels (the population the maps are drawn "
        "from); per-pixel map errors from the temporal noise averaged over the frames"
    )

    def __post_init__(self) -> None:
        if self.offset_linear_dn is None:  # a linear camera: the linear domain is DN itself
            self.offset_linear_dn = self.offset_dn
        if math.isnan(self.flat_signal_linear_dn):
            self.flat_signal_linear_dn = self.flat_signal_dn
        if math.isnan(self.dsnu_std_linear_dn):
            self.dsnu_std_linear_dn = self.dsnu_std_dn

    @property
    def linearised(self) -> bool:
        """True when fitted through the camera's transfer curve (``transfer``)."""
        return self.transfer is not None

    @property
    def residual_rms(self) -> float:
        """Temporal noise left per pixel in the gain map (its standard error)."""
        return self.gain_map_stderr

    def _check_full_scale(self, full_scale_dn: float) -> float:
        fs = float(full_scale_dn)
        if self.linearised and not math.isclose(fs, float(self.full_scale_dn), rel_tol=1e-12):  # type: ignore[arg-type]
            raise CalibrationError(
                f"fixed pattern: the maps were linearised with a full scale of "
                f"{self.full_scale_dn:.6g} DN, found full_scale_dn={fs:.6g}; need the same "
                "full scale (or fit again)"
            )
        return fs

    def offset(self, full_scale_dn: float) -> np.ndarray:
        """The DSNU map as mixsig's ``GainOffset`` offset o: a fraction of full scale in the
        linear domain, added before the transfer curve (``offset_dn/full_scale_dn`` for a
        linear camera)."""
        return self.offset_linear_dn / self._check_full_scale(full_scale_dn)

    def parameters(self) -> list[Param]:
        rows = [
            Param("prnu_std", self.prnu_std, self.prnu_std_stderr, "relative gain"),
            Param("dsnu_std_dn", self.dsnu_std_dn, self.dsnu_std_dn_stderr, "DN"),
            Param("dark_dn", self.dark_dn, math.nan, "DN"),
            Param("flat_signal_dn", self.flat_signal_dn, math.nan, "DN above dark"),
            Param("gain_map_stderr", self.gain_map_stderr, math.nan, "per pixel"),
            Param("offset_map_stderr_dn", self.offset_map_stderr_dn, math.nan, "DN per pixel"),
        ]
        if self.linearised:
            rows += [
                Param("dsnu_std_linear_dn", self.dsnu_std_linear_dn, math.nan, "linear DN"),
                Param("flat_signal_linear_dn", self.flat_signal_linear_dn, math.nan, "linear DN"),
            ]
        return rows

    def to_config(self, *, full_scale_dn: float) -> GainOffsetConfig:
        """The maps' statistics for mixsig (``maps="statistics"``), in the linear domain."""
        fs = self._check_full_scale(full_scale_dn)
        return _config(
            GainOffsetConfig,
            gain_std=self.prnu_std,
            offset_std=self.dsnu_std_linear_dn / fs,
            per="pixel",
        )


def _temporal_var(frames: np.ndarray) -> float:
    """Mean over pixels of the per-pixel variance across frames (ddof=1)."""
    return float(frames.var(axis=0, ddof=1).mean())


def _check_pattern_frames(
    flats: np.ndarray, darks: np.ndarray, camera_bits: int | None, max_saturated: float
) -> tuple[np.ndarray, np.ndarray]:
    """The flats and darks as float64 stacks, after the checks of `fit_fixed_pattern`."""
    flats = check_finite(np.asarray(flats), "flat fields")
    if camera_bits is not None or flats.dtype.kind in "iu":
        check_saturation(flats, "flat fields", camera_bits=camera_bits, max_fraction=max_saturated)
    darks = check_finite(np.asarray(darks), "dark frames")
    if flats.ndim != 3 or darks.ndim != 3:
        raise CalibrationError(
            f"fixed pattern: found flats of shape {flats.shape} and darks of shape "
            f"{darks.shape}; need stacks (n_frames, H, W)"
        )
    check_same_shape([("flats", flats), ("darks", darks)], "fixed pattern")
    require_levels(flats.shape[0], 2, "fixed pattern: flat-field frames")
    require_levels(darks.shape[0], 2, "fixed pattern: dark frames")
    return flats.astype(np.float64), darks.astype(np.float64)


def fit_fixed_pattern(
    flats: np.ndarray,
    darks: np.ndarray,
    *,
    camera_bits: int | None = None,
    max_saturated_fraction: float = 1e-3,
    transfer: Transfer | None = None,
    full_scale_dn: float | None = None,
) -> FixedPatternFit:
    """PRNU and DSNU maps from ≥ 2 flat fields (one exposure) and ≥ 2 dark frames.

    Flats with more than ``max_saturated_fraction`` of their pixels at the top code
    (``2^camera_bits − 1``, or the integer dtype's maximum) are refused: a clipped pixel has
    lost its gain. Float flats are only checked when ``camera_bits`` is given.

    ``transfer`` (the camera's fitted transfer curve f on normalised signal) with
    ``full_scale_dn``: the mean flat and the dark map are linearised (module docstring, item
    6), so g is the PRNU of the linear signal and the offset that of mixsig's chain (before
    f); the DN-domain DSNU (``offset_dn``, ``dsnu_std_dn``) is kept as measured. Without it
    the camera is taken to be linear.
    """
    flats, darks = _check_pattern_frames(flats, darks, camera_bits, max_saturated_fraction)
    n_f, n_d = flats.shape[0], darks.shape[0]
    dark_map = darks.mean(axis=0)
    dark_dn = float(dark_map.mean())
    dsnu = dark_map - dark_dn
    var_dark_t = _temporal_var(darks)
    flat_mean = flats.mean(axis=0)
    signal_dn = float((flat_mean - dark_map).mean())
    if not signal_dn > 0:
        raise CalibrationError(
            f"fixed pattern: found flat fields {signal_dn:.4g} DN above the dark level; need "
            "flats clearly brighter than the darks"
        )
    fs = None if transfer is None else _full_scale(full_scale_dn, "fixed pattern")
    kw = dict(transfer=transfer, full_scale_dn=fs)
    offset_lin = linearise(dsnu, **kw)
    s_flat = linearise(flat_mean - dark_dn, **kw)
    flat = s_flat - offset_lin
    signal = float(flat.mean())
    gain = flat / signal - 1.0
    # temporal noise of the averaged maps, carried into the linear domain by 1/f′
    c_flat = float(np.mean(_linear_per_dn(s_flat, transfer, fs or 1.0) ** 2))
    c_dark = float(np.mean(_linear_per_dn(offset_lin, transfer, fs or 1.0) ** 2))
    var_flat_t = _temporal_var(flats)
    n_pix = gain.size
    noise_gain = (c_flat * var_flat_t / n_f + c_dark * var_dark_t / n_d) / signal**2
    noise_dark = var_dark_t / n_d
    prnu = math.sqrt(max(float(gain.var(ddof=1)) - noise_gain, 0.0))
    dsnu_std = math.sqrt(max(float(dsnu.var(ddof=1)) - noise_dark, 0.0))
    dsnu_lin = math.sqrt(max(float(offset_lin.var(ddof=1)) - c_dark * noise_dark, 0.0))
    k = 1.0 / math.sqrt(2 * (n_pix - 1))
    return FixedPatternFit(
        gain=gain,
        offset_dn=dsnu,
        dark_map_dn=dark_map,
        dark_dn=dark_dn,
        flat_signal_dn=signal_dn,
        prnu_std=prnu,
        prnu_std_stderr=prnu * k + math.sqrt(noise_gain) * k,
        dsnu_std_dn=dsnu_std,
        dsnu_std_dn_stderr=dsnu_std * k + math.sqrt(noise_dark) * k,
        gain_map_stderr=math.sqrt(noise_gain),
        offset_map_stderr_dn=math.sqrt(noise_dark),
        n_flats=n_f,
        n_darks=n_d,
        offset_linear_dn=offset_lin,
        flat_signal_linear_dn=signal,
        dsnu_std_linear_dn=dsnu_lin,
        transfer=transfer,
        full_scale_dn=fs,
    )


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
        """The noise of mixsig's chain in signal units (module docstring, item 3)."""
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
    a camera with transfer curve f (module docstring, item 3); and x(μ)."""
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
    ``f′(x)²·full_scale_dn·x/K + σ_read²`` (module docstring, item 3), so K and the full well
    in electrons refer to the linear signal. Without it the camera is taken to be linear.
    """
    mean, var, npix = data.mean_dn, data.variance_dn2, data.n_pixels
    require_levels(mean.size, min_levels, "photon transfer curve: mean levels")
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
    used = np.arange(mean.size) <= peak
    if reached:
        used &= mean <= linear_fraction * full_well_dn
    require_levels(int(used.sum()), 3, "photon transfer curve: levels on its linear part")
    if transfer is None:
        reg, x_of = mean, None
    else:
        reg, x_of = _linearised_regressor(mean, transfer, float(full_scale_dn or math.nan))
    x, y, n = reg[used], var[used], npix[used]
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
    a, b = float(coef[0]), float(coef[1])
    if not b > 0:
        raise CalibrationError(
            f"photon transfer curve: found a slope {b:.4g} DN²/DN; need a variance that grows "
            "with the mean (check exposures and the dark subtraction)"
        )
    k = 1.0 / b
    k_se = math.sqrt(cov[1, 1]) / b**2
    r2 = a - CAMERA_ROUNDING_DN2
    read_dn = math.sqrt(max(r2, 0.0))
    read_dn_se = math.sqrt(cov[0, 0]) / (2 * read_dn) if read_dn > 0 else math.sqrt(cov[0, 0])
    read_e = read_dn * k
    if read_dn > 0:  # read_e = sqrt(a − q)/b: propagate the full covariance
        g = np.array([1.0 / (2 * read_dn * b), -read_dn / b**2])
        read_e_se = float(math.sqrt(max(g @ cov @ g, 0.0)))
    else:
        read_e_se = read_dn_se * k
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


# ----------------------------------------------------------------------------- crosstalk
def _default_kernel(strength: float, size: tuple[int, int]) -> np.ndarray:
    k = np.zeros(size)
    cy, cx = size[0] // 2, size[1] // 2
    k[cy, cx] = 1.0 - strength
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        k[cy + dy, cx + dx] = strength / 4
    return k


def _strength_of(kernels: np.ndarray) -> np.ndarray:
    """LS projection of kernels (..., h, w) on the 3×3 model centre 1 − s, neighbours s/4."""
    size = kernels.shape[-2:]
    e = _default_kernel(0.0, size)
    d = _default_kernel(1.0, size) - e
    return np.tensordot(kernels - e, d, axes=([-2, -1], [0, 1])) / float((d * d).sum())


@dataclass
class CrosstalkFit:
    """Measured impulse response ``kernel`` (sum 1, centre at the middle) and its strength.

    Residuals: the kernel minus the fitted default 3×3 kernel (what ``strength`` misses, e.g.
    diagonal or longer-range leakage), as fractions of the impulse's total signal.
    ``mean_offset_px``: the mean sub-pixel position of the impulses relative to their peak
    pixel (what the sub-pixel model took out of the kernel). ``linearised``: fitted on frames
    mapped through the camera's transfer curve (the kernel of the light, before the curve).
    """

    kernel: np.ndarray = field(repr=False)
    kernel_stderr: np.ndarray = field(repr=False)
    strength: float
    strength_stderr: float
    n_impulses: int
    mean_offset_px: tuple[float, float]
    residual_rms: float
    residual_max: float
    confidence: str = (
        "bootstrap over the impulses (sub-pixel positions fixed; their error adds a bias of "
        "about −1.8·|δ|, see fit_crosstalk)"
    )
    linearised: bool = False

    def parameters(self) -> list[Param]:
        c = tuple(n // 2 for n in self.kernel.shape)
        return [
            Param("strength", self.strength, self.strength_stderr, "fraction"),
            Param("kernel centre", float(self.kernel[c]), float(self.kernel_stderr[c]), "fraction"),
            Param("n_impulses", float(self.n_impulses), math.nan),
            Param("mean sub-pixel offset dy", self.mean_offset_px[0], math.nan, "px"),
            Param("mean sub-pixel offset dx", self.mean_offset_px[1], math.nan, "px"),
            Param("residual_rms", self.residual_rms, math.nan, "fraction"),
            Param("residual_max", self.residual_max, math.nan, "fraction"),
        ]

    def to_config(self) -> CrosstalkConfig:
        return _config(CrosstalkConfig, strength=min(max(self.strength, 0.0), 0.999999))


def _local_maxima(img: np.ndarray, radius: int, threshold: float) -> list[tuple[int, int]]:
    from numpy.lib.stride_tricks import sliding_window_view

    size = 2 * radius + 1
    padded = np.pad(img, radius, mode="constant", constant_values=-np.inf)
    local_max = sliding_window_view(padded, (size, size)).max(axis=(-2, -1))
    peaks = (img >= local_max) & (img > threshold)
    peaks[:radius] = peaks[-radius:] = False
    peaks[:, :radius] = peaks[:, -radius:] = False
    return [tuple(p) for p in np.argwhere(peaks)]


def _shift_operators(n: int) -> dict[tuple[int, int], np.ndarray]:
    """S_t (n²×n²): vec(K) → vec(K shifted by t = (ty, tx)), zero fill, t ∈ {−1, 0, 1}²."""
    eye = np.eye(n * n).reshape(n * n, n, n)
    ops = {}
    for ty in (-1, 0, 1):
        for tx in (-1, 0, 1):
            shifted = np.zeros_like(eye)
            ys = slice(max(ty, 0), n + min(ty, 0))
            yd = slice(max(-ty, 0), n + min(-ty, 0))
            xs = slice(max(tx, 0), n + min(tx, 0))
            xd = slice(max(-tx, 0), n + min(-tx, 0))
            shifted[:, ys, xs] = eye[:, yd, xd]
            ops[(ty, tx)] = shifted.reshape(n * n, n * n).T
    return ops


def _bilinear_split(fy: float, fx: float) -> dict[tuple[int, int], float]:
    """Weights of a unit impulse at sub-pixel offset (fy, fx) on the pixels around it."""
    sy, sx = (1 if fy >= 0 else -1), (1 if fx >= 0 else -1)
    ay, ax = min(abs(fy), 1.0), min(abs(fx), 1.0)
    w: dict[tuple[int, int], float] = {}
    for ty, wy in ((0, 1 - ay), (sy, ay)):
        for tx, wx in ((0, 1 - ax), (sx, ax)):
            w[(ty, tx)] = w.get((ty, tx), 0.0) + wy * wx
    return w


def _affine_offsets(peaks: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Smooth the sub-pixel offsets of impulses at integer ``peaks`` with an affine model.

    The absolute positions ``peaks + offsets`` are wrapped around their circular-mean
    fractional part (so offsets near ±0.5 do not alternate), fitted per axis by
    ``a + b·y + c·x`` and returned relative to each impulse's peak pixel.
    """
    pos = peaks + offsets
    X = np.stack([np.ones(len(peaks)), peaks[:, 0], peaks[:, 1]], axis=1)
    out = np.empty_like(offsets)
    for ax in range(2):
        angle = np.angle(np.exp(2j * np.pi * pos[:, ax]).mean()) / (2 * np.pi)
        frac = (pos[:, ax] - angle + 0.5) % 1.0 - 0.5 + angle  # near the mean fraction
        coef, *_ = np.linalg.lstsq(X, frac, rcond=None)
        pred = X @ coef
        whole = np.round(pos[:, ax] - pred)
        out[:, ax] = whole + pred - peaks[:, ax]
    return out


def fit_crosstalk(
    frames: np.ndarray,
    *,
    dark: np.ndarray | float = 0.0,
    gain: np.ndarray | None = None,
    radius: int = 2,
    threshold_fraction: float = 0.25,
    subpixel: Literal["affine", "each", "none"] = "affine",
    n_boot: int = 200,
    seed: int = 0,
    transfer: Transfer | None = None,
    full_scale_dn: float | None = None,
) -> CrosstalkFit:
    """Mean impulse response from frames of isolated bright pixels / point sources.

    Each frame is dark-subtracted (``dark``: map or scalar, DN) and flat-field corrected
    (divided by ``1 + gain`` when a PRNU map is given). With ``transfer`` (the camera's fitted
    transfer curve f) and ``full_scale_dn`` the frames are first linearised and the dark
    subtracted in the linear domain (`linear_signal`, module docstring item 6): mixsig's
    crosstalk acts on the light, before f, and a compressive f (gamma < 1) would otherwise
    lift the neighbours of each peak and overstate the strength. Impulses are the local
    maxima of their ``(2·radius + 1)²`` window above ``threshold_fraction`` of the frame's
    maximum, at least ``radius`` from the border (impulses must be further apart than
    ``2·radius``). Each window is normalised to sum 1.

    ``subpixel="none"``: the kernel is the mean window. Otherwise an impulse that lands
    between pixel centres (misregistration, which mixsig models as a bilinear resampling
    before the crosstalk) is split bilinearly over its neighbours, ``b_i``, and the kernel is
    the least-squares deconvolution ``k = argmin Σ_i ||w_i − b_i ⊛ k||²``. The sub-pixel
    position of an impulse is the centroid of its window (the centroid of ``b ⊛ k`` is that
    of ``b`` for a centred kernel): ``"each"`` uses every impulse's own centroid (point sources
    at arbitrary positions); ``"affine"`` (default: a grid of single-pixel impulses seen
    through a shifted and magnified optics) fits an affine function of the position to the
    centroids, so their noise (which would bias the deconvolution) averages out. An error δ
    in the sub-pixel position biases the strength by about −1.8·|δ| (the bilinear split
    lowers the peak by the factor 1 − |δ| per axis, so the kernel's centre absorbs it); with
    N impulses and the affine model δ ≈ σ_centroid·√(3/N), e.g. 0.001 px → −0.002 for 256
    impulses at a centroid noise of 0.008 px. This bias is not in the bootstrap error: use
    ``subpixel="none"`` when the impulses are known to sit on pixel centres.
    The kernel is normalised to sum 1; ``strength`` is its projection on the 3×3 model.
    """
    if subpixel not in ("affine", "each", "none"):
        raise ValueError(f"subpixel must be 'affine', 'each' or 'none', got {subpixel!r}")
    frames = check_finite(np.asarray(frames), "impulse frames")
    if frames.ndim == 2:
        frames = frames[None]
    if frames.ndim != 3:
        raise CalibrationError(f"impulse frames: found shape {frames.shape}; need (n_frames, H, W)")
    sig = linear_signal(frames, dark, transfer=transfer, full_scale_dn=full_scale_dn)
    if gain is not None:
        if np.shape(gain) != frames.shape[1:]:
            raise CalibrationError(
                f"impulse frames: found a gain map of shape {np.shape(gain)} for frames of "
                f"shape {frames.shape[1:]}; need the same shape"
            )
        sig = sig / (1.0 + np.asarray(gain, dtype=np.float64))
    windows, peaks = [], []
    for img in sig:
        for y, x in _local_maxima(img, radius, threshold_fraction * float(img.max())):
            w = img[y - radius : y + radius + 1, x - radius : x + radius + 1]
            total = w.sum()
            if total > 0:
                windows.append(w / total)
                peaks.append((y, x))
    require_levels(len(windows), 1, "crosstalk: impulses found (isolated bright peaks)")
    w_all = np.stack(windows)
    n_imp, n = w_all.shape[0], 2 * radius + 1
    coords = np.arange(n) - radius
    offsets = np.stack(
        [np.einsum("iyx,y->i", w_all, coords), np.einsum("iyx,x->i", w_all, coords)], axis=1
    )
    if subpixel == "affine" and n_imp >= 3:
        offsets = _affine_offsets(np.asarray(peaks, dtype=np.float64), offsets)
    if subpixel != "none":
        ops = _shift_operators(n)
        normal = np.empty((n_imp, n * n, n * n))
        rhs = np.empty((n_imp, n * n))
        for i, (fy, fx) in enumerate(offsets):
            C = sum(wt * ops[t] for t, wt in _bilinear_split(fy, fx).items())
            normal[i] = C.T @ C
            rhs[i] = C.T @ w_all[i].ravel()

        def solve(counts: np.ndarray) -> np.ndarray:
            A = np.tensordot(counts, normal, axes=1)
            b = np.tensordot(counts, rhs, axes=1)
            k = np.linalg.solve(A + 1e-9 * np.trace(A) / A.shape[0] * np.eye(A.shape[0]), b)
            k = k.reshape(n, n)
            return k / k.sum()
    else:

        def solve(counts: np.ndarray) -> np.ndarray:
            k = np.tensordot(counts, w_all, axes=1)
            return k / k.sum()

    kernel = solve(np.ones(n_imp))
    strength = float(_strength_of(kernel))
    rng = np.random.default_rng(seed)
    if n_imp > 1:
        boot = np.stack(
            [
                solve(np.bincount(rng.integers(0, n_imp, n_imp), minlength=n_imp).astype(float))
                for _ in range(n_boot)
            ]
        )
        kernel_se = boot.std(axis=0, ddof=1)
        s_se = float(_strength_of(boot).std(ddof=1))
    else:
        kernel_se, s_se = np.full(kernel.shape, np.nan), math.nan
    rms, rmax = _residual_stats(kernel - _default_kernel(strength, kernel.shape))
    mean_off = (float(offsets[:, 0].mean()), float(offsets[:, 1].mean()))
    return CrosstalkFit(
        kernel,
        kernel_se,
        strength,
        s_se,
        n_imp,
        mean_off,
        rms,
        rmax,
        linearised=transfer is not None,
    )


# ----------------------------------------------------------------------------- misregistration
def warp_bilinear(image: np.ndarray, shift_px: tuple[float, float], scale: float) -> np.ndarray:
    """``out(p) = image((p − c − shift)/scale + c)``, bilinear, zero outside (NumPy).

    The convention of `mixsig.signal.distortion.Misregistration` (pixel centres at integer
    indices, c = ((H − 1)/2, (W − 1)/2)), implemented independently of it.
    """
    img = np.asarray(image, dtype=np.float64)
    h, w = img.shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    py, px = np.mgrid[0:h, 0:w].astype(np.float64)
    qy = (py - cy - shift_px[0]) / scale + cy
    qx = (px - cx - shift_px[1]) / scale + cx
    y0, x0 = np.floor(qy).astype(np.int64), np.floor(qx).astype(np.int64)
    fy, fx = qy - y0, qx - x0
    out = np.zeros_like(img)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            yy, xx = y0 + dy, x0 + dx
            ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            out += np.where(ok, img[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)], 0.0) * wy * wx
    return out


def _xcorr_shift(intended: np.ndarray, recorded: np.ndarray) -> tuple[float, float]:
    """Shift of ``recorded`` relative to ``intended``: FFT cross-correlation peak, refined by a
    parabola through the peak and its neighbours along each axis."""
    a = intended - intended.mean()
    b = recorded - recorded.mean()
    c = np.fft.ifft2(np.fft.fft2(b) * np.conj(np.fft.fft2(a))).real
    h, w = c.shape
    iy, ix = np.unravel_index(int(np.argmax(c)), c.shape)

    def refine(cm: float, c0: float, cp: float) -> float:
        den = cm - 2 * c0 + cp
        return 0.0 if den == 0 else 0.5 * (cm - cp) / den

    dy = iy + refine(c[(iy - 1) % h, ix], c[iy, ix], c[(iy + 1) % h, ix])
    dx = ix + refine(c[iy, (ix - 1) % w], c[iy, ix], c[iy, (ix + 1) % w])
    dy = dy - h if dy > h / 2 else dy
    dx = dx - w if dx > w / 2 else dx
    return float(dy), float(dx)


@dataclass
class MisregistrationFit:
    """Shift ``(dy, dx)`` (px) and magnification of the recorded tile vs the intended one.

    ``gain``/``offset`` are the photometric a, b of the fit; residuals in units of the
    recorded tile's standard deviation.
    """

    shift_px: tuple[float, float]
    shift_px_stderr: tuple[float, float]
    scale: float
    scale_stderr: float
    gain: float
    offset: float
    initial_shift_px: tuple[float, float]
    residual_rms: float
    residual_max: float
    margin_px: int
    confidence: str = (
        "standard errors from the least-squares covariance (independent-pixel assumption: a "
        "lower bound for spatially correlated residuals)"
    )

    def parameters(self) -> list[Param]:
        return [
            Param("shift_dy", self.shift_px[0], self.shift_px_stderr[0], "px"),
            Param("shift_dx", self.shift_px[1], self.shift_px_stderr[1], "px"),
            Param("scale", self.scale, self.scale_stderr),
            Param("photometric gain", self.gain, math.nan),
            Param("photometric offset", self.offset, math.nan, "recorded units"),
            Param("residual_rms", self.residual_rms, math.nan, "std of recorded"),
            Param("residual_max", self.residual_max, math.nan, "std of recorded"),
        ]

    def to_config(self) -> MisregistrationConfig:
        return _config(MisregistrationConfig, shift_px=tuple(self.shift_px), scale=self.scale)


def fit_misregistration(
    intended: np.ndarray,
    recorded: np.ndarray,
    *,
    margin_px: int | None = None,
    max_scale_error: float = 0.02,
) -> MisregistrationFit:
    """Sub-pixel shift and scale: cross-correlation start, then nonlinear least squares.

    ``recorded`` may be a stack (averaged). The model ``a·warp(intended; shift, s) + b`` is
    compared on the pixels at least ``margin_px`` from the border (default: the initial shift
    plus ``max_scale_error`` times half the tile, plus 2 px), so the zero fill beyond the
    border never enters the fit.
    """
    a = check_finite(np.asarray(intended), "registration: intended tile")
    b = check_finite(np.asarray(recorded), "registration: recorded tile")
    if a.ndim == 3:
        a = a.mean(axis=0)
    if b.ndim == 3:
        b = b.mean(axis=0)
    if a.ndim != 2 or b.ndim != 2:
        raise CalibrationError(
            f"registration: found tiles of shapes {a.shape} and {b.shape}; need 2-D images"
        )
    check_same_shape([("intended", a), ("recorded", b)], "registration")
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    if not (a.std() > 0 and b.std() > 0):
        raise CalibrationError("registration: found a constant tile; need a structured image")
    h, w = a.shape
    dy0, dx0 = _xcorr_shift(a, b)
    if margin_px is None:
        margin_px = int(math.ceil(max(abs(dy0), abs(dx0)) + max_scale_error * max(h, w) / 2 + 2))
    m = margin_px
    if 2 * m + 4 > min(h, w):
        raise CalibrationError(
            f"registration: found tiles of {h}×{w} px with a {m} px margin; need tiles larger "
            f"than {2 * m + 4} px (or a smaller margin_px)"
        )
    mask = np.zeros((h, w), dtype=bool)
    mask[m : h - m, m : w - m] = True
    target = b[mask]
    scale_b = float(target.std())

    def model(p: np.ndarray) -> np.ndarray:
        return p[3] * warp_bilinear(a, (p[0], p[1]), p[2])[mask] + p[4]

    w0 = warp_bilinear(a, (dy0, dx0), 1.0)[mask]
    g0, o0 = np.linalg.lstsq(np.stack([w0, np.ones_like(w0)], 1), target, rcond=None)[0]
    p, r, cov = _least_squares(
        lambda p: (model(p) - target) / scale_b,
        [dy0, dx0, 1.0, g0, o0],
        steps=[1e-3, 1e-3, 1e-5, 1e-5 * max(abs(g0), 1e-12), 1e-5 * scale_b],
    )
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    rms, rmax = _residual_stats(r)
    return MisregistrationFit(
        shift_px=(float(p[0]), float(p[1])),
        shift_px_stderr=(float(se[0]), float(se[1])),
        scale=float(p[2]),
        scale_stderr=float(se[2]),
        gain=float(p[3]),
        offset=float(p[4]),
        initial_shift_px=(dy0, dx0),
        residual_rms=rms,
        residual_max=rmax,
        margin_px=m,
    )
