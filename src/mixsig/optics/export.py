"""Fabrication export and import of a phase-only DOE (design §3).

Owns the files a trained DOE leaves the library in — the hand-over to the people who fabricate
it — and the reading of them back: `DOEMetadata` (what a file must say about the element),
`export_doe` (writes every file, each atomically), `import_doe` (reads a ``.safetensors``,
``.tif`` or ``.gds`` export back into a float64 phase, validating it, raising `DOEFileError`)
and `read_gds_levels` (rasterises a GDS layout back to its level codes). Nothing here
simulates optics; the physics (φ = 2π(n − 1)h/λ, wrapping, L-level quantization) is
`mixsig.optics.doe`.

README — the files of an export named ``<name>`` (all written by `export_doe`)
=============================================================================

Common conventions
  * Units: SI, lengths in metres (keys end in ``_m``), phase in radians; the GDS is in µm.
  * Phase φ is wrapped to [0, 2π); height h = φ·λ/(2π(n − 1)) is the material height above the
    deepest etch level, in [0, h_2π) with the 2π etch depth h_2π = λ/(n − 1)
    (`DOEMetadata.max_height_m`); n is ``material_index`` at ``wavelength_m``.
  * An L-level DOE has φ = 2π·k/L, h = k·h_2π/L with the *level code* k = 0 … L − 1.
  * Grid: array element [r, c] (row r, column c) of an N × N DOE of pitch p is the pixel centred
    on x = (c − N//2)·p, y = (r − N//2)·p; the optical axis (x = y = 0) is the centre of pixel
    (N//2, N//2) — the grid convention of `mixsig.optics.doe` and `mixsig.optics.propagation`.

``<name>.safetensors`` — the exact design
  Tensors ``phase_rad`` and ``height_m`` (float64, N × N, row r = array row r). The safetensors
  metadata (str → str) holds ``format`` = ``mixsig.doe``, ``format_version``, the fields of
  `DOEMetadata` (numbers and null JSON-encoded, e.g. ``"5.32e-07"``, ``"16"``, ``"null"``),
  ``height_2pi_m``, ``pixels`` (N), ``units`` and ``axes``. Round trip: bit-exact.

``<name>_height.tif`` and ``<name>_phase.tif`` — 16-bit images for mask writers and viewers
  Uncompressed single-page grayscale uint16, row 0 stored first (a viewer shows array row 0, the
  most negative y, at the top: the layout mirrored top-to-bottom). Scale: S counts per 2π,
  value = code·h_2π/S (height file) or code·2π/S (phase file), so both files hold the same
  codes. S = 65536 for a continuous phase (round to the nearest code, half-step error
  ≤ π/65536 rad; a phase within half a step of 2π becomes code 0, the same phase mod 2π) and
  S = L·⌊65536/L⌋ for an L-level DOE, so level k is the exact integer code k·⌊65536/L⌋ and
  survives bit-exactly (for L = 2^k: S = 65536, code = k·65536/L). Codes lie in [0, S): the
  top code S − 1 is just below h_2π (65535 is h_2π·65535/65536, not h_2π). The ImageDescription
  is JSON with every `DOEMetadata` field, ``quantity`` (``height`` / ``phase``),
  ``counts_per_2pi`` (S), ``value_per_count`` (m or rad per code), ``pixel_size_m`` (= pitch)
  and the conventions. XResolution / YResolution are pixels per centimetre (0.01 m / pitch,
  ResolutionUnit = CENTIMETER, a rational, so rounded; the JSON pitch is exact).

``<name>.png`` — a picture for humans
  The wrapped phase (µm or mm axes, y up, optical axis at 0) and, when a PSF is given, the PSF
  as log10(I/I_max) (floor −6) on camera-plane axes (pitch ``psf_pitch_m``, else λf/(M·p) for
  an M × M `fraunhofer_psf`, else in samples), side by side. Not for reading back.

``<name>.gds`` — multi-level GDSII layout, L = 2^k levels made by k binary-weighted etches
  Units µm, precision 1 nm, one cell named ``<name>``. Starting from a flat substrate, etch step
  j = 1 … k removes 2^(j−1)·h_2π/L of material inside the polygons of **layer j** (datatype 0).
  The *etch code* of a pixel is e = L − 1 − k (k its level code): layer j holds the pixels
  whose etch code has bit (j − 1) set, so a pixel is etched by e·h_2π/L in total and keeps the
  height (L − 1 − e)·h_2π/L = k·h_2π/L, phase 2πk/L. Pixels of the top level (k = L − 1,
  e = 0) are on no layer. (Using k itself as the etch code would make the conjugate mask −φ,
  whose PSF is point-reflected.) Pixels are merged into rectangles: runs along each row, then
  identical runs of consecutive rows into one rectangle; pixel edges lie on x = (c − N//2 − ½)·p,
  y = (r − N//2 − ½)·p (y up, so the layout is the array with row 0 at the bottom). **Layer 0**
  (texttype 0) holds text labels only, ``key=value`` with JSON values: format, name, pixels,
  pitch, wavelength, levels, index, h_2π, etch step, the layer convention, the origin.

``<name>_README.txt`` — this convention with the numbers of the export filled in.
"""

