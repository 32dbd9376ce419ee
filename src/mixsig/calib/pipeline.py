"""The measuring half of `calibrate_folder`: read the folder and run every fit that has data.

`calibrate_folder` (`mixsig.calib.report`, which documents the folder layout) is a pipeline
of named steps sharing one `State`; this module owns the state and the steps that read and
fit, in the order they run (`MEASUREMENT_STEPS`):

    read darks → photon transfer curve → dark level → full scale → transfer curve →
    linear domain → fixed pattern → crosstalk → misregistration → (some data?) →
    photon transfer curve again, through the transfer curve

Each step reads what earlier steps left in the state and adds its own result: a fit in
``fits`` (in the order of the report), or a reason in ``skipped``, and any ``warnings``. The
hardware description and the files are `mixsig.calib.writer`'s, the figures
`mixsig.calib.figures`' and the Markdown `mixsig.calib.markdown`'s.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mixsig.calib.fits import (
    CrosstalkFit,
    FixedPatternFit,
    MisregistrationFit,
    PTCFit,
    exposure_response,
    fit_crosstalk,
    fit_fixed_pattern,
    fit_gamma,
    fit_lut,
    fit_misregistration,
    fit_polynomial,
    fit_ptc,
    linear_signal,
    photon_transfer,
)
from mixsig.calib.frames import (
    CalibrationError,
    check_saturation,
    find_frame_file,
    frames_by_level,
    max_code,
    read_frames,
)
from mixsig.config.hardware import HardwareConfig

__all__ = ["MEASUREMENT_STEPS", "Options", "State", "check_folder"]

#: The measurement folders of the layout; a folder needs at least one of them.
KNOWN_FOLDERS = ("darks", "flats", "ptc", "exposure", "impulse", "registration")


@dataclass(frozen=True)
class Options:
    """The keyword arguments of `calibrate_folder` (see its docstring)."""

    adc_bits: int
    camera_bits: int | None
    full_scale_dn: float | None
    full_scale_level: float | None
    transfer: str
    polynomial_degree: int
    transfer_tolerance: float
    read_noise_as: str
    base: HardwareConfig | None
    learned_gain: bool
    tiff_bits: int | None
    saturation_max_fraction: float
    report_dir: str | os.PathLike | None
    figures: bool
    maps: str


@dataclass
class State:
    """What the steps of `calibrate_folder` share: the inputs, then each step's results."""

    folder: Path
    out_yaml: Path
    opts: Options
    fits: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    darks: np.ndarray | None = None
    dtype_ref: np.ndarray | None = None  # frames whose integer dtype gives the largest code
    ptc: PTCFit | None = None
    dark_dn: float | None = None
    fs: float = math.nan  # full scale, DN above dark
    fs_source: str = "unknown"
    transfer_fits: dict[str, Any] = field(default_factory=dict)
    chosen: str | None = None  # the transfer curve that goes into the hardware
    lin: dict[str, Any] = field(default_factory=dict)  # transfer=, full_scale_dn= of the fits
    fixed: FixedPatternFit | None = None
    crosstalk: CrosstalkFit | None = None
    misreg: MisregistrationFit | None = None
    reg_pair: tuple[np.ndarray, np.ndarray] | None = None  # (intended, recorded) as fitted
    hardware: HardwareConfig | None = None  # from here on: mixsig.calib.writer
    maps_path: Path | None = None
    report_dir: Path | None = None
    figures: dict[str, Path] = field(default_factory=dict)

    def need_fs(self, what: str) -> float:
        """The full scale (DN), or a `CalibrationError` saying that ``what`` needs it."""
        if not math.isfinite(self.fs):
            raise CalibrationError(
                f"{what}: found no dark frames or camera bit depth to set the full scale; need "
                "darks/ (with integer frames), camera_bits or full_scale_dn"
            )
        return self.fs


def _sub(folder: Path, name: str) -> Path | None:
    p = folder / name
    return p if p.exists() else None


def check_folder(folder: Path, transfer: str) -> None:
    """Refuse a missing folder, one without any measurement folder, and an unknown curve."""
    if not folder.is_dir():
        raise CalibrationError(f"{folder}: no such folder (need a folder of measurements)")
    known = KNOWN_FOLDERS
    if not any((folder / k).exists() for k in known):
        raise CalibrationError(
            f"{folder}: found none of the measurement folders {', '.join(k + '/' for k in known)}"
            "; need at least one (see mixsig.calib.report)"
        )
    if transfer not in ("auto", "gamma", "polynomial", "lut", "none"):
        raise ValueError(f"transfer must be auto/gamma/polynomial/lut/none, got {transfer!r}")


def read_darks(s: State) -> None:
    """darks/ → ``darks`` (also the first reference for the camera's largest code)."""
    tiff_bits = s.opts.tiff_bits
    s.darks = (
        read_frames(s.folder / "darks", tiff_bits=tiff_bits) if _sub(s.folder, "darks") else None
    )
    if s.darks is None:
        s.skipped["darks"] = "no darks/ folder"
    s.dtype_ref = s.darks


