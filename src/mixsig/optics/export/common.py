"""What every format shares: the phase made ready for writing, and the checks of a file.

Owns `prepare_phase` (a phase as float64, square, wrapped to [0, 2π) and, for an L-level DOE,
snapped exactly to the levels 2πk/L with its level codes k — or a ValueError saying how to
quantize it), its steps `as_float64`, `check_square` and `level_indices`, `require_keys`
(the metadata keys a file must hold) and `need` (an optional dependency of the fabrication
export, or an ImportError naming the extra to install).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mixsig.optics.doe import TWO_PI, wrap_phase

from .metadata import DOEFileError, DOEMetadata

_LEVEL_TOL_RAD = 1e-6  # an L-level phase may deviate this much from k·2π/L before export


def as_float64(x: Tensor | np.ndarray, what: str) -> np.ndarray:
    if isinstance(x, Tensor):
        if torch.is_complex(x):
            raise ValueError(f"{what} must be real, got a complex tensor")
        x = x.detach().to(device="cpu", dtype=torch.float64).numpy()
    arr = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} has non-finite values")
    return arr


def check_square(shape: tuple[int, ...], what: str, err: type[ValueError]) -> int:
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 1:
        raise err(f"{what} has shape {tuple(shape)}; a DOE is a 2-D square N × N array")
    return int(shape[0])


def level_indices(phase: np.ndarray, levels: int, tol_rad: float) -> np.ndarray | None:
    """k with phase ≈ 2πk/L on the circle (within tol), else None. ``phase`` is in [0, 2π)."""
    step = TWO_PI / levels
    k = np.remainder(np.round(phase / step), levels).astype(np.int64)
    dev = np.remainder(phase - k * step + math.pi, TWO_PI) - math.pi
    return k if dev.size == 0 or float(np.max(np.abs(dev))) <= tol_rad else None


def prepare_phase(
    phase_rad: Tensor | np.ndarray, meta: DOEMetadata
) -> tuple[Tensor, Tensor | None]:
    """The wrapped (and for L levels snapped) float64 phase and the level codes (or None)."""
    arr = as_float64(phase_rad, "phase_rad")
    check_square(arr.shape, "phase_rad", ValueError)
    phase = wrap_phase(torch.from_numpy(arr.copy()))
    if meta.levels is None:
        return phase, None
    k = level_indices(phase.numpy(), meta.levels, _LEVEL_TOL_RAD)
    if k is None:
        raise ValueError(
            f"phase_rad is not an L = {meta.levels} level mask (a value is more than "
            f"{_LEVEL_TOL_RAD:g} rad from every level 2πk/L): quantize it first with "
            f"mixsig.optics.quantize_phase(phase, {meta.levels}, ste=False), or export it with "
            "levels=None"
        )
    codes = torch.from_numpy(k)
    return codes.to(torch.float64) * (TWO_PI / meta.levels), codes


def require_keys(record: Mapping[str, Any], keys: Iterable[str], source: str) -> None:
    missing = [k for k in keys if k not in record]
    if missing:
        raise DOEFileError(f"{source}: metadata is missing the keys {', '.join(missing)}")


def need(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"{module} is needed for the DOE fabrication export: pip install 'mixsig[fab]'"
        ) from exc
