"""Sampling of a 4f system with a pixelated DOE in the Fourier plane (design §3).

Owns `FourierSampling`: the numbers that tie the DOE grid to the camera-plane grid, their
derived quantities and the rules that make a simulation of them valid. Nothing here computes a
field; `mixsig.optics.propagation` does that on the grids described here.

Grids (all centred, index ``size // 2`` is the optical axis):

* DOE plane: N × N pixels of pitch Δu (``doe_pitch_m``); pixel n sits at u = (n − N//2)·Δu.
* Camera plane (simulation grid): the DOE is zero-padded to M = Q·N (``fft_size``) and
  Fourier transformed, giving M × M samples of pitch Δx = λf/(Q·N·Δu) (``sim_pitch_m``) over
  the window λf/Δu (``window_m``, the period of the far field of a pixelated DOE); sample k sits
  at x = (k − M//2 + o)·Δx, where o (``sim_offset_px``) is 0 unless the simulation grid must be
  shifted so that whole blocks of ``pool`` samples form camera pixels centred on the axis.
* Camera pixels: pitch ``camera_pitch_m`` = ``pool``·Δx (an integer ``pool`` ≥ 1); J = M // pool
  pixels (``camera_pixels``) with pixel J//2 centred on the optical axis.

Rules (each refused with a ValueError that names it, the numbers and a fix): lengths > 0;
Q ≥ 2 (the intensity PSF has twice the field bandwidth); Δu ≥ λ/2 (else the window λf/Δu
exceeds 2f: diffraction angles beyond 90°); camera pitch an integer multiple of Δx (to 1e-6
relative); and, per layer, `check_window`: the tiled kernels must fit the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_POOL_RTOL = 1e-6
_MAX_SUGGESTED_Q = 64


def _um(x_m: float) -> str:
    return f"{x_m * 1e6:.6g} µm"


@dataclass(frozen=True)
class FourierSampling:
    """The DOE and camera grids of a 4f system; see the module docstring for the conventions.

    Args:
        wavelength_m: vacuum wavelength λ.
        focal_length_m: focal length f of the Fourier lens (both lenses of the 4f system).
        doe_pitch_m: DOE pixel pitch Δu.
        doe_pixels: N, the DOE is N × N pixels.
        oversample: Q ≥ 2, the zero-padding factor: FFT size Q·N.
        camera_pitch_m: camera pixel pitch; None means camera pixels = simulation pixels.
    """

    wavelength_m: float
    focal_length_m: float
    doe_pitch_m: float
    doe_pixels: int
    oversample: int = 2
    camera_pitch_m: float | None = None

    def __post_init__(self) -> None:
        self._check_positive()
        self._check_integers()
        if self.oversample < 2:
            raise ValueError(
                f"oversample Q = {self.oversample} < 2: the intensity PSF has twice the field "
                "bandwidth: use oversample ≥ 2 (FFT size Q·N ≥ 2N samples the intensity "
                "without aliasing)"
            )
        half_wavelength = self.wavelength_m / 2
        if self.doe_pitch_m < half_wavelength:
            raise ValueError(
                f"DOE pitch {_um(self.doe_pitch_m)} < λ/2 = {_um(half_wavelength)}: the window "
                f"λf/Δu would exceed 2f (diffraction angles beyond 90°, outside scalar optics); "
                f"use a DOE pitch ≥ {_um(half_wavelength)}"
            )
        if self.camera_pitch_m is not None:
            self._check_camera_pitch(self.camera_pitch_m)

    # -- validation -------------------------------------------------------------------------

    def _check_positive(self) -> None:
        for name in ("wavelength_m", "focal_length_m", "doe_pitch_m", "camera_pitch_m"):
            value = getattr(self, name)
            if value is None and name == "camera_pitch_m":
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ValueError(f"{name} must be a number in metres, got {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(
                    f"{name} = {value!r} is not a positive length: lengths are in metres and "
                    "must be finite and > 0"
                )

    def _check_integers(self) -> None:
        for name, low in (("doe_pixels", 1), ("oversample", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            if value < low:
                raise ValueError(f"{name} = {value} must be ≥ {low}")

    def _check_camera_pitch(self, camera_pitch_m: float) -> None:
        ratio = camera_pitch_m / self.sim_pitch_m
        nearest = round(ratio)
        if nearest >= 1 and abs(ratio - nearest) <= _POOL_RTOL * ratio:
            return
        lower = max(1, math.floor(ratio))
        upper = max(1, math.ceil(ratio))
        options = sorted({lower, upper})
        valid = " or ".join(_um(k * self.sim_pitch_m) for k in options)
        hint = f"use a camera pitch of {valid}"
        q = self._oversample_for(camera_pitch_m)
        if q is not None:
            hint += f", or oversample Q = {q} (then pool = {round(q * ratio / self.oversample)})"
        raise ValueError(
            f"camera pitch {_um(camera_pitch_m)} is not an integer multiple of the simulation "
            f"pitch Δx = λf/(Q·N·Δu) = {_um(self.sim_pitch_m)} (ratio {ratio:.8g}, needs an "
            f"integer ≥ 1 within {_POOL_RTOL:g} relative): {hint}"
        )

    def _oversample_for(self, camera_pitch_m: float) -> int | None:
        """Smallest Q in [2, 64] for which the camera pitch is a whole number of sim pixels."""
        per_q = camera_pitch_m / (self.sim_pitch_m * self.oversample)  # pool / Q
        for q in range(2, _MAX_SUGGESTED_Q + 1):
            r = q * per_q
            if round(r) >= 1 and abs(r - round(r)) <= _POOL_RTOL * r:
                return q
        return None

    # -- derived quantities -----------------------------------------------------------------

    @property
    def fft_size(self) -> int:
        """M = Q·N: samples per side of the zero-padded DOE and of the simulated camera plane."""
        return self.oversample * self.doe_pixels

    @property
    def doe_size_m(self) -> float:
        """Side N·Δu of the DOE aperture."""
        return self.doe_pixels * self.doe_pitch_m

    @property
    def window_m(self) -> float:
        """λf/Δu: the camera-plane period of the far field of a DOE of pitch Δu."""
        return self.wavelength_m * self.focal_length_m / self.doe_pitch_m

    @property
    def sim_pitch_m(self) -> float:
        """Δx = λf/(Q·N·Δu): pitch of the simulated camera-plane samples."""
        return self.window_m / self.fft_size

    @property
    def resolution_m(self) -> float:
        """λf/(N·Δu): the diffraction-limited feature size of the DOE (Q sim pixels)."""
        return self.window_m / self.doe_pixels

    @property
    def pool(self) -> int:
        """Simulation pixels per camera pixel (per side): camera_pitch / sim_pitch, 1 if none."""
        if self.camera_pitch_m is None:
            return 1
        return round(self.camera_pitch_m / self.sim_pitch_m)

    @property
    def camera_pixel_m(self) -> float:
        """The camera pitch actually simulated: pool·Δx."""
        return self.pool * self.sim_pitch_m

    @property
    def camera_pixels(self) -> int:
        """J = M // pool: whole camera pixels per side inside the window."""
        return self.fft_size // self.pool

    @property
    def sim_offset_px(self) -> float:
        """Offset o (in sim pixels) of the simulation grid for sum pooling.

        With samples at x_k = (k − M//2 + o)·Δx, the blocks [j·p, (j+1)·p) of p = ``pool``
        samples (j < J) are camera pixels with pixel J//2 centred on the optical axis.
        o = M//2 − (J//2)·p − (p − 1)/2; it is 0 when p = 1.
        """
        m, p, j = self.fft_size, self.pool, self.camera_pixels
        return m // 2 - (j // 2) * p - (p - 1) / 2

    def check_window(self, extent_px: float) -> float:
        """Refuse a camera-plane extent (e.g. all tiled kernels) that does not fit the window.

        Args:
            extent_px: the needed extent per side in camera pixels (``camera_pixel_m``; sim
                pixels when no camera pitch was given).

        Returns:
            The spare width in metres (window − extent, ≥ 0).
        """
        if not math.isfinite(extent_px) or extent_px <= 0:
            raise ValueError(f"extent_px must be a positive number, got {extent_px!r}")
        extent_m = extent_px * self.camera_pixel_m
        spare_m = self.window_m - extent_m
        if spare_m >= -1e-12 * self.window_m:  # an extent equal to the window fits
            spare_m = max(spare_m, 0.0)
            return spare_m
        max_pitch_m = self.wavelength_m * self.focal_length_m / extent_m
        min_focal_m = extent_m * self.doe_pitch_m / self.wavelength_m
        raise ValueError(
            f"the needed camera-plane extent {extent_px:g} px × {_um(self.camera_pixel_m)} = "
            f"{_um(extent_m)} exceeds the window λf/Δu = {_um(self.window_m)} by "
            f"{_um(-spare_m)} ({-spare_m / self.window_m:.1%}): the far field of a DOE of pitch "
            f"Δu repeats every λf/Δu, so the kernels would alias; use a DOE pitch ≤ "
            f"{_um(max_pitch_m)} or a focal length ≥ {min_focal_m * 1e3:.6g} mm "
            "(or fewer / smaller kernels)"
        )
