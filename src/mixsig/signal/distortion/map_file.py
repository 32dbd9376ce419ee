"""Measured distortion maps on disk: the ``.npz`` files a hardware YAML names (``maps:``).

This module owns reading them, safely (``allow_pickle=False``: an object array is refused, never
unpickled) and with errors that say which file, which array and what was expected. The arrays
are the ones `mixsig calibrate` writes (``gain``, ``offset``: PRNU g and DSNU o as a fraction of
full scale; ``crosstalk_kernel``: the impulse response, odd × odd).

It also owns the checks of NumPy array files that `mixsig.calib.frames` shares: `npy_problem`
and `npz_member_problem` say in mixsig's words what keeps a ``.npy`` stream or a ``.npz``
member from loading as a numeric array (no valid header, Python objects, truncated data).
Error messages never pass numpy's own text through: for a pickled or object array numpy
advises loading the file with pickling enabled, which mixsig never does.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mixsig.errors import MixsigError

__all__ = [
    "NPY_READ_ERRORS",
    "MapFileError",
    "npy_problem",
    "npz_member_problem",
    "read_maps",
    "read_npz_member",
]

#: What reading a NumPy file or archive member may raise for a corrupt or truncated file.
NPY_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


class MapFileError(MixsigError):
    """A measured-maps file that cannot be used; the message names the file and the array."""


def npy_problem(stream: BinaryIO, size: int) -> str | None:
    """Why the ``.npy`` data in ``stream`` (``size`` bytes from its start, where ``stream``
    is) cannot be loaded as a numeric array, as ``found …; need …``; None if nothing is
    wrong with its header and length. Reads only the header."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(stream)
        else:
            return f"found .npy format version {version}; need version 1.0 or 2.0 (numpy.save)"
        header_bytes = stream.tell()
    except (OSError, ValueError, EOFError, SyntaxError, TypeError):  # not the archive's errors
        return (
            "found no valid .npy header (not written by numpy.save, or corrupt); need a "
            "NumPy array file"
        )
    if dtype.hasobject:
        return (
            f"found Python objects (dtype {dtype}); need a numeric array (objects are never "
            "unpickled)"
        )
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    have = size - header_bytes
    if have < need:
        return (
            f"found {have} of the {need} bytes of a {tuple(shape)} {dtype} array: the file is "
            "truncated; need the complete file"
        )
    return None


def npz_member_problem(z: np.lib.npyio.NpzFile, name: str) -> str | None:
    """`npy_problem` of the array ``name`` of an open ``.npz`` archive ``z``."""
    member = name if name in z.zip.namelist() else f"{name}.npy"  # NpzFile's own rule
    try:
        info = z.zip.getinfo(member)
        with z.zip.open(info) as fh:
            return npy_problem(fh, info.file_size)
    except NPY_READ_ERRORS:
        return "found corrupt data (the archive member cannot be read); need an intact file"


def _open_npz(path: Path) -> np.lib.npyio.NpzFile:
    try:
        z = np.load(path, allow_pickle=False)
    except NPY_READ_ERRORS:
        raise MapFileError(
            f"{path} is not a readable NumPy .npz archive (not a zip archive of arrays, or "
            "corrupt or truncated); expected a file written by numpy.savez"
        ) from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise MapFileError(f"{path} holds a single array, not an .npz archive of named maps")
    return z


def read_npz_member(
    z: np.lib.npyio.NpzFile, name: str, path: Path, error: type[MixsigError] | None = None
) -> np.ndarray:
    """The array ``name`` of the open archive ``z`` (from ``path``), never unpickled; what keeps
    it from being read raises ``error`` (default `MapFileError`) naming the file and array."""
    error = error or MapFileError
    problem = npz_member_problem(z, name)
    if problem is not None:
        raise error(f"{path}: array {name!r}: {problem}")
    try:
        return np.asarray(z[name])
    except NPY_READ_ERRORS:
        raise error(
            f"{path}: array {name!r}: found corrupt data (the archive member cannot be "
            "read); need an intact file"
        ) from None


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
    with _open_npz(path) as z:
        missing = [k for k in keys if k not in z.files]
        if missing:
            raise MapFileError(
                f"{path} has no array {', '.join(repr(k) for k in missing)} "
                f"(found: {', '.join(z.files) or 'none'}; needed: {', '.join(keys)})"
            )
        raw = {k: read_npz_member(z, k, path) for k in keys}
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
