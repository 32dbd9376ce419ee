"""Atomic file writes, shared by every layer that writes files (configs, checkpoints, results).

Owns `atomic_write_bytes` / `atomic_write_text`: the data goes to a temporary file in the same
folder, is flushed and fsync'd, made world-readable (0644), then `os.replace`d over the target,
so a reader — or a run killed mid-write — sees the old file or the new one, never a part.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())
