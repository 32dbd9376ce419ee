"""Measured distortion maps on disk: the ``.npz`` files a hardware YAML names (``maps:``).

This module owns reading them, safely (``allow_pickle=False``: an object array is refused, never
unpickled) and with errors that say which file, which array and what was expected. The arrays
are the ones `mixsig calibrate` writes (``gain``, ``offset``: PRNU g and DSNU o as a fraction of
full scale; ``crosstalk_kernel``: the impulse response, odd × odd).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from mixsig.errors import MixsigError

__all__ = ["MapFileError", "read_maps"]


class MapFileError(MixsigError):
    """A measured-maps file that cannot be used; the message names the file and the array."""


def read_maps(
    path: str | os.PathLike, keys: tuple[str, ...], *, ndim: tuple[int, ...] = (1, 2, 3)
) -> dict[str, np.ndarray]:
    """The float64 arrays ``keys`` of the ``.npz`` at ``path``; each must be finite and of a
    rank in ``ndim``."""
    path = Path(path)
    if not path.is_file():
        raise MapFileError(
            f"measured maps file not found: {path} (expected an .npz with arrays "
            f"{', '.join(keys)}, as `mixsig calibrate` writes next to its YAML)"
        )
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise MapFileError(f"{path} is not a readable NumPy .npz archive: {err}") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise MapFileError(f"{path} holds a single array, not an .npz archive of named maps")
    try:
        missing = [k for k in keys if k not in z.files]
        if missing:
            raise MapFileError(
                f"{path} has no array {', '.join(repr(k) for k in missing)} "
                f"(found: {', '.join(z.files) or 'none'}; needed: {', '.join(keys)})"
            )
        raw = {k: z[k] for k in keys}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise MapFileError(f"{path} is not a readable NumPy .npz archive: {err}") from None
    finally:
        z.close()
    out = {}
    for k, a in raw.items():
        if a.dtype.kind not in "fiu":
            raise MapFileError(f"{path}: array {k!r} must be numeric, got dtype {a.dtype}")
        if a.ndim not in ndim:
            raise MapFileError(
                f"{path}: array {k!r} must have {' or '.join(map(str, ndim))} dimensions, "
                f"got shape {a.shape}"
            )
        a = a.astype(np.float64)
        if not np.isfinite(a).all():
            raise MapFileError(f"{path}: array {k!r} holds NaN or infinite values")
        out[k] = a
    return out
