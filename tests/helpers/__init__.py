"""Helpers the tests share (importable as ``helpers`` because pytest puts tests/ on the path):
the repository's root, the optical set-up (`helpers.optics`) and writers of the standard data
formats (`helpers.data`). Fixtures live in tests/conftest.py."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
