"""Fixed-pattern fit: per-pixel gain (PRNU) and offset (DSNU) maps from flats and darks.

Item 2 of `mixsig.calib.fits`; for a nonlinear camera (item 6) the maps are fitted in the
linear domain of `mixsig.calib.fits.linear_domain`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mixsig.calib.frames import (
    CalibrationError,
    check_finite,
    check_same_shape,
    check_saturation,
    require_levels,
)
from mixsig.config.hardware import GainOffsetConfig

from .common import Param, _config
from .linear_domain import Transfer, _full_scale, _linear_per_dn, linearise

__all__ = ["FixedPatternFit", "fit_fixed_pattern"]


@dataclass
class FixedPatternFit:
    """Per-pixel gain (PRNU) and offset (DSNU) maps of the sensor.

    ``gain`` is g (dimensionless, mean 0) of the linear signal, ``offset_dn`` the DSNU map in
    DN as the dark frames show it (mean 0), ``dark_dn`` the mean dark level, ``dark_map_dn``
    the per-pixel dark level. ``offset_linear_dn`` is the DSNU in the linear domain (DN of
    the linear signal, item 6 of `mixsig.calib.fits`): the offset o·full_scale that mixsig's chain
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
    ``full_scale_dn``: the mean flat and the dark map are linearised (`mixsig.calib.fits`,
    item 6), so g is the PRNU of the linear signal and the offset that of mixsig's chain (before
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
