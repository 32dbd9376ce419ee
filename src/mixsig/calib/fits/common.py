"""Shared pieces of the calibration fits: the reported parameter and the residual statistics.

Every fit of `mixsig.calib.fits` reports its parameters as `Param` rows, summarises its
residuals with `_residual_stats` (root mean square and largest absolute value) and builds its
piece of `mixsig.config.HardwareConfig` through `_config`, which turns a schema violation into
a `CalibrationError` naming the config.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import ValidationError

from mixsig.calib.frames import CalibrationError

__all__ = ["Param"]


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