from __future__ import annotations

import json
import math
import os
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from mixsig.errors import MixsigError
from mixsig.optics.doe import TWO_PI, phase_to_height, wrap_phase

FORMAT = "mixsig.doe"
FORMAT_VERSION = 1
TIFF_COUNTS = 65536  # codes of a 16-bit image
GDS_LABEL_LAYER = 0
GDS_UNIT_M = 1e-6
GDS_PRECISION_M = 1e-9
UNITS_NOTE = "SI: lengths in metres (keys *_m), phase in radians; GDS coordinates in micrometres"
AXES_NOTE = (
    "array[r, c] is the pixel centred on x = (c - N//2)*pitch_m, y = (r - N//2)*pitch_m; "
    "the optical axis is the centre of pixel (N//2, N//2)"
)
GDS_CONVENTION = (
    "layer j (1..k, datatype 0) = area etched by 2^(j-1)*h_2pi/L in etch step j; etch code "
    "e = sum of the bits = L-1-level; height = (L-1-e)*h_2pi/L; phase = 2*pi*(L-1-e)/L; "
    "layer 0 = these labels only"
)
FORMATS = ("safetensors", "tif", "png", "gds", "readme")

_LEVEL_TOL_RAD = 1e-6  # an L-level phase may deviate this much from k·2π/L before export
_FILE_LEVEL_TOL_RAD = 1e-9  # … and this much in a file being read
_HEIGHT_RTOL = 1e-9  # height_m vs phase_to_height(phase_rad) in a safetensors file
_MAX_COMMENT = 256
_PSF_FLOOR_LOG10 = -6.0
_PNG_PANEL_IN = (5.0, 4.0)  # width, height of one PNG panel in inches
_PNG_DPI = 120

_REQUIRED_KEYS = (
    "format",
    "format_version",
    "wavelength_m",
    "pitch_m",
    "levels",
    "material_index",
    "focal_length_m",
)
_TIFF_KEYS = (*_REQUIRED_KEYS, "quantity", "counts_per_2pi", "value_per_count")
_STRING_KEYS = frozenset({"format", "comment", "units", "axes", "name", "quantity"})


class DOEFileError(MixsigError):
    """A file is not a valid mixsig DOE export (the message names the file and the problem)."""


def _is_power_of_two(n: int) -> bool:
    return n >= 2 and n & (n - 1) == 0


def _positive(name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} = {value!r} must be finite and > 0 (SI units)")


