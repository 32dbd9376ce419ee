"""A run's data set from the fields of its data config: `load_split`.

Owns the mapping from a data config (``mixsig.train.config.DataConfig``: name, root,
grayscale, test_fraction, limit_train, limit_test) to a `Split`. The fields come as arguments:
this layer cannot import the run config's schema (`mixsig.train` sits above `mixsig.data`).
"""

from __future__ import annotations

import os

from mixsig.data.bundled import Split, bundled_digits, bundled_mnist
from mixsig.data.idx import DataError
from mixsig.data.local import load_local


def load_split(
    name: str,
    *,
    seed: int,
    root: str | os.PathLike[str] | None = None,
    grayscale: bool = False,
    test_fraction: float = 0.2,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> Split:
    """The data set ``name``: a bundled one (``bundled-mnist``, ``bundled-digits``) split
    stratified by ``test_fraction`` with ``seed``, or a local one read from ``root``
    (`load_local`); then the first ``limit_train`` / ``limit_test`` samples when given."""
    if name == "bundled-mnist":
        split = bundled_mnist(test_fraction, seed)
    elif name == "bundled-digits":
        split = bundled_digits(test_fraction, seed)
    else:
        if root is None:
            raise DataError(f"data.name={name!r} needs data.root: the folder holding it")
        split = load_local(name, root, grayscale=grayscale)
    if limit_train or limit_test:
        lt, le = limit_train, limit_test
        split = Split(
            split.x_train[:lt],
            split.y_train[:lt],
            split.x_test[:le],
            split.y_test[:le],
            split.name,
        )
    return split


__all__ = ["load_split"]
