"""The measured-maps file ``<stem>.maps.npz`` of `calibrate_folder`: its arrays, writing,
reading and cropping to tiles.

The arrays (see `mixsig.calib.report`): ``gain`` (PRNU g, (H, W)), ``offset`` (DSNU o as a
fraction of full scale, in the linear domain), ``offset_dn``, ``dark_map_dn`` (the dark frames
as measured, DN), ``crosstalk_kernel``, and the scalars ``full_scale_dn`` and ``dark_dn``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from mixsig._atomic import atomic_write_bytes
from mixsig.calib.fits import CrosstalkFit, FixedPatternFit
from mixsig.calib.frames import CalibrationError

__all__ = ["load_maps", "maps_arrays", "save_maps", "tile_maps"]


def maps_arrays(
    fixed: FixedPatternFit | None,
    crosstalk: CrosstalkFit | None,
    full_scale_dn: float,
    dark_dn: float | None,
) -> dict[str, np.ndarray]:
    """The arrays of the maps file; empty when no map was measured."""
    arrays: dict[str, np.ndarray] = {}
    if fixed is not None:
        arrays.update(
            gain=fixed.gain,
            offset=fixed.offset(full_scale_dn),
            offset_dn=fixed.offset_dn,
            dark_map_dn=fixed.dark_map_dn,
        )
    if crosstalk is not None:
        arrays["crosstalk_kernel"] = crosstalk.kernel
    if arrays:
        arrays["full_scale_dn"] = np.asarray(full_scale_dn)
        arrays["dark_dn"] = np.asarray(np.nan if dark_dn is None else dark_dn)
    return arrays


def save_maps(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an uncompressed ``.npz``, atomically."""
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