@dataclass(frozen=True)
class DOEMetadata:
    """What a DOE file says about the element besides its phase.

    Args:
        wavelength_m: design (vacuum) wavelength λ.
        pitch_m: DOE pixel pitch (square pixels).
        levels: L, the number of fabricated phase levels 2πk/L (k = 0 … L − 1), 2 ≤ L ≤ 65536;
            None for a continuous phase.
        material_index: refractive index n of the DOE material at ``wavelength_m`` (> 1).
        focal_length_m: focal length f of the Fourier lens, if known (PSF axes, records).
        comment: free text (material, process, run id …), at most 256 characters.
    """

    wavelength_m: float
    pitch_m: float
    levels: int | None
    material_index: float
    focal_length_m: float | None = None
    comment: str = ""

    units: ClassVar[str] = UNITS_NOTE

    def __post_init__(self) -> None:
        _positive("wavelength_m", self.wavelength_m)
        _positive("pitch_m", self.pitch_m)
        _positive("focal_length_m", self.focal_length_m, optional=True)
        _positive("material_index", self.material_index)
        if not self.material_index > 1:
            raise ValueError(
                f"material_index = {self.material_index!r} must be > 1: n − 1 is the optical "
                "path per unit height of an etched element"
            )
        levels = self.levels
        if levels is not None and (
            isinstance(levels, bool) or not isinstance(levels, int) or not 2 <= levels <= 65536
        ):
            raise ValueError(
                f"levels must be None (continuous) or an integer in [2, 65536], got {levels!r}"
            )
        if not isinstance(self.comment, str) or len(self.comment) > _MAX_COMMENT:
            raise ValueError(f"comment must be a string of at most {_MAX_COMMENT} characters")

    @classmethod
    def from_sampling(
        cls, sampling: Any, *, levels: int | None, material_index: float, comment: str = ""
    ) -> DOEMetadata:
        """Take λ, the DOE pitch and f from a `FourierSampling`."""
        return cls(
            wavelength_m=sampling.wavelength_m,
            pitch_m=sampling.doe_pitch_m,
            levels=levels,
            material_index=material_index,
            focal_length_m=sampling.focal_length_m,
            comment=comment,
        )

    @property
    def height_2pi_m(self) -> float:
        """h_2π = λ/(n − 1): the height (etch depth) of a 2π phase step."""
        return self.wavelength_m / (self.material_index - 1)

    @property
    def max_height_m(self) -> float:
        """The bound h_2π of the heights: they lie in [0, h_2π) (L levels: up to (L−1)/L·h_2π)."""
        return self.height_2pi_m

    @property
    def height_step_m(self) -> float | None:
        """h_2π/L, the height of one level (None when continuous)."""
        return None if self.levels is None else self.height_2pi_m / self.levels

    @property
    def etch_steps(self) -> int | None:
        """k with L = 2^k (the GDS layers), or None when L is not a power of 2 / continuous."""
        if self.levels is None or not _is_power_of_two(self.levels):
            return None
        return self.levels.bit_length() - 1

    @property
    def counts_per_2pi(self) -> int:
        """S: the TIFF codes per 2π, L·⌊65536/L⌋ (65536 when continuous or L = 2^k)."""
        if self.levels is None:
            return TIFF_COUNTS
        return self.levels * (TIFF_COUNTS // self.levels)

    def record(self) -> dict[str, Any]:
        """The JSON-ready fields plus the derived ``height_2pi_m`` and the notes."""
        out: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION}
        out.update({f.name: getattr(self, f.name) for f in fields(self)})
        out.update(height_2pi_m=self.height_2pi_m, units=self.units, axes=AXES_NOTE)
        return out

    @classmethod
    def from_record(cls, record: Mapping[str, Any], source: str) -> DOEMetadata:
        """Validate a decoded record (from any of our files); `DOEFileError` names the source."""
        if record.get("format") != FORMAT:
            raise DOEFileError(
                f"{source}: not a mixsig DOE export (its metadata has format = "
                f"{record.get('format')!r}, expected {FORMAT!r})"
            )
        version = record.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise DOEFileError(f"{source}: format_version = {version!r} is not an integer ≥ 1")
        if version > FORMAT_VERSION:
            raise DOEFileError(
                f"{source}: format_version {version} is newer than this reader "
                f"({FORMAT_VERSION}); update mixsig"
            )
        try:
            meta = cls(
                wavelength_m=record["wavelength_m"],
                pitch_m=record["pitch_m"],
                levels=record["levels"],
                material_index=record["material_index"],
                focal_length_m=record["focal_length_m"],
                comment=record.get("comment", ""),
            )
        except ValueError as exc:
            raise DOEFileError(f"{source}: invalid metadata: {exc}") from None
        stated = record.get("height_2pi_m")
        if stated is not None and not math.isclose(stated, meta.height_2pi_m, rel_tol=1e-12):
            raise DOEFileError(
                f"{source}: height_2pi_m = {stated!r} disagrees with λ/(n − 1) = "
                f"{meta.height_2pi_m!r}"
            )
        return meta


