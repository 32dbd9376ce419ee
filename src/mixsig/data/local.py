"""Loading the full MNIST, Fashion-MNIST and CIFAR-10 from a local folder (nothing downloaded).

Owns `load_local`, which finds a data set's files under a user's folder (torchvision's layouts
included), reads each file once with the format readers in `idx.py` / `cifar.py`, checks the
files against each other, and returns the official train/test split as a `Split`: images
shaped (N, C, H, W) as stored — uint8 for MNIST, Fashion-MNIST and colour CIFAR-10, float32
luma in [0, 1] for grey CIFAR-10 (`mixsig.data.images.to_input` makes a batch of either an
input) —, labels int64.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mixsig.data.bundled import Split
from mixsig.data.cifar import (
    PYTHON_VERSION_FILES,
    TEST_FILE,
    TRAIN_FILES,
    python_version_error,
    read_cifar_batches,
    to_grayscale,
)
from mixsig.data.idx import DataError, read_idx

NUM_CLASSES = 10
IDX_SIDE = 28
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@dataclass(frozen=True)
class _Layout:
    """Where one data set's files may lie under the root, and what they are called."""

    title: str
    subdirs: tuple[str, ...]
    files: tuple[str, ...]
    gz: bool  # whether each file may also be `<name>.gz`


LAYOUTS: dict[str, _Layout] = {
    "mnist": _Layout("MNIST", ("MNIST/raw", "mnist"), IDX_FILES, True),
    "fashion-mnist": _Layout(
        "Fashion-MNIST", ("FashionMNIST/raw", "fashion-mnist"), IDX_FILES, True
    ),
    "cifar10": _Layout("CIFAR-10", ("cifar-10-batches-bin",), (*TRAIN_FILES, TEST_FILE), False),
}
ALIASES = {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10"}


def _dataset_key(name: str) -> str:
    key = name.strip().lower().replace("_", "-")
    key = ALIASES.get(key, key)
    if key not in LAYOUTS:
        raise ValueError(f"unknown local data set {name!r}; choose one of {', '.join(LAYOUTS)}")
    return key


def _check_limit(arg: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{arg} must be a positive int or None, got {value!r}")


def _either(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def _find(folder: Path, name: str, gz: bool) -> Path | None:
    """`folder/name`, else `folder/name.gz` (when allowed), else None."""
    for candidate in (name, f"{name}.gz") if gz else (name,):
        path = folder / candidate
        if path.is_file():
            return path
    return None


def _resolve(layout: _Layout, root: Path) -> list[Path]:
    """The layout's files from the first searched folder that holds all of them."""
    folders = [root, *(root / sub for sub in layout.subdirs)]
    partial: list[str] = []
    for folder in folders:
        found = [_find(folder, name, layout.gz) for name in layout.files]
        if all(p is not None for p in found):
            return [p for p in found if p is not None]
        missing = [n for n, p in zip(layout.files, found) if p is None]
        if len(missing) < len(layout.files):
            partial.append(f"{folder} lacks {', '.join(missing)}")
    if layout is LAYOUTS["cifar10"]:
        _refuse_python_cifar(root)
    hint = f" ({'; '.join(partial)})" if partial else ""
    raise DataError(f"{layout.title} not found under {root}: {_expected(layout, root)}{hint}")


def _expected(layout: _Layout, root: Path) -> str:
    """'expected <the files> in <root>, <root>/<sub> or ...' — where `_resolve` looks."""
    suffix = "[.gz]" if layout.gz else ""
    files = ", ".join(f"{n}{suffix}" for n in layout.files)
    folders = [root, *(root / sub for sub in layout.subdirs)]
    return f"expected {files} in {_either([str(f) for f in folders])}"


def _refuse_python_cifar(root: Path) -> None:
    """Raise if `root` is, or holds, the pickled python version of CIFAR-10 (never opened)."""
    for folder in (root, root / "cifar-10-batches-py"):
        if folder.name == "cifar-10-batches-py" and folder.is_dir():
            raise python_version_error(folder)
        if any((folder / name).is_file() for name in PYTHON_VERSION_FILES):
            raise python_version_error(folder)


def _check_labels(y: np.ndarray, source: Path) -> None:
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(
            f"{source}: expected a 1-D integer label array, got shape {y.shape} {y.dtype}"
        )
    bad = np.flatnonzero((y < 0) | (y >= NUM_CLASSES))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{source}: label {int(y[i])} at index {i} is outside 0..{NUM_CLASSES - 1} "
            f"({bad.size} bad labels)"
        )


def _check_images(x: np.ndarray, source: Path) -> None:
    if x.dtype != np.uint8:
        raise DataError(f"{source}: expected unsigned-byte (0x08) images, got {x.dtype}")
    if x.ndim != 3 or x.shape[1:] != (IDX_SIDE, IDX_SIDE):
        raise DataError(
            f"{source}: expected images shaped (N, {IDX_SIDE}, {IDX_SIDE}), got {x.shape}"
        )


def _idx_pair(images: Path, labels: Path, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 (N, 1, 28, 28), int64 (N,)) from one images file and its labels file."""
    x, y = read_idx(images), read_idx(labels)
    _check_images(x, images)
    _check_labels(y, labels)
    if len(x) != len(y):
        raise DataError(
            f"image/label count mismatch: {images} holds {len(x)} images but {labels} holds "
            f"{len(y)} labels"
        )
    x, y = x[:limit], y[:limit]
    return x[:, None], y.astype(np.int64)


def _tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as stored (uint8, or computed float32) and int64 labels, as tensors."""
    x = np.require(x, requirements=["C", "W"])  # a read-only file buffer is copied once
    return torch.from_numpy(x), torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))


