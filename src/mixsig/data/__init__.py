"""Data sets: bundled ones (no download) and, later, local folders in standard formats."""

from mixsig.data.bundled import Split, bundled_digits, bundled_mnist

__all__ = ["Split", "bundled_digits", "bundled_mnist"]