# -- phase preparation ---------------------------------------------------------------------


def _as_float64(x: Tensor | np.ndarray, what: str) -> np.ndarray:
    if isinstance(x, Tensor):
        if torch.is_complex(x):
            raise ValueError(f"{what} must be real, got a complex tensor")
        x = x.detach().to(device="cpu", dtype=torch.float64).numpy()
    arr = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} has non-finite values")
    return arr


def _check_square(shape: tuple[int, ...], what: str, err: type[ValueError]) -> int:
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 1:
        raise err(f"{what} has shape {tuple(shape)}; a DOE is a 2-D square N × N array")
    return int(shape[0])


def _level_indices(phase: np.ndarray, levels: int, tol_rad: float) -> np.ndarray | None:
    """k with phase ≈ 2πk/L on the circle (within tol), else None. ``phase`` is in [0, 2π)."""
    step = TWO_PI / levels
    k = np.remainder(np.round(phase / step), levels).astype(np.int64)
    dev = np.remainder(phase - k * step + math.pi, TWO_PI) - math.pi
    return k if dev.size == 0 or float(np.max(np.abs(dev))) <= tol_rad else None


def _prepare(phase_rad: Tensor | np.ndarray, meta: DOEMetadata) -> tuple[Tensor, Tensor | None]:
    """The wrapped (and for L levels snapped) float64 phase and the level codes (or None)."""
    arr = _as_float64(phase_rad, "phase_rad")
    _check_square(arr.shape, "phase_rad", ValueError)
    phase = wrap_phase(torch.from_numpy(arr.copy()))
    if meta.levels is None:
        return phase, None
    k = _level_indices(phase.numpy(), meta.levels, _LEVEL_TOL_RAD)
    if k is None:
        raise ValueError(
            f"phase_rad is not an L = {meta.levels} level mask (a value is more than "
            f"{_LEVEL_TOL_RAD:g} rad from every level 2πk/L): quantize it first with "
            f"mixsig.optics.quantize_phase(phase, {meta.levels}, ste=False), or export it with "
            "levels=None"
        )
    codes = torch.from_numpy(k)
    return codes.to(torch.float64) * (TWO_PI / meta.levels), codes


