"""Atomic file writes, shared by every layer that writes files (configs, checkpoints, results).

Owns `atomic_write_bytes` / `atomic_write_text` and, for writers that need a file name (a
library's own ``save(filename)``: TIFF, GDSII), `atomic_write_with`: the data goes to a
temporary file in the same folder, is flushed and fsync'd, made world-readable (0644), then
`os.replace`d over the target, so a reader — or a run killed mid-write — sees the old file or
the new one, never a part; on any error the temporary is removed and the target left as it was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def _temporary_sibling(path: Path) -> Iterator[tuple[int, str]]:
    """A new temporary file next to ``path`` (its open descriptor and name); after the body it
    is made 0644 and replaces ``path``; if the body raises, it is removed."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        yield fd, tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with _temporary_sibling(Path(path)) as (fd, _):
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_with(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Atomically write ``path`` by ``write(tmp)``, a writer that creates or truncates the file
    ``tmp`` (a temporary sibling of ``path``) and closes it; returns ``path`` as a Path."""
    path = Path(path)
    with _temporary_sibling(path) as (fd, tmp):
        os.close(fd)
        write(Path(tmp))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
    return path
