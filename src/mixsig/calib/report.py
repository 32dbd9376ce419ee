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

Where the pieces live: `calibrate_folder` (here) runs named steps over one shared state --
reading and fitting in `mixsig.calib.pipeline` (darks → photon transfer curve → dark level →
full scale → transfer curve → linear domain → fixed pattern → crosstalk → misregistration →
PTC through the transfer curve), the hardware and the files in `mixsig.calib.writer` (hardware
config → maps file → YAML → report folder), then the figures (`mixsig.calib.figures`) and the
Markdown (`mixsig.calib.markdown`). The maps file itself is `mixsig.calib.maps`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from mixsig._atomic import atomic_write_text
from mixsig.calib.figures import draw_figures
from mixsig.calib.maps import load_maps, tile_maps
from mixsig.calib.markdown import markdown
from mixsig.calib.outcome import CalibrationReport
from mixsig.calib.pipeline import MEASUREMENT_STEPS, Options, State, check_folder
from mixsig.calib.writer import OUTPUT_STEPS
from mixsig.config.hardware import HardwareConfig

__all__ = ["CalibrationReport", "calibrate_folder", "load_maps", "tile_maps"]

TransferChoice = Literal["auto", "gamma", "polynomial", "lut", "none"]


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
    options = Options(
        adc_bits=adc_bits,
        camera_bits=camera_bits,
        full_scale_dn=full_scale_dn,
        full_scale_level=full_scale_level,
        transfer=transfer,
        polynomial_degree=polynomial_degree,
        transfer_tolerance=transfer_tolerance,
        read_noise_as=read_noise_as,
        base=base,
        learned_gain=learned_gain,
        tiff_bits=tiff_bits,
        saturation_max_fraction=saturation_max_fraction,
        report_dir=report_dir,
        figures=figures,
        maps=maps,
    )
    state = State(folder=Path(folder), out_yaml=Path(out_yaml), opts=options)
    check_folder(state.folder, transfer)
    for step in (*MEASUREMENT_STEPS, *OUTPUT_STEPS, draw_figures):
        step(state)
    report = _report(state)
    return report.hardware, report


def _report(s: State) -> CalibrationReport:
    """The last step: the `CalibrationReport` of the run, its Markdown written to report.md."""
    rdir: Path = s.report_dir  # type: ignore[assignment]  # set by make_report_dir
    report = CalibrationReport(
        hardware=s.hardware,  # type: ignore[arg-type]  # set by build_hardware
        yaml_path=s.out_yaml,
        maps_path=s.maps_path,
        report_dir=rdir,
        markdown_path=rdir / "report.md",
        figures=s.figures,
        fits=s.fits,
        transfer_choice=s.chosen,
        full_scale_dn=s.fs,
        full_scale_source=s.fs_source,
        dark_dn=s.dark_dn,
        skipped=s.skipped,
        warnings=s.warnings,
    )
    report.markdown = markdown(report, s.folder, s.opts.adc_bits, s.opts.transfer_tolerance)
    atomic_write_text(report.markdown_path, report.markdown)
    return report
