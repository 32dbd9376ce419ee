"""Writers of the standard data formats, from their specifications (IDX, CIFAR-10 binary): small
files the data tests and the end-to-end tests load; nothing is downloaded."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

N_TRAIN, N_TEST = 20, 10
CIFAR_PER_BATCH, CIFAR_TEST = 4, 6
IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CIFAR_NAMES = (*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin")
BE_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


# ---------------------------------------------------------------- writers (the formats' specs)


def idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    """IDX: 0x0000, type code, ndim, big-endian uint32 dims, big-endian data."""
    header = struct.pack(">HBB", 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + np.asarray(arr).astype(BE_DTYPES[code]).tobytes()


def write(path: Path, data: bytes, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def mnist_arrays(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        IDX_NAMES[0]: rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        IDX_NAMES[1]: (np.arange(N_TRAIN) * 3 % 10).astype(np.uint8),
        IDX_NAMES[2]: rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        IDX_NAMES[3]: (np.arange(N_TEST) * 7 % 10).astype(np.uint8),
    }


def write_mnist(folder: Path, gz: bool = False, seed: int = 0) -> dict[str, np.ndarray]:
    arrays = mnist_arrays(seed)
    for name, arr in arrays.items():
        write(folder / (name + (".gz" if gz else "")), idx_bytes(arr), gz)
    return arrays


def cifar_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    """CIFAR-10 binary: per record 1 label byte, then R plane, G plane, B plane (row-major)."""
    flat = images.reshape(len(images), -1)
    return np.concatenate([labels[:, None], flat], axis=1).astype(np.uint8).tobytes()


def write_cifar(folder: Path, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Five train batches and a test batch; returns (train x, train y, test x, test y)."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for i, name in enumerate(CIFAR_NAMES):
        n = CIFAR_TEST if i == 5 else CIFAR_PER_BATCH
        x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        y = ((np.arange(n) + i) % 10).astype(np.uint8)
        write(folder / name, cifar_bytes(x, y))
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs[:5]), np.concatenate(ys[:5]), xs[5], ys[5]
