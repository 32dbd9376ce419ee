"""Calibrating a camera from a folder of measurements: hardware YAML, maps, figures, report.

Owns `calibrate_folder`, the one call a lab makes: it finds the measurements in a documented
folder layout, runs every fit of `mixsig.calib.fits` that has data, and writes

* ``out_yaml`` -- a `HardwareConfig` (via `mixsig.config.save_yaml`, atomically) that
  `mixsig.load_hardware` / ``mixsig train --hardware`` take unchanged;
* ``<stem>.maps.npz`` next to it (if any map was measured) -- the measured maps that a YAML
  cannot hold: ``gain`` (PRNU g, (H, W)), ``offset`` (DSNU o as a fraction of full scale),
  ``offset_dn``, ``dark_map_dn``, ``crosstalk_kernel``, and the scalars ``full_scale_dn``,
  ``dark_dn``. ``gain``, ``offset`` and ``crosstalk_kernel`` are what the chain applies, in
  its linear domain (before the transfer curve): for a nonlinear camera they are fitted on
  frames mapped through the inverse of the chosen transfer curve f (`mixsig.calib.fits`,
  item 6), so ``offset = f⁻¹(offset_dn/full_scale_dn)``; ``offset_dn`` and ``dark_map_dn``
  are the dark frames as measured (DN);
* ``<stem>_report/`` (or ``report_dir``) -- one PNG figure per fit (data vs fit, residuals)
  and ``report.md`` with every parameter ± its standard error.

Folder layout (every part optional; a fit runs when its data are there)::

    folder/
      darks/                      dark frames (shutter closed), ≥ 2 (≥ 32 recommended)
      flats/                      flat fields at one exposure, ≥ 2 (≥ 16 recommended) → PRNU;
                                  with darks/ also DSNU
      ptc/levels.csv              photon transfer: a pair (≥ 2 frames) of flats per level,
                                  ≥ 5 levels, level 0 = a dark pair (else darks/ is used);
                                  include levels past saturation to measure the full well
      exposure/levels.csv         transfer curve: known input level per exposure, ≥ 2 levels
                                  (gamma ≥ 3, polynomial of degree d ≥ d + 1)
      impulse/                    frames of isolated single bright pixels / point sources
      registration/intended.*     the intended tile (what should land on the sensor)
      registration/recorded.*     the recorded tile (one frame or a stack, averaged)

A frame "file" is any of ``.npy .npz .tif .tiff .png`` holding one frame or a stack (see
`mixsig.calib.frames`); a folder of them is read in name order. ``levels.csv`` has a header
row with a ``level`` column (any unit, the same for all rows) and a ``file`` column naming the
frame file of each row (relative to the CSV); rows of equal level are pooled. Without a
``file`` column a ``frames.<suffix>`` stack next to the CSV holds one frame per row.

Signal units (see `mixsig.calib.fits`): x = (DN − dark_dn)/full_scale_dn. ``full_scale_dn`` is
``full_scale_dn=`` if given, else the full well from the PTC (when the variance collapses,
capped at the largest code), else the largest code ``2^camera_bits − 1`` minus the dark level.
The hardware written has an unsigned ``adc_bits`` ADC with the fixed range [0, 1] (= full
scale), a learned analog gain (the exposure) unless ``learned_gain=False``, and the
distortions in the order light meets them: misregistration, crosstalk, gain/offset, transfer
curve (the misregistration entry needs image-shaped layer outputs ``(N, C, H, W)``; drop
it for a fully connected layer). DAC and weights come from ``base`` (default: mixsig's
defaults with differential weights, since a camera measures non-negative intensities).

The measured maps reach training through the YAML (``maps="measured"``, the default): its
``gain_offset`` entry names ``<stem>.maps.npz`` and `mixsig.nn.OpticalConv2d` crops the sensor
maps to each channel's camera tile (`OpticalConv2d.sensor_index`: the optical axis on the
sensor's centre pixel unless ``sensor_axis_px`` says otherwise); its ``crosstalk`` entry uses
the measured kernel. With ``maps="statistics"`` the entries hold the maps' stds and the
crosstalk strength instead (mixsig draws a statistically equal device), for layers that this
sensor does not read. By hand, for other tile geometries::

    maps = load_maps("hw.maps.npz")
    gain, offset = tile_maps(maps, origins=[(r0, c0), ...], tile_shape=(h, w))  # (C, h, w)
    gain_offset_module.set_(gain=gain, offset=offset)   # y = x·(1 + g) + o·full_scale
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mixsig._atomic import atomic_write_bytes, atomic_write_text
from mixsig.calib.fits import (
    CrosstalkFit,
    FixedPatternFit,
    MisregistrationFit,
    Param,
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
    warp_bilinear,
)
from mixsig.calib.frames import (
    CalibrationError,
    check_saturation,
    find_frame_file,
    frames_by_level,
    max_code,
    read_frames,
)
from mixsig.config.hardware import (
    ADCConfig,
    CrosstalkConfig,
    GainConfig,
    GainOffsetConfig,
    HardwareConfig,
    NoiseConfig,
    WeightConfig,
    with_absolute_paths,
)
from mixsig.config.io import save_yaml

__all__ = ["CalibrationReport", "calibrate_folder", "load_maps", "tile_maps"]

TransferChoice = Literal["auto", "gamma", "polynomial", "lut", "none"]


@dataclass
class CalibrationReport:
    """What `calibrate_folder` did: the fits, the files written, what was skipped and why."""

    hardware: HardwareConfig
    yaml_path: Path
    maps_path: Path | None
    report_dir: Path
    markdown_path: Path
    figures: dict[str, Path]
    fits: dict[str, Any]
    transfer_choice: str | None
    full_scale_dn: float
    full_scale_source: str
    dark_dn: float | None
    skipped: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    markdown: str = ""


# ----------------------------------------------------------------------------- maps
def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_maps(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a ``<stem>.maps.npz`` written by `calibrate_folder`."""
    with np.load(Path(path), allow_pickle=False) as z:
        return {k: np.asarray(z[k]) for k in z.files}


