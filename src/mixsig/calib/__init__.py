"""Calibration from measurements: a lab's camera and optics → mixsig's hardware description.

This subpackage owns the path from measured frames to a `HardwareConfig` that training uses:

* `frames` -- reading frame stacks (.npy, .npz, 16-bit TIFF, PNG) and level tables (CSV),
  with `CalibrationError` for every unusable input;
* `fits` -- the estimators: transfer curve (gamma, polynomial, monotone LUT), fixed pattern
  (PRNU/DSNU maps), photon transfer curve (conversion gain, read noise, full well → noise),
  crosstalk kernel and strength, misregistration shift and scale; each with residuals,
  standard errors and ``to_config()``;
* `report` -- `calibrate_folder`: a documented folder layout in, the hardware YAML, the
  measured maps (.npz), one figure per fit and a Markdown report out;
* `synthetic` -- a camera and a mixed-signal device with known parameters (`SyntheticCamera`,
  `SimulatedDevice`, the `Device` interface) to test calibration and hardware-in-the-loop
  training against.

Signal units: x = (DN − dark_dn)/full_scale_dn (see `mixsig.calib.fits`).
"""

from mixsig.calib.fits import (
    CrosstalkFit,
    FixedPatternFit,
    GammaFit,
    LUTFit,
    MisregistrationFit,
    Param,
    PolynomialFit,
    PTCData,
    PTCFit,
    exposure_response,
    fit_crosstalk,
    fit_fixed_pattern,
    fit_gamma,
    fit_lut,
    fit_misregistration,
    fit_polynomial,
    fit_ptc,
    photon_transfer,
)
from mixsig.calib.frames import CalibrationError, frames_by_level, read_frames, read_levels_csv
from mixsig.calib.maps import load_maps, tile_maps
from mixsig.calib.report import CalibrationReport, calibrate_folder
from mixsig.calib.synthetic import (
    CameraParams,
    Device,
    SimulatedDevice,
    SyntheticCamera,
    write_calibration_folder,
)

__all__ = [
    "CalibrationError",
    "CalibrationReport",
    "CameraParams",
    "CrosstalkFit",
    "Device",
    "FixedPatternFit",
    "GammaFit",
    "LUTFit",
    "MisregistrationFit",
    "PTCData",
    "PTCFit",
    "Param",
    "PolynomialFit",
    "SimulatedDevice",
    "SyntheticCamera",
    "calibrate_folder",
    "exposure_response",
    "fit_crosstalk",
    "fit_fixed_pattern",
    "fit_gamma",
    "fit_lut",
    "fit_misregistration",
    "fit_polynomial",
    "fit_ptc",
    "frames_by_level",
    "load_maps",
    "photon_transfer",
    "read_frames",
    "read_levels_csv",
    "tile_maps",
    "write_calibration_folder",
]
