"""``<name>.safetensors`` — the exact design, written and read back bit-exactly.

Owns `safetensors_bytes` and `import_safetensors`. The file holds the tensors ``phase_rad`` and
``height_m`` (float64, N × N, row r = array row r). Its metadata (str → str) holds ``format`` =
``mixsig.doe``, ``format_version``, the fields of `DOEMetadata` (numbers and null JSON-encoded,
e.g. ``"5.32e-07"``, ``"16"``, ``"null"``), ``height_2pi_m``, ``pixels`` (N), ``units`` and
``axes``. Reading never unpickles; it checks the format, the keys, the tensors' shape and dtype,
the phase range (and level grid) and that the height agrees with the phase.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mixsig.optics.doe import TWO_PI, phase_to_height

from .common import check_square, level_indices, require_keys
from .metadata import FORMAT, REQUIRED_KEYS, STRING_KEYS, DOEFileError, DOEMetadata

_FILE_LEVEL_TOL_RAD = 1e-9  # an L-level phase in a file may deviate this much from k·2π/L
_HEIGHT_RTOL = 1e-9  # height_m vs phase_to_height(phase_rad) in a safetensors file


def safetensors_bytes(phase: Tensor, meta: DOEMetadata) -> bytes:
    """The file's bytes: the tensors and the metadata (the caller writes them atomically)."""
    from safetensors.torch import save

    record = meta.record()
    record["pixels"] = phase.shape[0]
    metadata = {k: v if k in STRING_KEYS else json.dumps(v) for k, v in record.items()}
    height = phase_to_height(phase, meta.wavelength_m, meta.material_index)
    return save({"phase_rad": phase.contiguous(), "height_m": height.contiguous()}, metadata)


def _check_phase_values(phase: Tensor, meta: DOEMetadata, source: str) -> None:
    lo, hi = float(phase.min()), float(phase.max())
    if lo < 0 or hi >= TWO_PI or not math.isfinite(lo + hi):
        raise DOEFileError(
            f"{source}: phase_rad spans [{lo!r}, {hi!r}], outside [0, 2π) (an export is wrapped)"
        )
    if (
        meta.levels is not None
        and level_indices(phase.numpy(), meta.levels, _FILE_LEVEL_TOL_RAD) is None
    ):
        raise DOEFileError(f"{source}: phase_rad is not on the L = {meta.levels} level grid")


def import_safetensors(path: Path) -> tuple[Tensor, DOEMetadata]:
    from safetensors import safe_open

    source = str(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as exc:  # safetensors raises its own error types for a corrupt header
        raise DOEFileError(f"{source}: not a readable safetensors file ({exc})") from None
    if raw.get("format") != FORMAT:
        raise DOEFileError(
            f"{source}: not a mixsig DOE export (safetensors metadata format = "
            f"{raw.get('format')!r}, expected {FORMAT!r})"
        )
    require_keys(raw, REQUIRED_KEYS, source)
    record: dict[str, Any] = {}
    for key, value in raw.items():
        if key in STRING_KEYS:
            record[key] = value
            continue
        try:
            record[key] = json.loads(value)
        except json.JSONDecodeError:
            raise DOEFileError(f"{source}: metadata {key} = {value!r} is not JSON") from None
    meta = DOEMetadata.from_record(record, source)
    for key in ("phase_rad", "height_m"):
        if key not in tensors:
            raise DOEFileError(f"{source}: missing tensor {key!r} (has {sorted(tensors)})")
        t = tensors[key]
        check_square(tuple(t.shape), f"{source}: tensor {key}", DOEFileError)
        if t.dtype != torch.float64:
            raise DOEFileError(f"{source}: tensor {key} is {t.dtype}, needs torch.float64")
    phase, height = tensors["phase_rad"], tensors["height_m"]
    if phase.shape != height.shape:
        raise DOEFileError(
            f"{source}: phase_rad {tuple(phase.shape)} and height_m {tuple(height.shape)} differ"
        )
    _check_phase_values(phase, meta, source)
    h2pi = meta.height_2pi_m
    if float(height.max()) > h2pi * (1 + 1e-12) or float(height.min()) < 0:
        raise DOEFileError(
            f"{source}: height_m spans [{float(height.min())!r}, {float(height.max())!r}] m, "
            f"outside [0, h_2π = λ/(n − 1) = {h2pi!r} m)"
        )
    expected = phase_to_height(phase, meta.wavelength_m, meta.material_index)
    err = float((height - expected).abs().max())
    if err > _HEIGHT_RTOL * h2pi:
        raise DOEFileError(
            f"{source}: height_m and phase_rad disagree by up to {err:.3g} m (φ = 2π(n − 1)h/λ)"
        )
    return phase, meta
