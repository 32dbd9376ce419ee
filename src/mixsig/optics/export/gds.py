"""``<name>.gds`` — the multi-level GDSII layout: L = 2^k levels made by k binary-weighted etches.

Owns `write_gds`, `merge_rectangles` (pixels → rectangles) and `read_gds_levels` (a layout →
level codes, with any polygons, e.g. merged by CAD). Units µm, precision 1 nm, one cell named
``<name>``. Starting from a flat substrate, etch step j = 1 … k removes 2^(j−1)·h_2π/L of
material inside the polygons of **layer j** (datatype 0). The *etch code* of a pixel is
e = L − 1 − k (k its level code): layer j holds the pixels whose etch code has bit (j − 1) set,
so a pixel is etched by e·h_2π/L in total and keeps the height (L − 1 − e)·h_2π/L = k·h_2π/L,
phase 2πk/L. Pixels of the top level (k = L − 1, e = 0) are on no layer. (Using k itself as the
etch code would make the conjugate mask −φ, whose PSF is point-reflected.) Pixels are merged
into rectangles: runs along each row, then identical runs of consecutive rows into one
rectangle; pixel edges lie on x = (c − N//2 − ½)·p, y = (r − N//2 − ½)·p (y up, so the layout
is the array with row 0 at the bottom). **Layer 0** (texttype 0) holds text labels only,
``key=value`` with JSON values: format, name, pixels, pitch, wavelength, levels, index, h_2π,
etch step, the layer convention (`GDS_CONVENTION`), the origin.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .common import need, require_keys
from .metadata import FORMAT, FORMAT_VERSION, REQUIRED_KEYS, DOEFileError, DOEMetadata

GDS_LABEL_LAYER = 0
GDS_UNIT_M = 1e-6
GDS_PRECISION_M = 1e-9
GDS_CONVENTION = (
    "layer j (1..k, datatype 0) = area etched by 2^(j-1)*h_2pi/L in etch step j; etch code "
    "e = sum of the bits = L-1-level; height = (L-1-e)*h_2pi/L; phase = 2*pi*(L-1-e)/L; "
    "layer 0 = these labels only"
)


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """Half-open [start, stop) runs of True in a 1-D boolean array."""
    edges = np.diff(np.concatenate(([0], row.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def merge_rectangles(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Cover a 2-D boolean mask by disjoint rectangles (r0, r1, c0, c1), half-open.

    Runs along each row; a run repeated with the same columns in consecutive rows extends one
    rectangle (towards larger r). The union is exactly the mask.
    """
    open_runs: dict[tuple[int, int], int] = {}
    out: list[tuple[int, int, int, int]] = []
    rows = mask.shape[0]
    for r in range(rows + 1):
        runs = set(_runs(mask[r])) if r < rows else set()
        for key in [key for key in open_runs if key not in runs]:
            out.append((open_runs.pop(key), r, *key))
        for key in runs:
            open_runs.setdefault(key, r)
    return sorted(out)


def _gds_labels(meta: DOEMetadata, name: str, n: int) -> list[str]:
    assert meta.levels is not None
    values: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "pixels": n,
        "pitch_m": meta.pitch_m,
        "wavelength_m": meta.wavelength_m,
        "levels": meta.levels,
        "etch_steps": meta.etch_steps,
        "material_index": meta.material_index,
        "focal_length_m": meta.focal_length_m,
        "height_2pi_m": meta.height_2pi_m,
        "etch_step_m": meta.height_step_m,
        "comment": meta.comment,
        "convention": GDS_CONVENTION,
        "origin": "(0, 0) um = optical axis = centre of pixel (N//2, N//2); x = column, y = row",
    }
    return [f"{key}={json.dumps(value, ensure_ascii=True)}" for key, value in values.items()]


