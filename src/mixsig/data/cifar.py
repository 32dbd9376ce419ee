"""Reader for the *binary* version of CIFAR-10 (`cifar-10-batches-bin`); never unpickles.

Owns the file names of that version; `parse_cifar_batch` / `read_cifar_batches` (records of
1 label byte + 3,072 pixel bytes: the 1,024 red, then green, then blue values of a 32×32 image,
row-major); `to_grayscale` (ITU-R BT.601 luma of the uint8 planes); and `python_version_error`,
the refusal given when a user points at the pickled python version (`cifar-10-batches-py`),
which mixsig will not load: unpickling runs arbitrary code.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mixsig.data.idx import DataError, read_bytes

SIDE = 32
CHANNELS = 3
RECORD_BYTES = 1 + CHANNELS * SIDE * SIDE  # 3073
NUM_CLASSES = 10
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
META_FILE = "batches.meta.txt"
PYTHON_VERSION_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
BINARY_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601
PICKLE_PROTO_BYTE = 0x80  # first byte of a pickle (protocol >= 2); never a valid CIFAR label


def python_version_error(where: str | os.PathLike[str]) -> DataError:
    """The refusal for the pickled python version of CIFAR-10 found at `where`."""
    expected = ", ".join((*TRAIN_FILES, TEST_FILE))
    return DataError(
        f"{where} is the python (pickled) version of CIFAR-10, which mixsig refuses to load: "
        f"unpickling can run arbitrary code. Download the binary version ({BINARY_URL}), "
        f"unpack it and point at the folder holding cifar-10-batches-bin/, which contains "
        f"{expected} (and {META_FILE})"
    )


def parse_cifar_batch(data: bytes, source: str = "<bytes>") -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 3, 32, 32), labels uint8 (N,)) of one binary CIFAR-10 batch.

    Raises `DataError` if the data is empty, looks pickled, is not a whole number of 3,073-byte
    records, or holds a label outside 0..9.
    """
    if not data:
        raise DataError(f"{source}: empty file (expected records of {RECORD_BYTES} bytes)")
    if data[0] == PICKLE_PROTO_BYTE:
        raise python_version_error(source)
    if len(data) % RECORD_BYTES:
        raise DataError(
            f"{source}: size {len(data)} bytes is not a multiple of the {RECORD_BYTES}-byte "
            f"CIFAR-10 record (1 label + {RECORD_BYTES - 1} pixels): truncated or not CIFAR-10 "
            f"binary"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0]
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{source}: label {int(labels[i])} of record {i} is outside 0..{NUM_CLASSES - 1} "
            f"({bad.size} bad labels)"
        )
    images = records[:, 1:].reshape(-1, CHANNELS, SIDE, SIDE)
    return images, labels


def read_cifar_batches(
    paths: Sequence[str | os.PathLike[str]], limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated (images, labels) of the batch files, in order, reading each file once.

    With `limit`, stops after the first `limit` records (later files are not read).
    """
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    remaining = limit
    for path in paths:
        if remaining is not None and remaining <= 0:
            break
        x, y = parse_cifar_batch(read_bytes(path), str(Path(path)))
        if remaining is not None:
            x, y = x[:remaining], y[:remaining]
            remaining -= len(y)
        xs.append(x)
        ys.append(y)
    if not xs:
        raise ValueError("read_cifar_batches needs at least one file and a positive limit")
    return np.concatenate(xs), np.concatenate(ys)


def to_grayscale(x: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) uint8 RGB → (N, 1, H, W) float32 luma in [0, 1]: (0.299 R + 0.587 G +
    0.114 B) / 255, without building a float copy of all three planes."""
    r, g, b = (np.float32(w / 255.0) for w in LUMA_WEIGHTS)
    y = np.multiply(x[:, 0:1], r, dtype=np.float32)
    y += np.multiply(x[:, 1:2], g, dtype=np.float32)
    y += np.multiply(x[:, 2:3], b, dtype=np.float32)
    return np.clip(y, 0.0, 1.0, out=y)
