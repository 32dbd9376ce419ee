"""The linear domain of a nonlinear camera: measured DN mapped through the inverse transfer curve.

Item 6 of `mixsig.calib.fits`: mixsig's chain applies misregistration, crosstalk and the fixed
pattern to the linear signal, before the transfer curve f, so the fits of a nonlinear camera
map every measured value through ``L(DN) = full_scale_dn·f⁻¹((DN − dark_dn)/full_scale_dn)``
(`linearise`, `inverse_transfer`) and subtract the dark there (`linear_signal`). Without a
transfer curve L is the identity.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from mixsig.calib.frames import CalibrationError

__all__ = ["Transfer", "inverse_transfer", "linear_signal", "linearise"]

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
    """DN above the dark level → DN of the linear signal, ``fs·f⁻¹(dn/fs)`` (`mixsig.calib.fits`,
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