def fit_photon_transfer(s: State) -> None:
    """ptc/levels.csv → ``ptc`` (a linear camera's; refitted at the end for a nonlinear one)."""
    ptc_csv = s.folder / "ptc" / "levels.csv"
    if ptc_csv.is_file():
        levels, stacks = frames_by_level(ptc_csv, tiff_bits=s.opts.tiff_bits)
        s.dtype_ref = s.dtype_ref if s.dtype_ref is not None else stacks[0]
        s.ptc = fit_ptc(photon_transfer(levels, stacks, darks=s.darks))
        s.fits["ptc"] = s.ptc
    else:
        s.skipped["ptc"] = "no ptc/levels.csv"


def set_dark_level(s: State) -> None:
    """``dark_dn``: the mean of the darks, else the PTC's dark pair, else unknown."""
    if s.darks is not None:
        s.dark_dn = float(s.darks.mean())
    elif s.ptc is not None:
        s.dark_dn = s.ptc.data.dark_dn


def set_full_scale(s: State) -> None:
    """``fs``/``fs_source``: given, else the PTC's full well (capped at the largest code),
    else the largest code minus the dark level, else unknown (nan)."""
    camera_bits, given = s.opts.camera_bits, s.opts.full_scale_dn
    dark_dn = s.dark_dn
    top = max_code(s.dtype_ref, camera_bits) if s.dtype_ref is not None or camera_bits else None
    if given is not None:
        if not given > 0:
            raise CalibrationError(f"full_scale_dn must be > 0, found {given!r}")
        s.fs, s.fs_source = float(given), "given (full_scale_dn)"
    elif s.ptc is not None and s.ptc.full_well_reached:
        s.fs, s.fs_source = s.ptc.full_well_dn, "full well from the photon transfer curve"
        if top is not None and dark_dn is not None and top - dark_dn < s.fs:
            s.fs, s.fs_source = top - dark_dn, "largest code minus dark (the ADC clips first)"
    elif top is not None and dark_dn is not None:
        s.fs, s.fs_source = top - dark_dn, "largest code minus dark level"
        if s.ptc is not None:
            s.warnings.append(
                "the photon transfer curve did not reach the full well; full scale is the "
                "largest code minus the dark level"
            )
    else:
        s.fs, s.fs_source = math.nan, "unknown"


def _transfer_makers(
    o: Options, levels: np.ndarray, v: np.ndarray, v_se: np.ndarray
) -> dict[str, Callable[[], Any]]:
    """One fit per transfer-curve model, in the order ``auto`` tries them."""
    fsl = o.full_scale_level
    return {
        "gamma": lambda: fit_gamma(levels, v, full_scale_level=fsl),
        "polynomial": lambda: fit_polynomial(
            levels, v, degree=o.polynomial_degree, full_scale_level=fsl
        ),
        "lut": lambda: fit_lut(levels, v, response_stderr=v_se, full_scale_level=fsl),
    }


def _fit_auto(s: State, makers: dict[str, Callable[[], Any]]) -> None:
    """``transfer="auto"``: every model that fits; the first within the tolerance is chosen
    (else the LUT, else the first that fitted)."""
    errors = {}
    for name, make in makers.items():
        try:
            s.transfer_fits[name] = make()
        except CalibrationError as err:
            errors[name] = str(err)
    if not s.transfer_fits:
        raise CalibrationError(errors["lut"])
    for name, msg in errors.items():
        s.skipped[f"transfer_{name}"] = msg
    for name, f in s.transfer_fits.items():
        if f.residual_max <= s.opts.transfer_tolerance:
            s.chosen = name
            break
    if s.chosen is None:
        s.chosen = "lut" if "lut" in s.transfer_fits else next(iter(s.transfer_fits))


def fit_transfer_curve(s: State) -> None:
    """exposure/levels.csv → ``transfer_fits`` and the ``chosen`` curve."""
    o = s.opts
    exp_csv = s.folder / "exposure" / "levels.csv"
    if exp_csv.is_file() and o.transfer != "none":
        levels, stacks = frames_by_level(exp_csv, tiff_bits=o.tiff_bits)
        exp_dark = s.dark_dn
        if exp_dark is None and levels[0] == 0:
            exp_dark = float(stacks[0].mean())
        if exp_dark is None:
            raise CalibrationError(
                f"{exp_csv}: found no dark level (no darks/, no ptc/ dark pair, no level 0); "
                "need one of them to subtract the dark level"
            )
        v, v_se = exposure_response(stacks, dark_dn=exp_dark, full_scale_dn=s.need_fs(str(exp_csv)))
        makers = _transfer_makers(o, levels, v, v_se)
        if o.transfer != "auto":
            s.transfer_fits[o.transfer] = makers[o.transfer]()
            s.chosen = o.transfer
        else:
            _fit_auto(s, makers)
        for name, f in s.transfer_fits.items():
            s.fits[f"transfer_{name}"] = f
    elif o.transfer == "none":
        s.skipped["transfer"] = "transfer='none'"
    else:
        s.skipped["transfer"] = "no exposure/levels.csv"


