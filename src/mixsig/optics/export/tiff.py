"""``<name>_height.tif`` and ``<name>_phase.tif`` — 16-bit images for mask writers and viewers.

Owns `tiff_codes`, `write_tiff` and `import_tiff`. Uncompressed single-page grayscale uint16,
row 0 stored first (a viewer shows array row 0, the most negative y, at the top: the layout
mirrored top-to-bottom). Scale: S counts per 2π, value = code·h_2π/S (height file) or
code·2π/S (phase file), so both files hold the same codes. S = 65536 for a continuous phase
(round to the nearest code, half-step error ≤ π/65536 rad; a phase within half a step of 2π
becomes code 0, the same phase mod 2π) and S = L·⌊65536/L⌋ for an L-level DOE, so level k is
the exact integer code k·⌊65536/L⌋ and survives bit-exactly (for L = 2^k: S = 65536, code =
k·65536/L). Codes lie in [0, S): the top code S − 1 is just below h_2π (65535 is
h_2π·65535/65536, not h_2π). The ImageDescription is JSON with every `DOEMetadata` field,
``quantity`` (``height`` / ``phase``), ``counts_per_2pi`` (S), ``value_per_count`` (m or rad per
code), ``pixel_size_m`` (= pitch) and the conventions. XResolution / YResolution are pixels per
centimetre (0.01 m / pitch, ResolutionUnit = CENTIMETER, a rational, so rounded; the JSON pitch
is exact).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mixsig.optics.doe import TWO_PI

from .common import check_square, need, require_keys
from .metadata import FORMAT, REQUIRED_KEYS, TIFF_COUNTS, DOEFileError, DOEMetadata

_TIFF_KEYS = (*REQUIRED_KEYS, "quantity", "counts_per_2pi", "value_per_count")


def tiff_codes(phase: Tensor, codes: Tensor | None, meta: DOEMetadata) -> np.ndarray:
    s = meta.counts_per_2pi
    if codes is not None:
        assert meta.levels is not None
        return (codes.numpy() * (TIFF_COUNTS // meta.levels)).astype(np.uint16)
    c = np.remainder(np.round(phase.numpy() * (s / TWO_PI)), s)
    return c.astype(np.uint16)


def _tiff_description(meta: DOEMetadata, quantity: str, n: int) -> dict[str, Any]:
    record = meta.record()
    s = meta.counts_per_2pi
    per_count = (meta.height_2pi_m if quantity == "height" else TWO_PI) / s
    record.update(
        quantity=quantity,
        value_unit="m" if quantity == "height" else "rad",
        counts_per_2pi=s,
        value_per_count=per_count,
        scale_note=(
            f"value = code * value_per_count; codes lie in [0, {s}), code {s} would be "
            + ("h_2pi" if quantity == "height" else "2*pi")
        ),
        pixel_size_m=meta.pitch_m,
        pixels=n,
        resolution_unit="centimeter",
        pixels_per_cm=0.01 / meta.pitch_m,
    )
    return record


def write_tiff(path: Path, codes: np.ndarray, meta: DOEMetadata, quantity: str) -> None:
    tifffile = need("tifffile")
    per_cm = 0.01 / meta.pitch_m
    tifffile.imwrite(
        path,
        codes,
        photometric="minisblack",
        description=json.dumps(_tiff_description(meta, quantity, codes.shape[0])),
        metadata=None,
        resolution=(per_cm, per_cm),
        resolutionunit="CENTIMETER",
        software="mixsig",
    )


def import_tiff(path: Path) -> tuple[Tensor, DOEMetadata]:
    tifffile = need("tifffile")
    source = str(path)
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            description = page.description
            dtype, bits, shape = page.dtype, page.bitspersample, page.shape
            data = page.asarray() if len(tif.pages) == 1 else None
            pages = len(tif.pages)
    except Exception as exc:  # tifffile.TiffFileError and friends for a non-TIFF
        raise DOEFileError(f"{source}: not a readable TIFF file ({exc})") from None
    try:
        record = json.loads(description) if description else None
    except json.JSONDecodeError:
        record = None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise DOEFileError(
            f"{source}: not a mixsig DOE export (its ImageDescription is not our JSON with "
            f"format = {FORMAT!r})"
        )
    require_keys(record, _TIFF_KEYS, source)
    meta = DOEMetadata.from_record(record, source)
    if pages != 1 or data is None:
        raise DOEFileError(f"{source}: has {pages} pages, a DOE export has one")
    if dtype != np.uint16:
        raise DOEFileError(
            f"{source}: samples are {dtype} ({bits}-bit), needs uint16 (16-bit unsigned "
            "integer codes)"
        )
    n = check_square(tuple(shape), f"{source}: image", DOEFileError)
    s = meta.counts_per_2pi
    if record["counts_per_2pi"] != s:
        raise DOEFileError(
            f"{source}: counts_per_2pi = {record['counts_per_2pi']!r}, expected {s} for "
            f"levels = {meta.levels}"
        )
    quantity = record["quantity"]
    if quantity not in ("height", "phase"):
        raise DOEFileError(f"{source}: quantity = {quantity!r}, expected 'height' or 'phase'")
    per_count = (meta.height_2pi_m if quantity == "height" else TWO_PI) / s
    if not math.isclose(record["value_per_count"], per_count, rel_tol=1e-12):
        raise DOEFileError(
            f"{source}: value_per_count = {record['value_per_count']!r}, expected {per_count!r} "
            f"({'h_2π' if quantity == 'height' else '2π'}/{s})"
        )
    codes = torch.from_numpy(data.astype(np.int64)).reshape(n, n)
    top = int(codes.max())
    if top >= s:
        what = "height" if quantity == "height" else "phase"
        raise DOEFileError(
            f"{source}: code {top} ≥ counts_per_2pi = {s}: a {what} at or above "
            f"{'h_2π' if quantity == 'height' else '2π'} (heights must be < h_2π)"
        )
    if meta.levels is None:
        return codes.to(torch.float64) * (TWO_PI / s), meta
    per_level = TIFF_COUNTS // meta.levels
    if bool((codes % per_level != 0).any()):
        raise DOEFileError(
            f"{source}: codes not on the L = {meta.levels} level grid (multiples of {per_level})"
        )
    return (codes // per_level).to(torch.float64) * (TWO_PI / meta.levels), meta
