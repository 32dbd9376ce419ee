"""Reader for the IDX file format (MNIST, Fashion-MNIST), raw or gzip-compressed.

Owns `DataError` (the one exception every local-data reader raises, naming the file and what is
wrong with it), `read_bytes` (reads a file once, transparently decompressing gzip when the file
*starts with* the gzip magic bytes, whatever its name) and `parse_idx` / `read_idx`.

IDX layout (all integers big-endian): two zero bytes, a type-code byte, a dimension-count byte,
one uint32 per dimension, then the data in row-major order. Type codes: 0x08 uint8, 0x09 int8,
0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from mixsig.errors import MixsigError

GZIP_MAGIC = b"\x1f\x8b"

IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class DataError(MixsigError):
    """A local data file is missing, malformed or inconsistent; the message names the file."""


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The contents of `path`, gunzipped if it starts with the gzip magic bytes."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read file ({e.strerror or e})") from e
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: corrupt gzip stream ({e})") from e


def _header(data: bytes, source: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, dims, header length) of an IDX byte string."""
    if len(data) < 4:
        raise DataError(f"{source}: truncated IDX header ({len(data)} bytes, need at least 4)")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0:
        raise DataError(
            f"{source}: bad IDX magic number 0x{data[:4].hex()} (must start with two zero bytes)"
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DataError(f"{source}: unknown IDX type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise DataError(f"{source}: IDX header declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataError(
            f"{source}: truncated IDX header ({len(data)} bytes, {ndim} dimensions need "
            f"{header_len})"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header_len])
    return IDX_DTYPES[code], dims, header_len


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode an (uncompressed) IDX byte string into an array of shape `dims`, native byte order.

    `source` names the data in error messages. Raises `DataError` on a bad magic number, an
    unknown type code, or a payload shorter (truncated) or longer (trailing bytes) than the header
    says.
    """
    dtype, dims, header_len = _header(data, source)
    expected = math.prod(dims) * dtype.itemsize
    got = len(data) - header_len
    shape = "x".join(map(str, dims))
    if got < expected:
        raise DataError(
            f"{source}: truncated: header says {shape} {dtype.name} ({expected} data bytes) "
            f"but only {got} follow"
        )
    if got > expected:
        raise DataError(
            f"{source}: {got - expected} trailing bytes after the {expected} data bytes that the "
            f"header ({shape} {dtype.name}) declares"
        )
    count = math.prod(dims)
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header_len).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (raw or gzipped) into a native-byte-order array."""
    return parse_idx(read_bytes(path), str(path))