def tile_maps(
    maps: dict[str, np.ndarray],
    origins: list[tuple[int, int]],
    tile_shape: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Crop the sensor's ``gain``/``offset`` maps into ``(C, h, w)`` stacks, one per tile.

    ``origins[c] = (row, col)`` is the top-left sensor pixel of output channel c's tile; the
    result is what `GainOffset(per="pixel").set_(gain=..., offset=...)` takes for a layer whose
    outputs are those tiles.
    """
    gain, offset = maps["gain"], maps["offset"]
    h, w = tile_shape
    out_g, out_o = [], []
    for r, c in origins:
        if r < 0 or c < 0 or r + h > gain.shape[0] or c + w > gain.shape[1]:
            raise CalibrationError(
                f"tile at {(r, c)} of size {tile_shape} does not fit the measured maps of "
                f"shape {gain.shape}; need tiles inside the sensor"
            )
        out_g.append(gain[r : r + h, c : c + w])
        out_o.append(offset[r : r + h, c : c + w])
    return np.stack(out_g), np.stack(out_o)


# ----------------------------------------------------------------------------- figures
def _figure(nrows: int, ncols: int, size: tuple[float, float]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)  # no layout engine: it costs more than the drawing itself
    axes = fig.subplots(nrows, ncols, squeeze=False)
    fig.subplots_adjust(left=0.12, right=0.95, bottom=0.1, top=0.93, wspace=0.35, hspace=0.35)
    return fig, axes


def _save_figure(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _plot_transfer(fits: dict[str, Any], chosen: str | None, path: Path) -> Path:
    fig, ax = _figure(2, 1, (6, 6))
    first = next(iter(fits.values()))
    l_fs = first.full_scale_level
    ax[0, 0].plot(first.levels / l_fs, first.response, "ko", ms=4, label="measured")
    u = np.linspace(0, max(1.0, float(first.levels.max() / l_fs)), 200)
    for name, f in fits.items():
        uu = f.levels / f.full_scale_level
        style = "-" if name == chosen else "--"
        ax[0, 0].plot(
            u, f.predict(u), style, label=f"{name}{' (chosen)' if name == chosen else ''}"
        )
        ax[1, 0].plot(uu, f.response - f.predict(uu), "o" + style, ms=3, label=name)
    ax[0, 0].plot([0, 1], [0, 1], ":", color="grey", label="identity")
    ax[0, 0].set(
        xlabel="u = level / full_scale_level",
        ylabel="v = response / full scale",
        title="transfer curve",
    )
    ax[0, 0].legend(fontsize=8)
    ax[1, 0].axhline(0, color="grey", lw=0.5)
    ax[1, 0].set(xlabel="u", ylabel="residual (of full scale)")
    return _save_figure(fig, path)


def _plot_ptc(f: PTCFit, path: Path) -> Path:
    fig, ax = _figure(2, 1, (6, 6))
    d = f.data
    ax[0, 0].plot(
        d.mean_dn[~f.used], d.variance_dn2[~f.used], "x", color="grey", label="not fitted"
    )
    ax[0, 0].plot(d.mean_dn[f.used], d.variance_dn2[f.used], "ko", ms=4, label="fitted")
    m = np.linspace(0, d.mean_dn.max(), 200)
    k = f.conversion_gain_e_per_dn
    ax[0, 0].plot(
        m,
        f.predicted_variance(m),
        label=f"K = {k:.4g} e-/DN, read = {f.read_noise_dn:.3g} DN"
        + (" (through the transfer curve)" if f.linearised else ""),
    )
    ax[0, 0].axvline(
        f.full_well_dn,
        ls=":",
        color="r",
        label=f"full well {f.full_well_dn:.4g} DN"
        + ("" if f.full_well_reached else " (lower bound)"),
    )
    ax[0, 0].set(
        xlabel="mean signal above dark (DN)",
        ylabel="temporal variance (DN²)",
        title="photon transfer curve",
    )
    ax[0, 0].legend(fontsize=8)
    pred = f.predicted_variance(d.mean_dn)
    ax[1, 0].plot(d.mean_dn[f.used], (d.variance_dn2 - pred)[f.used], "ko", ms=4)
    ax[1, 0].axhline(0, color="grey", lw=0.5)
    ax[1, 0].set(xlabel="mean signal above dark (DN)", ylabel="residual (DN²)")
    return _save_figure(fig, path)


def _plot_fixed_pattern(f: FixedPatternFit, path: Path) -> Path:
    fig, ax = _figure(2, 2, (8, 7))
    im = ax[0, 0].imshow(f.gain, cmap="RdBu_r")
    fig.colorbar(im, ax=ax[0, 0])
    ax[0, 0].set_title(f"PRNU gain g (std {f.prnu_std:.4g})")
    im = ax[0, 1].imshow(f.offset_dn, cmap="RdBu_r")
    fig.colorbar(im, ax=ax[0, 1])
    ax[0, 1].set_title(f"DSNU offset (DN, std {f.dsnu_std_dn:.4g})")
    ax[1, 0].hist(f.gain.ravel(), bins=60)
    ax[1, 0].set(xlabel="g", ylabel="pixels")
    ax[1, 1].hist(f.offset_dn.ravel(), bins=60)
    ax[1, 1].set(xlabel="offset (DN)", ylabel="pixels")
    return _save_figure(fig, path)


def _plot_crosstalk(f: CrosstalkFit, path: Path) -> Path:
    from mixsig.calib.fits import _default_kernel

    fig, ax = _figure(1, 3, (11, 3.6))
    model = _default_kernel(f.strength, f.kernel.shape)
    for a, img, title in (
        (ax[0, 0], f.kernel, f"measured kernel ({f.n_impulses} impulses)"),
        (ax[0, 1], model, f"3×3 model, strength {f.strength:.4g}"),
        (ax[0, 2], f.kernel - model, "residual (measured − model)"),
    ):
        im = a.imshow(img, cmap="viridis" if a is not ax[0, 2] else "RdBu_r")
        fig.colorbar(im, ax=a)
        a.set_title(title, fontsize=9)
    return _save_figure(fig, path)


def _plot_registration(
    intended: np.ndarray, recorded: np.ndarray, f: MisregistrationFit, path: Path
) -> Path:
    fig, ax = _figure(1, 3, (11, 3.6))
    model = f.gain * warp_bilinear(intended, f.shift_px, f.scale) + f.offset
    m = f.margin_px
    resid = (recorded - model)[m:-m, m:-m]
    dy, dx = f.shift_px
    for a, img, title in (
        (ax[0, 0], intended, "intended"),
        (ax[0, 1], recorded, f"recorded\nshift ({dy:.3f}, {dx:.3f}) px, scale {f.scale:.5f}"),
        (ax[0, 2], resid, "residual (recorded − fitted model)"),
    ):
        im = a.imshow(img, cmap="gray" if a is not ax[0, 2] else "RdBu_r")
        fig.colorbar(im, ax=a)
        a.set_title(title, fontsize=9)
    return _save_figure(fig, path)


# ----------------------------------------------------------------------------- markdown
def _fmt(x: float) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.6g}"


def _table(params: list[Param]) -> list[str]:
    lines = ["| parameter | value | ± std. error | unit |", "|---|---|---|---|"]
    for p in params:
        lines.append(f"| {p.name} | {_fmt(p.value)} | {_fmt(p.stderr)} | {p.unit} |")
    return lines


# ----------------------------------------------------------------------------- main entry
def _sub(folder: Path, name: str) -> Path | None:
    p = folder / name
    return p if p.exists() else None


def calibrate_folder(
    folder: str | os.PathLike,
    out_yaml: str | os.PathLike,
    *,
    adc_bits: int,
    camera_bits: int | None = None,
    full_scale_dn: float | None = None,
    full_scale_level: float | None = None,
    transfer: TransferChoice = "auto",
    polynomial_degree: int = 3,
    transfer_tolerance: float = 0.002,
    read_noise_as: Literal["sigma_lsb", "floor"] = "sigma_lsb",
    base: HardwareConfig | None = None,
    learned_gain: bool = True,
    tiff_bits: int | None = 16,
    saturation_max_fraction: float = 1e-3,
    report_dir: str | os.PathLike | None = None,
    figures: bool = True,
    maps: Literal["measured", "statistics"] = "measured",
) -> tuple[HardwareConfig, CalibrationReport]:
    """Calibrate from ``folder`` (layout in the module docstring); write YAML, maps, report.

    ``transfer``: which curve goes into the hardware: ``gamma``, ``polynomial`` (degree
    ``polynomial_degree``), ``lut``, ``none``, or ``auto`` -- the first of gamma, polynomial,
    LUT whose largest residual is at most ``transfer_tolerance`` (fraction of full scale).
    ``full_scale_level``: the input level of full scale in ``exposure/levels.csv`` units
    (default: estimated by each fit). ``camera_bits``: the camera's bit depth (default: that
    of the frames' integer dtype) for saturation checks and the fallback full scale.
    ``maps``: ``measured`` (default) -- the YAML's ``gain_offset`` and ``crosstalk`` entries
    name the measured maps (``maps: <stem>.maps.npz``): the sensor's own PRNU/DSNU, cropped to
    each channel's tile by `mixsig.nn.OpticalConv2d`, and the measured crosstalk kernel;
    ``statistics`` -- they hold the maps' stds and the crosstalk strength, from which mixsig
    draws a statistically equal device (for layers that are not read by this camera's sensor).
    Raises `CalibrationError` for unusable data and when nothing can be calibrated.
    """
    if maps not in ("measured", "statistics"):
        raise ValueError(f"maps must be 'measured' or 'statistics', got {maps!r}")
    folder = Path(folder)
    out_yaml = Path(out_yaml)
    if not folder.is_dir():
        raise CalibrationError(f"{folder}: no such folder (need a folder of measurements)")
    known = ("darks", "flats", "ptc", "exposure", "impulse", "registration")
    if not any((folder / k).exists() for k in known):
        raise CalibrationError(
            f"{folder}: found none of the measurement folders {', '.join(k + '/' for k in known)}"
            "; need at least one (see mixsig.calib.report)"
        )
    if transfer not in ("auto", "gamma", "polynomial", "lut", "none"):
        raise ValueError(f"transfer must be auto/gamma/polynomial/lut/none, got {transfer!r}")
    fits: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    warnings: list[str] = []

    darks = read_frames(folder / "darks", tiff_bits=tiff_bits) if _sub(folder, "darks") else None
    if darks is None:
        skipped["darks"] = "no darks/ folder"
    dtype_ref = darks

    # -- photon transfer curve
    ptc: PTCFit | None = None
    ptc_csv = folder / "ptc" / "levels.csv"
    if ptc_csv.is_file():
        levels, stacks = frames_by_level(ptc_csv, tiff_bits=tiff_bits)
        dtype_ref = dtype_ref if dtype_ref is not None else stacks[0]
        ptc = fit_ptc(photon_transfer(levels, stacks, darks=darks))
        fits["ptc"] = ptc
    else:
        skipped["ptc"] = "no ptc/levels.csv"

    dark_dn: float | None = None
    if darks is not None:
        dark_dn = float(darks.mean())
    elif ptc is not None:
        dark_dn = ptc.data.dark_dn

    # -- full scale
    top = max_code(dtype_ref, camera_bits) if dtype_ref is not None or camera_bits else None
    if full_scale_dn is not None:
        if not full_scale_dn > 0:
            raise CalibrationError(f"full_scale_dn must be > 0, found {full_scale_dn!r}")
        fs, fs_source = float(full_scale_dn), "given (full_scale_dn)"
    elif ptc is not None and ptc.full_well_reached:
        fs, fs_source = ptc.full_well_dn, "full well from the photon transfer curve"
        if top is not None and dark_dn is not None and top - dark_dn < fs:
            fs, fs_source = top - dark_dn, "largest code minus dark (the ADC clips first)"
    elif top is not None and dark_dn is not None:
        fs, fs_source = top - dark_dn, "largest code minus dark level"
        if ptc is not None:
            warnings.append(
                "the photon transfer curve did not reach the full well; full scale is the "
                "largest code minus the dark level"
            )
    else:
        fs, fs_source = math.nan, "unknown"

    def need_fs(what: str) -> float:
        if not math.isfinite(fs):
            raise CalibrationError(
                f"{what}: found no dark frames or camera bit depth to set the full scale; need "
                "darks/ (with integer frames), camera_bits or full_scale_dn"
            )
        return fs

    # -- transfer curve
    transfer_fits: dict[str, Any] = {}
    chosen: str | None = None
    exp_csv = folder / "exposure" / "levels.csv"
    if exp_csv.is_file() and transfer != "none":
        levels, stacks = frames_by_level(exp_csv, tiff_bits=tiff_bits)
        exp_dark = dark_dn
        if exp_dark is None and levels[0] == 0:
            exp_dark = float(stacks[0].mean())
        if exp_dark is None:
            raise CalibrationError(
                f"{exp_csv}: found no dark level (no darks/, no ptc/ dark pair, no level 0); "
                "need one of them to subtract the dark level"
            )
        v, v_se = exposure_response(stacks, dark_dn=exp_dark, full_scale_dn=need_fs(str(exp_csv)))
        makers = {
            "gamma": lambda: fit_gamma(levels, v, full_scale_level=full_scale_level),
            "polynomial": lambda: fit_polynomial(
                levels, v, degree=polynomial_degree, full_scale_level=full_scale_level
            ),
            "lut": lambda: fit_lut(
                levels, v, response_stderr=v_se, full_scale_level=full_scale_level
            ),
        }
        if transfer != "auto":
            transfer_fits[transfer] = makers[transfer]()
            chosen = transfer
        else:
            errors = {}
            for name, make in makers.items():
                try:
                    transfer_fits[name] = make()
                except CalibrationError as err:
                    errors[name] = str(err)
            if not transfer_fits:
                raise CalibrationError(errors["lut"])
            for name, msg in errors.items():
                skipped[f"transfer_{name}"] = msg
            for name, f in transfer_fits.items():
                if f.residual_max <= transfer_tolerance:
                    chosen = name
                    break
            if chosen is None:
                chosen = "lut" if "lut" in transfer_fits else next(iter(transfer_fits))
        for name, f in transfer_fits.items():
            fits[f"transfer_{name}"] = f
    elif transfer == "none":
        skipped["transfer"] = "transfer='none'"
    else:
        skipped["transfer"] = "no exposure/levels.csv"

    # -- the linear domain: the chain applies crosstalk and the fixed pattern before the
    #    transfer curve, so a nonlinear camera's frames are fitted through f⁻¹ (fits, item 6)
    lin: dict[str, Any] = {}
    if chosen is not None:
        lin = dict(transfer=transfer_fits[chosen].predict, full_scale_dn=need_fs("linearising"))

    # -- fixed pattern
    fixed: FixedPatternFit | None = None
    if _sub(folder, "flats"):
        flats = read_frames(folder / "flats", tiff_bits=tiff_bits)
        check_saturation(
            flats,
            f"{folder / 'flats'}",
            camera_bits=camera_bits,
            max_fraction=saturation_max_fraction,
        )
        if darks is None:
            skipped["fixed_pattern"] = "flats/ without darks/: the offset cannot be removed"
        else:
            fixed = fit_fixed_pattern(
                flats,
                darks,
                camera_bits=camera_bits,
                max_saturated_fraction=saturation_max_fraction,
                **lin,
            )
            fits["fixed_pattern"] = fixed
    else:
        skipped["fixed_pattern"] = "no flats/ folder"

    # -- crosstalk
    crosstalk: CrosstalkFit | None = None
    if _sub(folder, "impulse"):
        frames = read_frames(folder / "impulse", tiff_bits=tiff_bits)
        dark: np.ndarray | float
        if fixed is not None and fixed.dark_map_dn.shape == frames.shape[1:]:
            dark, gain = fixed.dark_map_dn, fixed.gain
        else:
            dark, gain = (dark_dn if dark_dn is not None else 0.0), None
            if dark_dn is None:
                warnings.append(
                    "impulse frames: no dark level known; the frames were not "
                    "dark-subtracted (the kernel tails include the dark offset)"
                )
        crosstalk = fit_crosstalk(frames, dark=dark, gain=gain, **lin)
        fits["crosstalk"] = crosstalk
    else:
        skipped["crosstalk"] = "no impulse/ folder"

    # -- misregistration
    misreg: MisregistrationFit | None = None
    reg_pair: tuple[np.ndarray, np.ndarray] | None = None
    if _sub(folder, "registration"):
        reg = folder / "registration"
        pi, pr = find_frame_file(reg, "intended"), find_frame_file(reg, "recorded")
        if pi is None or pr is None:
            raise CalibrationError(
                f"{reg}: found {'no intended.*' if pi is None else 'no recorded.*'}; need both "
                "intended.<npy|npz|tif|tiff|png> and recorded.<...>"
            )
        intended = read_frames(pi, tiff_bits=None).astype(np.float64).mean(axis=0)
        recorded = read_frames(pr, tiff_bits=tiff_bits).astype(np.float64).mean(axis=0)
        if fixed is not None and fixed.gain.shape == recorded.shape:
            recorded = linear_signal(recorded, fixed.dark_map_dn, **lin) / (1.0 + fixed.gain)
        elif lin and dark_dn is not None:
            recorded = linear_signal(recorded, dark_dn, **lin)
        misreg = fit_misregistration(intended, recorded)
        fits["misregistration"] = misreg
        reg_pair = (intended, recorded)
    else:
        skipped["misregistration"] = "no registration/ folder"

    if not fits:
        raise CalibrationError(
            f"{folder}: found no data any fit can use; need at least one of ptc/levels.csv, "
            "flats/ with darks/, exposure/levels.csv, impulse/, registration/"
        )

    # -- a nonlinear camera shapes its own shot noise: fit the PTC through its transfer curve
    if ptc is not None and chosen is not None:
        ptc = fit_ptc(ptc.data, transfer=transfer_fits[chosen].predict, full_scale_dn=fs)
        fits["ptc"] = ptc

    # -- hardware
    base = (
        base
        if base is not None
        else HardwareConfig(weights=WeightConfig(realisation="differential"))
    )
    maps_path = out_yaml.with_name(out_yaml.stem + ".maps.npz")
    measured = maps == "measured"
    distortion: list[Any] = []
    if misreg is not None:
        distortion.append(misreg.to_config())
    if crosstalk is not None:
        distortion.append(
            CrosstalkConfig(maps=maps_path.name) if measured else crosstalk.to_config()
        )
    if fixed is not None:
        fs_fixed = need_fs("fixed pattern")  # the offset map is a fraction of full scale
        distortion.append(
            GainOffsetConfig(maps=maps_path.name)
            if measured
            else fixed.to_config(full_scale_dn=fs_fixed)
        )
    if chosen is not None:
        distortion.append(transfer_fits[chosen].to_config())
    noise_extra = {"source": base.noise.source, "seed": base.noise.seed}
    if ptc is not None:
        noise = ptc.to_config(
            full_scale_dn=need_fs("noise"), adc_bits=adc_bits, read_noise_as=read_noise_as
        ).model_copy(update=noise_extra)
    elif darks is not None and darks.shape[0] >= 2 and math.isfinite(fs):
        read_dn = math.sqrt(
            max(float(np.var(darks[0].astype(float) - darks[1], ddof=1)) / 2 - 1 / 12, 0.0)
        )
        noise = NoiseConfig(sigma_lsb=read_dn * (2**adc_bits - 1) / fs, **noise_extra)
        warnings.append(
            "no photon transfer curve: shot noise not set; read noise from one dark pair"
        )
    else:
        noise = base.noise
        warnings.append("no photon transfer curve or dark pair: the noise of `base` was kept")
    gain_cfg = base.adc.gain or (GainConfig(init=1.0, learned=True) if learned_gain else None)
    adc = ADCConfig(bits=adc_bits, signed=False, range="fixed", lo=0.0, hi=1.0, gain=gain_cfg)
    if not math.isfinite(fs):
        warnings.append("full scale unknown: the ADC range [0, 1] is in units of an unknown DN")
    hw = HardwareConfig(
        dac=base.dac, weights=base.weights, distortion=distortion, noise=noise, adc=adc
    )

    # -- files: the maps first, so that a YAML never names a file that is not there yet
    out_yaml.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    if fixed is not None:
        arrays.update(
            gain=fixed.gain,
            offset=fixed.offset(fs),
            offset_dn=fixed.offset_dn,
            dark_map_dn=fixed.dark_map_dn,
        )
    if crosstalk is not None:
        arrays["crosstalk_kernel"] = crosstalk.kernel
    if arrays:
        arrays["full_scale_dn"] = np.asarray(fs)
        arrays["dark_dn"] = np.asarray(np.nan if dark_dn is None else dark_dn)
        _save_npz(maps_path, arrays)
    else:
        maps_path = None
    save_yaml(hw, out_yaml)  # map paths relative to the YAML; in memory they are absolute
    hw = with_absolute_paths(hw, out_yaml.parent)
    rdir = (
        Path(report_dir)
        if report_dir is not None
        else out_yaml.with_name(out_yaml.stem + "_report")
    )
    rdir.mkdir(parents=True, exist_ok=True)
    figs: dict[str, Path] = {}
    if figures:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            figures = False
            warnings.append("matplotlib is not installed: no figures were drawn")
    if figures:
        if transfer_fits:
            figs["transfer"] = _plot_transfer(transfer_fits, chosen, rdir / "transfer.png")
        if ptc is not None:
            figs["ptc"] = _plot_ptc(ptc, rdir / "ptc.png")
        if fixed is not None:
            figs["fixed_pattern"] = _plot_fixed_pattern(fixed, rdir / "fixed_pattern.png")
        if crosstalk is not None:
            figs["crosstalk"] = _plot_crosstalk(crosstalk, rdir / "crosstalk.png")
        if misreg is not None and reg_pair is not None:
            figs["misregistration"] = _plot_registration(
                *reg_pair, misreg, rdir / "misregistration.png"
            )

    report = CalibrationReport(
        hardware=hw,
        yaml_path=out_yaml,
        maps_path=maps_path,
        report_dir=rdir,
        markdown_path=rdir / "report.md",
        figures=figs,
        fits=fits,
        transfer_choice=chosen,
        full_scale_dn=fs,
        full_scale_source=fs_source,
        dark_dn=dark_dn,
        skipped=skipped,
        warnings=warnings,
    )
    report.markdown = _markdown(report, folder, adc_bits, transfer_tolerance)
    atomic_write_text(report.markdown_path, report.markdown)
    return hw, report


_TITLES = {
    "ptc": "Photon transfer curve (conversion gain, read noise, full well)",
    "fixed_pattern": "Fixed pattern (PRNU / DSNU)",
    "transfer_gamma": "Transfer curve: gamma",
    "transfer_polynomial": "Transfer curve: polynomial",
    "transfer_lut": "Transfer curve: monotone LUT",
    "crosstalk": "Crosstalk (impulse response)",
    "misregistration": "Misregistration",
}

_FIGURE_OF = {
    "ptc": "ptc",
    "fixed_pattern": "fixed_pattern",
    "transfer_gamma": "transfer",
    "transfer_polynomial": "transfer",
    "transfer_lut": "transfer",
    "crosstalk": "crosstalk",
    "misregistration": "misregistration",
}


def _linearised(fit: Any) -> bool:
    return bool(getattr(fit, "linearised", False))


def _markdown(r: CalibrationReport, folder: Path, adc_bits: int, tol: float) -> str:
    lsb_dn = r.full_scale_dn / (2**adc_bits - 1)
    lines = [
        "# Camera calibration report",
        "",
        f"- measurements: `{folder}`",
        f"- hardware YAML: `{r.yaml_path}` (load with `mixsig.load_hardware`)",
        f"- measured maps: `{r.maps_path}`" if r.maps_path else "- measured maps: none",
        f"- dark level: {_fmt(r.dark_dn)} DN",
        f"- full scale: {_fmt(r.full_scale_dn)} DN above dark ({r.full_scale_source})",
        f"- ADC: {adc_bits} bits over [0, 1] signal units; 1 LSB = {_fmt(lsb_dn)} DN",
        "- signal units: x = (DN − dark_dn) / full_scale_dn; uncertainties are 1-sigma "
        "standard errors",
        "",
    ]
    if r.transfer_choice:
        lines += [
            f"Transfer curve in the hardware: **{r.transfer_choice}** (auto picks the first of "
            f"gamma, polynomial, LUT with max residual ≤ {tol:g} of full scale).",
            "",
        ]
    for key, f in r.fits.items():
        lines += [f"## {_TITLES.get(key, key)}", "", f"Confidence: {f.confidence}.", ""]
        lines += _table(f.parameters())
        if key == "ptc" and f.linearised:
            lines += [
                "",
                f"Fitted through the **{r.transfer_choice}** transfer curve f: var = "
                "f′(x)²·full_scale·x/K + read², x = f⁻¹(mean/full_scale), so K and the full "
                "well in electrons refer to the linear signal (mixsig adds shot noise before "
                "the transfer curve).",
            ]
        if key in ("fixed_pattern", "crosstalk") and _linearised(f):
            lines += [
                "",
                f"Fitted in the linear domain, through the **{r.transfer_choice}** transfer "
                "curve f: frames mapped to full_scale·f⁻¹((DN − dark)/full_scale), as mixsig's "
                "chain applies "
                + (
                    "the gain g and offset o before f (o = f⁻¹(offset_dn/full_scale); "
                    "dsnu_std_dn and offset_dn are the dark frames as measured, in DN)."
                    if key == "fixed_pattern"
                    else "crosstalk to the light, before f."
                ),
            ]
        if key == "ptc" and math.isfinite(r.full_scale_dn):
            lsb = f.read_noise_lsb(full_scale_dn=r.full_scale_dn, adc_bits=adc_bits)
            lsb_se = f.read_noise_dn_stderr * (2**adc_bits - 1) / r.full_scale_dn
            lines += [
                "",
                f"Read noise in LSB of the {adc_bits}-bit ADC: {_fmt(lsb)} ± {_fmt(lsb_se)}; "
                f"shot noise: {_fmt(f.conversion_gain_e_per_dn * r.full_scale_dn)} electrons "
                "per unit of signal (K · full_scale_dn).",
            ]
        fig = r.figures.get(_FIGURE_OF.get(key, key))
        if fig is not None:
            lines += ["", f"![{key}]({fig.name})"]
        lines.append("")
    lines += ["## Hardware written", "", "```yaml"]
    import yaml

    lines += [yaml.safe_dump(r.hardware.model_dump(mode="json"), sort_keys=False).rstrip(), "```"]
    if r.skipped:
        lines += ["", "## Not calibrated", ""]
        lines += [f"- {k}: {v}" for k, v in r.skipped.items()]
    if r.warnings:
        lines += ["", "## Warnings", ""]
        lines += [f"- {w}" for w in r.warnings]
    lines += [
        "",
        "## Applying the measured maps",
        "",
        (
            "The YAML's `gain_offset` and `crosstalk` entries name the measured maps file: an "
            "`OpticalConv2d` read by this camera crops the sensor maps to its channels' tiles "
            "(optical axis on the sensor's centre pixel unless `sensor_axis_px` is set) and "
            "uses the measured crosstalk kernel."
            if any(getattr(d, "maps", None) for d in r.hardware.distortion)
            else "The YAML's `gain_offset` entry holds only the stds of the maps (mixsig then "
            "draws a statistically equal device). To use the measured device itself, "
            "calibrate with maps='measured' (the default), or crop the maps by hand: "
            "`gain, offset = tile_maps(load_maps(path), origins, tile_shape)`, then "
            "`GainOffset.set_(gain=gain, offset=offset)` (y = x·(1 + g) + o·full_scale)."
        ),
        "",
    ]
    return "\n".join(lines)