def _load_idx(key: str, root: Path, limits: tuple[int | None, int | None]) -> Split:
    tr_x, tr_y, te_x, te_y = _resolve(LAYOUTS[key], root)
    train = _tensors(*_idx_pair(tr_x, tr_y, limits[0]))
    test = _tensors(*_idx_pair(te_x, te_y, limits[1]))
    return Split(*train, *test, name=key)


def _cifar_part(paths: list[Path], limit: int | None, grayscale: bool) -> tuple[torch.Tensor, ...]:
    x, y = read_cifar_batches(paths, limit)
    return _tensors(to_grayscale(x) if grayscale else x, y)


def _load_cifar(root: Path, limits: tuple[int | None, int | None], grayscale: bool) -> Split:
    paths = _resolve(LAYOUTS["cifar10"], root)
    train = _cifar_part(paths[:-1], limits[0], grayscale)
    test = _cifar_part(paths[-1:], limits[1], grayscale)
    return Split(*train, *test, name="cifar10-gray" if grayscale else "cifar10")


def load_local(
    name: str,
    root: str | os.PathLike[str],
    *,
    grayscale: bool = False,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> Split:
    """The official train/test split of `name` ("mnist", "fashion-mnist" or "cifar10") from `root`.

    Files are looked for in `root` itself and in torchvision's sub-folders: `MNIST/raw` or
    `mnist` (MNIST), `FashionMNIST/raw` or `fashion-mnist` (Fashion-MNIST), each IDX file raw or
    `.gz`; `cifar-10-batches-bin` (CIFAR-10, binary version only — the pickled python version is
    refused). `grayscale=True` turns CIFAR-10 into one ITU-R BT.601 luma channel (name
    "cifar10-gray"); MNIST-style sets are already one channel. `limit_train` / `limit_test` keep
    the first k samples. Raises `DataError` (a `ValueError`) naming the file and the problem.
    """
    key = _dataset_key(name)
    _check_limit("limit_train", limit_train)
    _check_limit("limit_test", limit_test)
    root = Path(root).expanduser()
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise DataError(f"{LAYOUTS[key].title} root {root} {what}: {_expected(LAYOUTS[key], root)}")
    limits = (limit_train, limit_test)
    if key == "cifar10":
        return _load_cifar(root, limits, grayscale)
    return _load_idx(key, root, limits)