def set_linear_domain(s: State) -> None:
    """``lin``: the chain applies crosstalk and the fixed pattern before the transfer curve,
    so a nonlinear camera's frames are fitted through f⁻¹ (`mixsig.calib.fits`, item 6)."""
    if s.chosen is not None:
        s.lin = dict(
            transfer=s.transfer_fits[s.chosen].predict, full_scale_dn=s.need_fs("linearising")
        )


def fit_fixed_pattern_maps(s: State) -> None:
    """flats/ (with darks/) → ``fixed``: the PRNU and DSNU maps."""
    o = s.opts
    if _sub(s.folder, "flats"):
        flats = read_frames(s.folder / "flats", tiff_bits=o.tiff_bits)
        check_saturation(
            flats,
            f"{s.folder / 'flats'}",
            camera_bits=o.camera_bits,
            max_fraction=o.saturation_max_fraction,
        )
        if s.darks is None:
            s.skipped["fixed_pattern"] = "flats/ without darks/: the offset cannot be removed"
        else:
            s.fixed = fit_fixed_pattern(
                flats,
                s.darks,
                camera_bits=o.camera_bits,
                max_saturated_fraction=o.saturation_max_fraction,
                **s.lin,
            )
            s.fits["fixed_pattern"] = s.fixed
    else:
        s.skipped["fixed_pattern"] = "no flats/ folder"


def fit_crosstalk_kernel(s: State) -> None:
    """impulse/ → ``crosstalk``, dark-subtracted and flat-fielded by the fixed pattern's maps
    when they fit the frames."""
    if _sub(s.folder, "impulse"):
        frames = read_frames(s.folder / "impulse", tiff_bits=s.opts.tiff_bits)
        dark: np.ndarray | float
        fixed, dark_dn = s.fixed, s.dark_dn
        if fixed is not None and fixed.dark_map_dn.shape == frames.shape[1:]:
            dark, gain = fixed.dark_map_dn, fixed.gain
        else:
            dark, gain = (dark_dn if dark_dn is not None else 0.0), None
            if dark_dn is None:
                s.warnings.append(
                    "impulse frames: no dark level known; the frames were not "
                    "dark-subtracted (the kernel tails include the dark offset)"
                )
        s.crosstalk = fit_crosstalk(frames, dark=dark, gain=gain, **s.lin)
        s.fits["crosstalk"] = s.crosstalk
    else:
        s.skipped["crosstalk"] = "no impulse/ folder"


def fit_misregistration_tile(s: State) -> None:
    """registration/intended.* and recorded.* → ``misreg`` (and ``reg_pair`` for the figure);
    the recorded tile in the linear domain, corrected by the fixed pattern when it fits."""
    if not _sub(s.folder, "registration"):
        s.skipped["misregistration"] = "no registration/ folder"
        return
    reg = s.folder / "registration"
    pi, pr = find_frame_file(reg, "intended"), find_frame_file(reg, "recorded")
    if pi is None or pr is None:
        raise CalibrationError(
            f"{reg}: found {'no intended.*' if pi is None else 'no recorded.*'}; need both "
            "intended.<npy|npz|tif|tiff|png> and recorded.<...>"
        )
    intended = read_frames(pi, tiff_bits=None).astype(np.float64).mean(axis=0)
    recorded = read_frames(pr, tiff_bits=s.opts.tiff_bits).astype(np.float64).mean(axis=0)
    fixed = s.fixed
    if fixed is not None and fixed.gain.shape == recorded.shape:
        recorded = linear_signal(recorded, fixed.dark_map_dn, **s.lin) / (1.0 + fixed.gain)
    elif s.lin and s.dark_dn is not None:
        recorded = linear_signal(recorded, s.dark_dn, **s.lin)
    s.misreg = fit_misregistration(intended, recorded)
    s.fits["misregistration"] = s.misreg
    s.reg_pair = (intended, recorded)


def require_data(s: State) -> None:
    """Refuse a folder in which no fit found data."""
    if not s.fits:
        raise CalibrationError(
            f"{s.folder}: found no data any fit can use; need at least one of ptc/levels.csv, "
            "flats/ with darks/, exposure/levels.csv, impulse/, registration/"
        )


def refit_ptc_through_transfer(s: State) -> None:
    """A nonlinear camera shapes its own shot noise: fit the PTC through its transfer curve."""
    if s.ptc is not None and s.chosen is not None:
        s.ptc = fit_ptc(s.ptc.data, transfer=s.transfer_fits[s.chosen].predict, full_scale_dn=s.fs)
        s.fits["ptc"] = s.ptc


#: The steps that read the folder and fit, in the order `calibrate_folder` runs them.
MEASUREMENT_STEPS: tuple[Callable[[State], None], ...] = (
    read_darks,
    fit_photon_transfer,
    set_dark_level,
    set_full_scale,
    fit_transfer_curve,
    set_linear_domain,
    fit_fixed_pattern_maps,
    fit_crosstalk_kernel,
    fit_misregistration_tile,
    require_data,
    refit_ptc_through_transfer,
)
