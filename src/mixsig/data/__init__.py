"""Data sets: bundled ones (no download) and local folders in standard formats (IDX, CIFAR-10);
`load_split` picks one from the fields of a run's data config."""

from mixsig.data.bundled import Split, bundled_digits, bundled_mnist
from mixsig.data.from_config import load_split
from mixsig.data.idx import DataError
from mixsig.data.local import load_local

__all__ = ["DataError", "Split", "bundled_digits", "bundled_mnist", "load_local", "load_split"]
