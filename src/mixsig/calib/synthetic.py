"""A synthetic lab: a camera and a mixed-signal device with KNOWN parameters.

Owns the simulators that `mixsig.calib` is tested against and that later hardware-in-the-loop
work can train against before a real device is connected (over 400 lines: the camera and the
device share their parameters and physics, and are kept together so they cannot drift apart):

* `SyntheticCamera(CameraParams, seed)` -- frames in camera codes (DN) from a scene of input
  levels, with the physics the fits of `mixsig.calib.fits` invert. Per frame, in order:

  1. optics on the scene (level units): misregistration (`Misregistration`, shift/scale
     about the centre) then crosstalk (`Crosstalk`, a true convolution), both evaluated with
     the scene extended by edge replication so a flat field stays flat up to the border;
  2. mean photo-electrons ``μ = level·electrons_per_level·(1 + g)``, g the PRNU map;
  3. ``e ~ Poisson(μ)``, clipped at ``full_well_e``;
  4. transfer curve (optional, a mixsig transfer config) on ``u = e/full_well_e``:
     ``e ← full_well_e·f(u)``;
  5. ``DN = e/K + N(0, (read_noise_e/K)²) + dark_offset_dn + dsnu_dn``, K the conversion gain
     (e⁻/DN), rounded to integers and clipped to ``[0, 2^bits − 1]`` (returned as uint16).

  So the camera's full scale is ``full_scale_dn = full_well_e/K`` DN above the dark level and
  the input level of full scale is ``full_scale_level = full_well_e/electrons_per_level``.
  The fixed-pattern maps (``prnu_map``, ``dsnu_map_dn``) are drawn once from the seed; frames
  draw from a separate stream of the same seed.
* `write_calibration_folder` -- lays a camera's measurements out in the folder layout of
  `mixsig.calib.report.calibrate_folder` (mixing .npy, .npz, 16-bit TIFF and 16-bit PNG files).
* `Device` -- the interface a measured device offers: ``forward(x) -> camera output`` and
  ``describe()``; `SimulatedDevice` implements it for an optical conv layer with hidden
  mismatches (kernel errors W(1+ε)+δ, DOE etch-depth scale α via `from_doe`, misregistration,
  a gamma nonlinearity, shot and read noise, a b-bit camera).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mixsig.config.hardware import GammaConfig, LUTConfig, PolynomialConfig, SoftSaturationConfig
from mixsig.optics.doe import phase_scale, transmission
from mixsig.optics.propagation import crop_center, fraunhofer_psf
from mixsig.signal.chain import build_distortion
from mixsig.signal.distortion import Crosstalk, Gamma, Misregistration

__all__ = [
    "CameraParams",
    "Device",
    "SimulatedDevice",
    "SyntheticCamera",
    "impulse_scene",
    "smooth_pattern",
    "write_calibration_folder",
]

TransferConfig = GammaConfig | PolynomialConfig | SoftSaturationConfig | LUTConfig


@dataclass
class CameraParams:
    """The true parameters of a `SyntheticCamera` (units in the names)."""

    shape: tuple[int, int] = (64, 64)
    bits: int = 12
    conversion_gain_e_per_dn: float = 5.0
    read_noise_e: float = 10.0
    dark_offset_dn: float = 100.0
    dsnu_std_dn: float = 3.0
    prnu_std: float = 0.05
    full_well_e: float = 18000.0
    electrons_per_level: float = 18000.0
    transfer: TransferConfig | None = None
    crosstalk_strength: float = 0.0
    crosstalk_kernel: np.ndarray | None = field(default=None, repr=False)
    shift_px: tuple[float, float] = (0.0, 0.0)
    scale: float = 1.0

    @property
    def read_noise_dn(self) -> float:
        return self.read_noise_e / self.conversion_gain_e_per_dn

    @property
    def full_scale_dn(self) -> float:
        """Signal range above the dark level: the full well in DN."""
        return self.full_well_e / self.conversion_gain_e_per_dn

    @property
    def full_scale_level(self) -> float:
        """The input level whose mean signal is the full well."""
        return self.full_well_e / self.electrons_per_level


class SyntheticCamera:
    """Frames (uint16 DN) of a camera with known parameters (see the module docstring)."""

    def __init__(self, params: CameraParams | None = None, seed: int = 0) -> None:
        self.params = p = params if params is not None else CameraParams()
        maps = np.random.default_rng([seed, 0])
        h, w = p.shape
        self.prnu_map = maps.normal(0.0, p.prnu_std, (h, w)) if p.prnu_std else np.zeros((h, w))
        self.dsnu_map_dn = (
            maps.normal(0.0, p.dsnu_std_dn, (h, w)) if p.dsnu_std_dn else np.zeros((h, w))
        )
        self._rng = np.random.default_rng([seed, 1])
        self._transfer = build_distortion(p.transfer) if p.transfer is not None else None
        if p.crosstalk_kernel is not None:
            self._crosstalk: Crosstalk | None = Crosstalk(
                kernel=torch.as_tensor(p.crosstalk_kernel, dtype=torch.float64)
            )
        elif p.crosstalk_strength:
            self._crosstalk = Crosstalk(p.crosstalk_strength)
        else:
            self._crosstalk = None
        moved = tuple(p.shift_px) != (0.0, 0.0) or p.scale != 1.0
        self._misreg = Misregistration(tuple(p.shift_px), p.scale) if moved else None

    # ----------------------------------------------------------------------------- physics
    def optics(self, scene: np.ndarray | float) -> np.ndarray:
        """The scene (level units) after misregistration and crosstalk, edge-extended."""
        p = self.params
        s = np.broadcast_to(np.asarray(scene, dtype=np.float64), p.shape).copy()
        x = torch.from_numpy(s)[None, None]
        for module, pad in (
            (self._misreg, self._misreg_pad()),
            (self._crosstalk, self._crosstalk_pad()),
        ):
            if module is None:
                continue
            xp = F.pad(x, (pad, pad, pad, pad), mode="replicate")
            with torch.no_grad():
                x = module(xp)[..., pad:-pad, pad:-pad]
        return x[0, 0].numpy()

    def _misreg_pad(self) -> int:
        p = self.params
        return int(math.ceil(max(map(abs, p.shift_px)) + abs(p.scale - 1) * max(p.shape))) + 2

    def _crosstalk_pad(self) -> int:
        if self._crosstalk is None or self._crosstalk.kernel is None:
            return 2
        return max(self._crosstalk.kernel.shape) // 2 + 1

    def capture(self, scene: np.ndarray | float, n_frames: int = 1) -> np.ndarray:
        """``n_frames`` frames (uint16, shape ``(n, H, W)``) of ``scene`` (level units)."""
        p = self.params
        mu = np.clip(self.optics(scene), 0.0, None) * p.electrons_per_level
        mu = mu * (1.0 + self.prnu_map)
        mu = np.clip(mu, 0.0, None)
        e = self._rng.poisson(mu, size=(n_frames, *p.shape)).astype(np.float64)
        e = np.minimum(e, p.full_well_e)
        if self._transfer is not None:
            with torch.no_grad():
                u = torch.from_numpy(e / p.full_well_e)
                e = self._transfer(u).numpy() * p.full_well_e
        dn = e / p.conversion_gain_e_per_dn
        dn = dn + self._rng.normal(0.0, p.read_noise_dn, dn.shape)
        dn = dn + p.dark_offset_dn + self.dsnu_map_dn
        return np.clip(np.rint(dn), 0, 2**p.bits - 1).astype(np.uint16)

    # ----------------------------------------------------------------------------- shortcuts
    def darks(self, n_frames: int) -> np.ndarray:
        return self.capture(0.0, n_frames)

    def flats(self, level: float, n_frames: int) -> np.ndarray:
        return self.capture(level, n_frames)

    def series(self, levels: Sequence[float], n_frames: int) -> list[np.ndarray]:
        """A stack of ``n_frames`` uniform frames per level."""
        return [self.capture(float(lv), n_frames) for lv in levels]


def impulse_scene(
    shape: tuple[int, int], *, spacing: int = 8, level: float = 0.5, margin: int = 4
) -> np.ndarray:
    """Single bright pixels of ``level`` on a grid of pitch ``spacing`` (zero elsewhere)."""
    s = np.zeros(shape)
    s[margin : shape[0] - margin + 1 : spacing, margin : shape[1] - margin + 1 : spacing] = level
    return s


def smooth_pattern(
    shape: tuple[int, int], *, seed: int = 0, correlation_px: float = 3.0
) -> np.ndarray:
    """A smooth random texture in [0.1, 0.9] (Gaussian-filtered white noise) for registration."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=shape)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    filt = np.exp(-2 * (math.pi * correlation_px) ** 2 * (fy**2 + fx**2))
    img = np.fft.ifft2(np.fft.fft2(noise) * filt).real
    img = (img - img.min()) / (img.max() - img.min())
    return 0.1 + 0.8 * img