def write_gds(path: Path, codes: Tensor, meta: DOEMetadata, name: str) -> None:
    gdstk = need("gdstk")
    assert meta.levels is not None and meta.etch_steps is not None
    n = codes.shape[0]
    etch = (meta.levels - 1 - codes).numpy()
    p = meta.pitch_m / GDS_UNIT_M
    lib = gdstk.Library(name=name, unit=GDS_UNIT_M, precision=GDS_PRECISION_M)
    cell = lib.new_cell(name)
    for j in range(1, meta.etch_steps + 1):
        mask = (etch >> (j - 1)) & 1 == 1
        for r0, r1, c0, c1 in merge_rectangles(mask):
            x0, x1 = (c0 - n // 2 - 0.5) * p, (c1 - n // 2 - 0.5) * p
            y0, y1 = (r0 - n // 2 - 0.5) * p, (r1 - n // 2 - 0.5) * p
            cell.add(gdstk.rectangle((x0, y0), (x1, y1), layer=j, datatype=0))
    bottom, left = (-(n // 2) - 0.5) * p, (-(n // 2) - 0.5) * p
    spacing = max(2 * p, 10.0)
    for i, text in enumerate(_gds_labels(meta, name, n)):
        origin = (left, bottom - (i + 1) * spacing)
        cell.add(gdstk.Label(text, origin, layer=GDS_LABEL_LAYER, texttype=0))
    lib.write_gds(str(path))


def _rasterise(polys: list[Any], n: int, p: float, gdstk: Any) -> np.ndarray:
    """How many of ``polys`` contain each pixel centre (x, y) = ((c, r) − N//2)·p (edges count).

    Each polygon is tested only on the centres inside its bounding box; an axis-aligned
    rectangle is filled directly.
    """
    cover = np.zeros((n, n), dtype=np.int64)
    for poly in polys:
        (x0, y0), (x1, y1) = poly.bounding_box()
        c0, c1 = max(math.ceil(x0 / p + n // 2), 0), min(math.floor(x1 / p + n // 2), n - 1)
        r0, r1 = max(math.ceil(y0 / p + n // 2), 0), min(math.floor(y1 / p + n // 2), n - 1)
        if c0 > c1 or r0 > r1:
            continue
        pts = poly.points
        is_rect = len(pts) == 4 and all(
            a[0] == b[0] or a[1] == b[1] for a, b in zip(pts, np.roll(pts, 1, axis=0))
        )
        if is_rect:
            cover[r0 : r1 + 1, c0 : c1 + 1] += 1
            continue
        rows, cols = np.meshgrid(np.arange(r0, r1 + 1), np.arange(c0, c1 + 1), indexing="ij")
        centres = np.stack([(cols.ravel() - n // 2) * p, (rows.ravel() - n // 2) * p], axis=1)
        inside = np.asarray(gdstk.inside(centres, [poly]), dtype=np.int64)
        cover[r0 : r1 + 1, c0 : c1 + 1] += inside.reshape(rows.shape)
    return cover


def read_gds_levels(path: str | os.PathLike[str]) -> tuple[Tensor, DOEMetadata]:
    """Rasterise a GDS export back to its level codes k (int64, N × N) and its metadata.

    The layer-0 labels give N, the pitch and L; each pixel centre is tested against the
    polygons of layers 1 … k (any polygons, not only ours: point-in-polygon), the etch code
    e = Σ_j 2^(j−1)·[centre in layer j] gives k = L − 1 − e. Overlapping polygons are refused,
    and the total polygon area of every layer must equal its pixel count × pitch² (to 1e-6), so
    polygons off the pixel grid are refused too.
    """
    gdstk = need("gdstk")
    path = Path(path)
    source = str(path)
    try:
        lib = gdstk.read_gds(str(path), unit=GDS_UNIT_M)
    except Exception as exc:  # gdstk raises OSError / RuntimeError for a non-GDS file
        raise DOEFileError(f"{source}: not a readable GDSII file ({exc})") from None
    tops = lib.top_level()
    if len(tops) != 1:
        raise DOEFileError(f"{source}: has {len(tops)} top-level cells, a DOE export has one")
    cell = tops[0]
    record: dict[str, Any] = {}
    for label in cell.labels:
        if label.layer != GDS_LABEL_LAYER or "=" not in label.text:
            continue
        key, _, value = label.text.partition("=")
        try:
            record[key] = json.loads(value)
        except json.JSONDecodeError:
            raise DOEFileError(f"{source}: label {key} = {value!r} is not JSON") from None
    if record.get("format") != FORMAT:
        raise DOEFileError(
            f"{source}: not a mixsig DOE export (no layer-{GDS_LABEL_LAYER} label "
            f"'format=\"{FORMAT}\"')"
        )
    require_keys(record, (*REQUIRED_KEYS, "pixels"), source)
    meta = DOEMetadata.from_record(record, source)
    steps = meta.etch_steps
    if steps is None:
        raise DOEFileError(f"{source}: levels = {meta.levels} is not a power of 2")
    assert meta.levels is not None
    n = record["pixels"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise DOEFileError(f"{source}: pixels = {n!r} is not a positive integer")
    p = meta.pitch_m / GDS_UNIT_M
    by_layer: dict[int, list[Any]] = {}
    for poly in cell.polygons:
        if not 1 <= poly.layer <= steps or poly.datatype != 0:
            raise DOEFileError(
                f"{source}: a polygon on layer {poly.layer}/{poly.datatype}; L = {meta.levels} "
                f"uses layers 1…{steps} (datatype 0)"
            )
        by_layer.setdefault(poly.layer, []).append(poly)
    if cell.paths or cell.references:
        raise DOEFileError(f"{source}: paths or references found; a DOE export has polygons only")
    etch = np.zeros((n, n), dtype=np.int64)
    for j in range(1, steps + 1):
        polys = by_layer.get(j, [])
        cover = _rasterise(polys, n, p, gdstk)
        if cover.max(initial=0) > 1:
            raise DOEFileError(f"{source}: overlapping polygons on layer {j}")
        area = sum(poly.area() for poly in polys)
        expected = int(cover.sum()) * p * p
        if not math.isclose(area, expected, rel_tol=1e-6, abs_tol=1e-9 * p * p):
            raise DOEFileError(
                f"{source}: layer {j} polygons cover {area:.6g} µm², but the {int(cover.sum())} "
                f"pixel centres inside them make {expected:.6g} µm² (polygons off the pixel "
                "grid)"
            )
        etch += cover << (j - 1)
    levels = torch.from_numpy(meta.levels - 1 - etch).reshape(n, n)
    return levels, meta