def _tiff_codes(phase: Tensor, codes: Tensor | None, meta: DOEMetadata) -> np.ndarray:
    s = meta.counts_per_2pi
    if codes is not None:
        assert meta.levels is not None
        return (codes.numpy() * (TIFF_COUNTS // meta.levels)).astype(np.uint16)
    c = np.remainder(np.round(phase.numpy() * (s / TWO_PI)), s)
    return c.astype(np.uint16)


# -- atomic writes ---------------------------------------------------------------------------


def _atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Run ``write`` on a hidden temporary sibling of ``path``, then os.replace it into place."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _need(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"{module} is needed for the DOE fabrication export: pip install 'mixsig[fab]'"
        ) from exc


# -- writers ---------------------------------------------------------------------------------


def _write_safetensors(path: Path, phase: Tensor, meta: DOEMetadata) -> None:
    from safetensors.torch import save

    record = meta.record()
    record["pixels"] = phase.shape[0]
    metadata = {k: v if k in _STRING_KEYS else json.dumps(v) for k, v in record.items()}
    height = phase_to_height(phase, meta.wavelength_m, meta.material_index)
    data = save({"phase_rad": phase.contiguous(), "height_m": height.contiguous()}, metadata)
    path.write_bytes(data)


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


def _write_tiff(path: Path, codes: np.ndarray, meta: DOEMetadata, quantity: str) -> None:
    tifffile = _need("tifffile")
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


def _length_axis(span_m: float) -> tuple[float, str]:
    return (1e6, "µm") if span_m < 1e-3 else (1e3, "mm")


def _write_png(
    path: Path,
    phase: Tensor,
    meta: DOEMetadata,
    psf: np.ndarray | None,
    psf_pitch_m: float | None,
    name: str,
) -> None:
    _need("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = phase.shape[0]
    panels = 1 if psf is None else 2
    fig = Figure(figsize=(_PNG_PANEL_IN[0] * panels, _PNG_PANEL_IN[1]), dpi=_PNG_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, panels, 1)
    scale, unit = _length_axis(n * meta.pitch_m)
    lo, hi = (-(n // 2) - 0.5) * meta.pitch_m * scale, (n - n // 2 - 0.5) * meta.pitch_m * scale
    img = ax.imshow(
        phase.numpy(),
        origin="lower",
        extent=(lo, hi, lo, hi),
        cmap="twilight",
        vmin=0,
        vmax=TWO_PI,
        interpolation="nearest",
    )
    fig.colorbar(img, ax=ax, label="phase (rad)")
    levels = "continuous" if meta.levels is None else f"L = {meta.levels}"
    ax.set_title(f"{name}: {n}×{n} px, pitch {meta.pitch_m * 1e6:.4g} µm, {levels}", fontsize=9)
    ax.set_xlabel(f"x ({unit})")
    ax.set_ylabel(f"y ({unit})")
    if psf is not None:
        ax2 = fig.add_subplot(1, 2, 2)
        m1, m2 = psf.shape
        pitch = psf_pitch_m
        if pitch is None and meta.focal_length_m is not None and m1 == m2:
            pitch = meta.wavelength_m * meta.focal_length_m / (m1 * meta.pitch_m)
        peak = float(psf.max())
        logi = np.log10(np.maximum(psf / peak, 10**_PSF_FLOOR_LOG10)) if peak > 0 else psf * 0
        if pitch is None:
            extent = (-(m2 // 2) - 0.5, m2 - m2 // 2 - 0.5, -(m1 // 2) - 0.5, m1 - m1 // 2 - 0.5)
            xlabel, ylabel = "x (camera-plane samples)", "y (camera-plane samples)"
        else:
            s2, u2 = _length_axis(max(m1, m2) * pitch)
            extent = tuple(v * pitch * s2 for v in (-(m2 // 2) - 0.5, m2 - m2 // 2 - 0.5))
            extent += tuple(v * pitch * s2 for v in (-(m1 // 2) - 0.5, m1 - m1 // 2 - 0.5))
            xlabel, ylabel = f"x ({u2})", f"y ({u2})"
        img2 = ax2.imshow(
            logi,
            origin="lower",
            extent=extent,
            cmap="inferno",
            vmin=_PSF_FLOOR_LOG10,
            vmax=0,
            interpolation="nearest",
        )
        fig.colorbar(img2, ax=ax2, label="log10(I / I_max)")
        ax2.set_title("PSF (camera plane, log scale)", fontsize=9)
        ax2.set_xlabel(xlabel)
        ax2.set_ylabel(ylabel)
    fig.tight_layout()
    description = json.dumps(meta.record())
    fig.savefig(path, format="png", metadata={"Title": name, "Description": description})


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


def _write_gds(path: Path, codes: Tensor, meta: DOEMetadata, name: str) -> None:
    gdstk = _need("gdstk")
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


def _readme(meta: DOEMetadata, name: str, n: int, written: Iterable[str]) -> str:
    h2pi = meta.height_2pi_m
    lines = [
        f"mixsig DOE export '{name}' (format {FORMAT} v{FORMAT_VERSION})",
        "",
        f"DOE: {n} x {n} pixels, pitch {meta.pitch_m * 1e6:.6g} um, "
        f"size {n * meta.pitch_m * 1e3:.6g} mm; optical axis at the centre of pixel "
        f"({n // 2}, {n // 2}) (row, column).",
        f"Design wavelength {meta.wavelength_m * 1e9:.6g} nm, material index n = "
        f"{meta.material_index:.8g}; 2*pi etch depth h_2pi = lambda/(n-1) = {h2pi * 1e9:.6g} nm.",
        "Levels: "
        + (
            "continuous phase."
            if meta.levels is None
            else f"L = {meta.levels}, level k = 0..{meta.levels - 1} has height "
            f"k*{meta.height_step_m * 1e9:.6g} nm and phase 2*pi*k/{meta.levels}."
        ),
        f"Focal length: {'unknown' if meta.focal_length_m is None else meta.focal_length_m}"
        " m." + (f" Comment: {meta.comment}" if meta.comment else ""),
        "",
        "Heights are material heights above the deepest level; phase = 2*pi*(n-1)*h/lambda,",
        "in [0, 2*pi). Array element [r, c] is the pixel at x = (c - N//2)*pitch,",
        "y = (r - N//2)*pitch.",
        "",
        "Files:",
        f"  {name}.safetensors: float64 tensors phase_rad, height_m (exact; metadata inside).",
        f"  {name}_height.tif / {name}_phase.tif: uint16 codes, height = code * h_2pi/S,",
        f"    phase = code * 2*pi/S, S = {meta.counts_per_2pi} codes per 2*pi; row 0 stored first",
        "    (a viewer shows y pointing down); JSON metadata in ImageDescription; resolution",
        "    tags in pixels per centimetre.",
        f"  {name}.png: picture of the phase (and PSF); y up.",
    ]
    if meta.etch_steps is not None:
        assert meta.levels is not None and meta.height_step_m is not None
        lines += [
            f"  {name}.gds: units um, cell '{name}', y up, origin = optical axis. Start from a",
            f"    flat substrate; etch step j removes 2^(j-1)*h_2pi/{meta.levels} inside layer j:",
        ]
        for j in range(1, meta.etch_steps + 1):
            depth = 2 ** (j - 1) * meta.height_step_m
            lines.append(f"      layer {j}: etch depth {depth * 1e9:.6g} nm")
        lines += [
            f"    A pixel of level k is etched by (L-1-k)*{meta.height_step_m * 1e9:.6g} nm in "
            "total (etch code e = L-1-k,",
            "    layer j = bit j-1 of e); layer 0 holds text labels only (metadata).",
        ]
    lines += ["", "Written: " + ", ".join(written), ""]
    return "\n".join(lines)


# -- export ----------------------------------------------------------------------------------


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
        ``gds``, ``readme``. Each file is written to a temporary sibling and os.replace'd.
    """
    if not isinstance(meta, DOEMetadata):
        raise TypeError(f"meta must be a DOEMetadata, got {type(meta).__name__}")
    _check_name(name)
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
        warnings.warn(f"{why}: no {name}.gds written (the other files are)", stacklevel=2)
        wanted.remove("gds")
    phase, codes = _prepare(phase_rad, meta)
    n = phase.shape[0]
    psf_arr = None
    if psf is not None:
        psf_arr = _as_float64(psf, "psf")
        if psf_arr.ndim != 2 or psf_arr.min() < 0:
            raise ValueError(f"psf must be a 2-D intensity ≥ 0, got shape {psf_arr.shape}")
    if psf_pitch_m is not None:
        _positive("psf_pitch_m", psf_pitch_m)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if "safetensors" in wanted:
        written["safetensors"] = _atomic_write(
            out / f"{name}.safetensors", lambda p: _write_safetensors(p, phase, meta)
        )
    if "tif" in wanted:
        tiff_codes = _tiff_codes(phase, codes, meta)
        for quantity in ("height", "phase"):
            written[f"{quantity}_tif"] = _atomic_write(
                out / f"{name}_{quantity}.tif",
                lambda p, q=quantity: _write_tiff(p, tiff_codes, meta, q),
            )
    if "png" in wanted:
        written["png"] = _atomic_write(
            out / f"{name}.png", lambda p: _write_png(p, phase, meta, psf_arr, psf_pitch_m, name)
        )
    if "gds" in wanted:
        assert codes is not None
        written["gds"] = _atomic_write(
            out / f"{name}.gds", lambda p: _write_gds(p, codes, meta, name)
        )
    if "readme" in wanted:
        files = [path.name for path in written.values()]
        text = _readme(meta, name, n, files)
        written["readme"] = _atomic_write(
            out / f"{name}_README.txt", lambda p: p.write_text(text, encoding="utf-8")
        )
    return written


# -- import ----------------------------------------------------------------------------------


def _missing(record: Mapping[str, Any], keys: Iterable[str], source: str) -> None:
    missing = [k for k in keys if k not in record]
    if missing:
        raise DOEFileError(f"{source}: metadata is missing the keys {', '.join(missing)}")


def _check_phase_values(phase: Tensor, meta: DOEMetadata, source: str) -> None:
    lo, hi = float(phase.min()), float(phase.max())
    if lo < 0 or hi >= TWO_PI or not math.isfinite(lo + hi):
        raise DOEFileError(
            f"{source}: phase_rad spans [{lo!r}, {hi!r}], outside [0, 2π) (an export is wrapped)"
        )
    if (
        meta.levels is not None
        and _level_indices(phase.numpy(), meta.levels, _FILE_LEVEL_TOL_RAD) is None
    ):
        raise DOEFileError(f"{source}: phase_rad is not on the L = {meta.levels} level grid")


def _import_safetensors(path: Path) -> tuple[Tensor, DOEMetadata]:
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
    _missing(raw, _REQUIRED_KEYS, source)
    record: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _STRING_KEYS:
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
        _check_square(tuple(t.shape), f"{source}: tensor {key}", DOEFileError)
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


def _import_tiff(path: Path) -> tuple[Tensor, DOEMetadata]:
    tifffile = _need("tifffile")
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
    _missing(record, _TIFF_KEYS, source)
    meta = DOEMetadata.from_record(record, source)
    if pages != 1 or data is None:
        raise DOEFileError(f"{source}: has {pages} pages, a DOE export has one")
    if dtype != np.uint16:
        raise DOEFileError(
            f"{source}: samples are {dtype} ({bits}-bit), needs uint16 (16-bit unsigned "
            "integer codes)"
        )
    n = _check_square(tuple(shape), f"{source}: image", DOEFileError)
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
    gdstk = _need("gdstk")
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
    _missing(record, (*_REQUIRED_KEYS, "pixels"), source)
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
        return _import_safetensors(path)
    if suffix in (".tif", ".tiff"):
        return _import_tiff(path)
    if suffix == ".gds":
        levels, meta = read_gds_levels(path)
        assert meta.levels is not None
        return levels.to(torch.float64) * (TWO_PI / meta.levels), meta
    raise DOEFileError(
        f"{path}: unsupported file type {suffix!r}; a DOE export is .safetensors, .tif or .gds "
        "(pickles such as .pt are never read)"
    )
