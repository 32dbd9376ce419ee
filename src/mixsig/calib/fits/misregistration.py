"""Misregistration fit: sub-pixel shift and magnification of a recorded tile vs the intended.

Item 5 of `mixsig.calib.fits`, in the convention of `mixsig.signal.distortion.Misregistration`:
``recorded(p) = a·intended((p − c − shift)/s + c) + b``, c the image centre. `warp_bilinear`
is that warp, implemented in NumPy independently of the torch module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mixsig.calib.frames import CalibrationError, check_finite, check_same_shape
from mixsig.config.hardware import MisregistrationConfig

from .common import Param, _config, _residual_stats
from .least_squares import _least_squares

__all__ = ["MisregistrationFit", "fit_misregistration", "warp_bilinear"]


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