def write_calibration_folder(
    camera: SyntheticCamera,
    folder: str | os.PathLike,
    *,
    n_darks: int = 32,
    n_flats: int = 16,
    flat_level: float = 0.5,
    ptc_levels: Sequence[float] = (0.02, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 1.3, 1.6),
    exposure_levels: Sequence[float] = tuple(np.linspace(0.05, 0.85, 16)),
    exposure_frames: int = 2,
    impulse_frames: int = 4,
    registration_seed: int = 1,
) -> dict[str, Any]:
    """Write ``darks/ flats/ ptc/ exposure/ impulse/ registration/`` for ``camera``.

    Levels are in units of ``camera.params.full_scale_level`` times the given fractions.
    Returns the truth (the camera's parameters and maps) for tests.
    """
    import tifffile
    from PIL import Image

    root = Path(folder)
    p = camera.params
    l_fs = p.full_scale_level
    for sub in ("darks", "flats", "ptc", "exposure", "impulse", "registration"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    darks = camera.darks(n_darks)
    tifffile.imwrite(root / "darks" / "darks.tif", darks, photometric="minisblack")
    flats = camera.flats(flat_level * l_fs, n_flats)
    np.save(root / "flats" / "flats_a.npy", flats[: n_flats // 2])
    np.savez(root / "flats" / "flats_b.npz", frames=flats[n_flats // 2 :])
    rows = ["level,file", "0.0,dark_pair.npy"]
    np.save(root / "ptc" / "dark_pair.npy", camera.darks(2))
    for i, f in enumerate(ptc_levels):
        name = f"pair_{i:02d}.tif"
        tifffile.imwrite(root / "ptc" / name, camera.flats(f * l_fs, 2), photometric="minisblack")
        rows.append(f"{f * l_fs!r},{name}")
    (root / "ptc" / "levels.csv").write_text("\n".join(rows) + "\n")
    rows = ["level,file"]
    for i, f in enumerate(exposure_levels):
        stack = camera.flats(float(f) * l_fs, exposure_frames)
        for j, frame in enumerate(stack):
            name = f"exp_{i:02d}_{j}.png"
            Image.fromarray(frame).save(root / "exposure" / name)
            rows.append(f"{float(f) * l_fs!r},{name}")
    (root / "exposure" / "levels.csv").write_text("\n".join(rows) + "\n")
    scene = impulse_scene(p.shape, spacing=8, level=0.5 * l_fs)
    np.save(root / "impulse" / "impulses.npy", camera.capture(scene, impulse_frames))
    intended = smooth_pattern(p.shape, seed=registration_seed) * 0.8 * l_fs
    np.save(root / "registration" / "intended.npy", intended)
    np.save(root / "registration" / "recorded.npy", camera.capture(intended, 4))
    return {
        "params": p,
        "prnu_map": camera.prnu_map,
        "dsnu_map_dn": camera.dsnu_map_dn,
        "full_scale_dn": p.full_scale_dn,
        "full_scale_level": l_fs,
    }


# ----------------------------------------------------------------------------- devices
@runtime_checkable
class Device(Protocol):
    """What a mixed-signal device (simulated or a real camera behind optics) offers.

    ``forward(x)``: run the analog layer on a batch ``(N, C_in, H, W)`` of inputs in the
    DAC's units (fractions of full drive, [0, 1]) and return the camera output
    ``(N, C_out, H, W)`` in mixsig signal units (dark-subtracted DN / full_scale_dn,
    quantized to the camera's levels). No gradient: it is a measurement.
    ``describe()``: what the device says about itself (bits, shapes, units), never its hidden
    errors.
    """

    def forward(self, x: Tensor) -> Tensor: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class DeviceTruth:
    """The hidden parameters of a `SimulatedDevice` (for tests and HIL experiments)."""

    eps: Tensor
    delta: Tensor
    alpha: float
    shift_px: tuple[float, float]
    scale: float
    gamma: float
    read_noise_lsb: float
    shot_electrons_per_unit: float | None


class SimulatedDevice:
    """An optical conv layer with hidden fabrication and alignment errors (implements `Device`).

    ``forward(x)``: ``y = conv2d(x, W')·exposure`` (cross-correlation with "same" zero padding,
    as mixsig's conv layers) with the realised kernel ``W' = max(W(1 + ε) + δ, 0)``, then
    misregistration (shift/scale), shot noise (Poisson, if ``shot_electrons_per_unit``), a
    gamma curve on the normalised signal (the detector's response to its electrons), read
    noise of ``read_noise_lsb`` LSB, and a ``adc_bits`` camera over [0, 1].
    ε ~ N(0, rel_mismatch_std²) and δ ~ N(0, (abs_mismatch_std·max W)²) are drawn once from
    ``seed``; noise draws from its own stream.
    """

    def __init__(
        self,
        kernels: Tensor,
        *,
        adc_bits: int = 8,
        exposure: float = 1.0,
        rel_mismatch_std: float = 0.05,
        abs_mismatch_std: float = 0.01,
        shift_px: tuple[float, float] = (0.0, 0.0),
        scale: float = 1.0,
        gamma: float = 1.0,
        read_noise_lsb: float = 0.5,
        shot_electrons_per_unit: float | None = None,
        alpha: float = 1.0,
        seed: int = 0,
        nominal_kernels: Tensor | None = None,
    ) -> None:
        w = torch.as_tensor(kernels, dtype=torch.float64)
        if w.dim() != 4 or w.shape[-1] % 2 == 0 or w.shape[-2] % 2 == 0:
            raise ValueError(
                f"kernels must be (C_out, C_in, k, k) with odd k, got shape {tuple(w.shape)}"
            )
        self.nominal_kernels = (
            w.clone() if nominal_kernels is None else torch.as_tensor(nominal_kernels).double()
        )
        g = torch.Generator().manual_seed(seed)
        eps = torch.randn(w.shape, generator=g, dtype=torch.float64) * rel_mismatch_std
        delta = torch.randn(w.shape, generator=g, dtype=torch.float64) * (
            abs_mismatch_std * float(w.abs().max())
        )
        self._realised = torch.clamp(w * (1 + eps) + delta, min=0.0)
        self.adc_bits = int(adc_bits)
        self.exposure = float(exposure)
        self._misreg = Misregistration(shift_px, scale)
        self._gamma = Gamma(gamma)
        self.truth = DeviceTruth(
            eps,
            delta,
            float(alpha),
            tuple(shift_px),
            float(scale),
            float(gamma),
            float(read_noise_lsb),
            shot_electrons_per_unit,
        )
        self._noise = torch.Generator().manual_seed(seed + 1_000_003)

    @classmethod
    def from_doe(
        cls,
        phase: Tensor,
        *,
        alpha: float = 1.0,
        kernel_size: int = 5,
        oversample: int = 2,
        **kwargs: Any,
    ) -> SimulatedDevice:
        """A one-channel device whose kernel is the PSF of a DOE phase (radians, N × N)
        fabricated with etch-depth scale ``alpha`` (`mixsig.optics.phase_scale`).

        The kernel is the central ``kernel_size²`` block of the Fraunhofer PSF, divided by the
        sum of that block for the ideal DOE (α = 1), so the nominal kernel sums to 1.
        """
        phase = torch.as_tensor(phase, dtype=torch.float64)

        def window(a: float) -> Tensor:
            psf = fraunhofer_psf(transmission(phase_scale(phase, a)), oversample)
            return crop_center(psf, (kernel_size, kernel_size))

        nominal = window(1.0)
        norm = nominal.sum()
        real = window(alpha) / norm
        return cls(
            real[None, None], alpha=alpha, nominal_kernels=(nominal / norm)[None, None], **kwargs
        )

    @property
    def lsb(self) -> float:
        return 1.0 / (2**self.adc_bits - 1)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        x = torch.as_tensor(x, dtype=torch.float64)
        if x.dim() != 4 or x.shape[1] != self._realised.shape[1]:
            raise ValueError(
                f"input must be (N, {self._realised.shape[1]}, H, W), got {tuple(x.shape)}"
            )
        k = self._realised.shape[-1]
        y = F.conv2d(x, self._realised, padding=k // 2) * self.exposure
        y = self._misreg(y)
        y = torch.clamp(y, min=0.0)
        t = self.truth
        if t.shot_electrons_per_unit is not None:  # photo-electrons, then the detector's gamma
            y = torch.poisson(y * t.shot_electrons_per_unit, generator=self._noise)
            y = y / t.shot_electrons_per_unit
        y = self._gamma(y)
        lsb = self.lsb
        y = y + torch.randn(y.shape, generator=self._noise, dtype=y.dtype) * (
            t.read_noise_lsb * lsb
        )
        codes = torch.clamp(torch.round(y / lsb), 0, 2**self.adc_bits - 1)
        return codes * lsb

    __call__ = forward

    def describe(self) -> dict[str, Any]:
        c_out, c_in, kh, kw = self._realised.shape
        return {
            "kind": "simulated optical conv layer",
            "in_channels": c_in,
            "out_channels": c_out,
            "kernel_size": (kh, kw),
            "adc_bits": self.adc_bits,
            "output_units": "dark-subtracted DN / full_scale_dn, quantized to 2^adc_bits levels",
        }
