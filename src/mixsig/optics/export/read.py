"""The import: `import_doe` reads any export back into a float64 phase and its metadata.

Owns `import_doe`: by the file's suffix, ``.safetensors`` (the exact phase), ``.tif`` /
``.tiff`` (the codes times the scale) or ``.gds`` (the levels rasterised by `read_gds_levels`);
anything else — pickles such as ``.pt`` included — is refused, never read.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

from mixsig.optics.doe import TWO_PI

from .gds import read_gds_levels
from .metadata import DOEFileError, DOEMetadata
from .safetensors_file import import_safetensors
from .tiff import import_tiff


def import_doe(path: str | os.PathLike[str]) -> tuple[Tensor, DOEMetadata]:
    """Read an export back: (phase in [0, 2π), float64 N × N; its `DOEMetadata`).

    ``.safetensors`` gives the exact phase; ``.tif``/``.tiff`` (either the height or the phase
    image) the codes times the scale (exact for L levels: level k·2π/L); ``.gds`` the levels
    k·2π/L rasterised by `read_gds_levels`. Never unpickles. Raises `DOEFileError` naming the
    problem (shape, missing keys, dtype / bit depth, range, not one of ours).
    """
    path = Path(path)
    if not path.is_file():
        raise DOEFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return import_safetensors(path)
    if suffix in (".tif", ".tiff"):
        return import_tiff(path)
    if suffix == ".gds":
        levels, meta = read_gds_levels(path)
        assert meta.levels is not None
        return levels.to(torch.float64) * (TWO_PI / meta.levels), meta
    raise DOEFileError(
        f"{path}: unsupported file type {suffix!r}; a DOE export is .safetensors, .tif or .gds "
        "(pickles such as .pt are never read)"
    )
