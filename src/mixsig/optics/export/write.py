"""The export: `export_doe` writes the fabrication files of a DOE, each atomically.

Owns `export_doe` and `FORMATS`: it checks the metadata, the name and the formats asked for
(the GDS needs L = 2^k levels: skipped with a warning when all formats are asked for, refused
before anything is written when asked for by name), prepares the phase once, and writes each
file through `mixsig._atomic` (a temporary sibling, fsync'd, then os.replace'd), the README
last so that it lists what was written.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from torch import Tensor

from mixsig._atomic import atomic_write_bytes, atomic_write_text, atomic_write_with

from .common import as_float64, prepare_phase
from .gds import write_gds
from .metadata import DOEMetadata, check_positive
from .png import png_bytes
from .readme import readme_text
from .safetensors_file import safetensors_bytes
from .tiff import tiff_codes, write_tiff

FORMATS = ("safetensors", "tif", "png", "gds", "readme")


def _check_name(name: str) -> None:
    ok = isinstance(name, str) and name and not name.startswith(".")
    if not ok or not all(ch.isascii() and (ch.isalnum() or ch in "_-.") for ch in name):
        raise ValueError(
            f"name must be a non-empty ASCII file/cell name of letters, digits, '_', '-', '.' "
            f"not starting with '.', got {name!r}"
        )


def export_doe(
    phase_rad: Tensor | np.ndarray,
    out_dir: str | os.PathLike[str],
    meta: DOEMetadata,
    *,
    psf: Tensor | np.ndarray | None = None,
    name: str = "doe",
    formats: Iterable[str] | None = None,
    psf_pitch_m: float | None = None,
) -> dict[str, Path]:
    """Write the fabrication files of a DOE into ``out_dir`` (created if needed).

    Args:
        phase_rad: N × N phase in radians (wrapped to [0, 2π) here). With ``meta.levels`` = L
            every value must be within 1e-6 rad of a level 2πk/L (it is snapped to exactly
            k·2π/L; quantize with `mixsig.optics.quantize_phase` first).
        out_dir: the folder.
        meta: the element's `DOEMetadata`.
        psf: an optional 2-D intensity PSF drawn (log scale) next to the mask in the PNG.
        name: file stem and GDS cell name.
        formats: any of ``"safetensors"``, ``"tif"`` (both TIFFs), ``"png"``, ``"gds"``,
            ``"readme"``; None means all, with the GDS skipped (and a warning) when L is not a
            power of 2. Asking for ``"gds"`` explicitly then raises before anything is written.
        psf_pitch_m: camera-plane pitch of ``psf`` for the PNG axes (default λf/(M·pitch) for
            an M × M `fraunhofer_psf`, when ``meta.focal_length_m`` is set).

    Returns:
        The written paths by key: ``safetensors``, ``height_tif``, ``phase_tif``, ``png``,
        ``gds``, ``readme``. Each file is written to a temporary sibling and os.replace'd
        (`mixsig._atomic`).
    """
    if not isinstance(meta, DOEMetadata):
        raise TypeError(f"meta must be a DOEMetadata, got {type(meta).__name__}")
    _check_name(name)
    wanted = _formats_to_write(meta, name, formats)
    phase, codes = prepare_phase(phase_rad, meta)
    psf_arr = None
    if psf is not None:
        psf_arr = as_float64(psf, "psf")
        if psf_arr.ndim != 2 or psf_arr.min() < 0:
            raise ValueError(f"psf must be a 2-D intensity ≥ 0, got shape {psf_arr.shape}")
    if psf_pitch_m is not None:
        check_positive("psf_pitch_m", psf_pitch_m)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return _write_files(out, name, wanted, phase, codes, meta, psf_arr, psf_pitch_m)


def _formats_to_write(meta: DOEMetadata, name: str, formats: Iterable[str] | None) -> list[str]:
    """The formats asked for (None: all), known ones only; the GDS only for L = 2^k levels."""
    wanted = list(FORMATS if formats is None else dict.fromkeys(formats))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown formats {unknown}; choose from {list(FORMATS)}")
    if "gds" in wanted and meta.etch_steps is None:
        why = (
            f"the GDS layout needs L = 2^k levels (k binary-weighted etch steps), got "
            f"levels = {meta.levels}"
        )
        if formats is not None:
            raise ValueError(f"{why}; export without 'gds' or quantize to 2, 4, 8, 16 … levels")
        # stacklevel 3: the warning names the caller of export_doe
        warnings.warn(f"{why}: no {name}.gds written (the other files are)", stacklevel=3)
        wanted.remove("gds")
    return wanted


def _write_files(
    out: Path,
    name: str,
    wanted: list[str],
    phase: Tensor,
    codes: Tensor | None,
    meta: DOEMetadata,
    psf: np.ndarray | None,
    psf_pitch_m: float | None,
) -> dict[str, Path]:
    """Write each wanted file atomically, in the order of `FORMATS`; the README lists them."""
    written: dict[str, Path] = {}
    if "safetensors" in wanted:
        written["safetensors"] = out / f"{name}.safetensors"
        atomic_write_bytes(written["safetensors"], safetensors_bytes(phase, meta))
    if "tif" in wanted:
        codes16 = tiff_codes(phase, codes, meta)
        for quantity in ("height", "phase"):
            written[f"{quantity}_tif"] = atomic_write_with(
                out / f"{name}_{quantity}.tif",
                lambda p, q=quantity: write_tiff(p, codes16, meta, q),
            )
    if "png" in wanted:
        written["png"] = out / f"{name}.png"
        atomic_write_bytes(written["png"], png_bytes(phase, meta, psf, psf_pitch_m, name))
    if "gds" in wanted:
        assert codes is not None
        written["gds"] = atomic_write_with(
            out / f"{name}.gds", lambda p: write_gds(p, codes, meta, name)
        )
    if "readme" in wanted:
        files = [path.name for path in written.values()]
        text = readme_text(meta, name, phase.shape[0], files)
        written["readme"] = out / f"{name}_README.txt"
        atomic_write_text(written["readme"], text)
    return written
