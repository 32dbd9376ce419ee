"""Fabrication export and import of a phase-only DOE (design §3).

Owns the files a trained DOE leaves the library in — the hand-over to the people who fabricate
it — and the reading of them back: `DOEMetadata` (what a file must say about the element),
`export_doe` (writes every file, each atomically), `import_doe` (reads a ``.safetensors``,
``.tif`` or ``.gds`` export back into a float64 phase, validating it, raising `DOEFileError`)
and `read_gds_levels` (rasterises a GDS layout back to its level codes). Nothing here
simulates optics; the physics (φ = 2π(n − 1)h/λ, wrapping, L-level quantization) is
`mixsig.optics.doe`.

One module per file format, each owning its writer, its reader and its convention (in its
docstring): `safetensors_file`, `tiff`, `png`, `gds`, `readme`; and the shared parts:
`metadata` (`DOEMetadata`, `DOEFileError`, the format's identity), `common` (the phase made
ready for writing, the checks of a file), `write` (`export_doe`) and `read` (`import_doe`).

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

The files (each convention in full in its module's docstring)
  * ``<name>.safetensors`` — the exact design, float64 phase and height with the metadata;
    round trip bit-exact (`safetensors_file`).
  * ``<name>_height.tif`` and ``<name>_phase.tif`` — 16-bit images for mask writers and
    viewers, S codes per 2π, L levels exact (`tiff`).
  * ``<name>.png`` — a picture for humans of the phase and the PSF; not for reading back
    (`png`).
  * ``<name>.gds`` — multi-level GDSII layout, L = 2^k levels made by k binary-weighted etches,
    layer j = etch step j, layer 0 = labels with the metadata (`gds`).
  * ``<name>_README.txt`` — this convention with the numbers of the export filled in
    (`readme`).
"""

from .gds import (
    GDS_CONVENTION,
    GDS_LABEL_LAYER,
    GDS_PRECISION_M,
    GDS_UNIT_M,
    merge_rectangles,
    read_gds_levels,
)
from .metadata import (
    AXES_NOTE,
    FORMAT,
    FORMAT_VERSION,
    TIFF_COUNTS,
    UNITS_NOTE,
    DOEFileError,
    DOEMetadata,
)
from .read import import_doe
from .write import FORMATS, export_doe

__all__ = [
    "AXES_NOTE",
    "FORMAT",
    "FORMATS",
    "FORMAT_VERSION",
    "GDS_CONVENTION",
    "GDS_LABEL_LAYER",
    "GDS_PRECISION_M",
    "GDS_UNIT_M",
    "TIFF_COUNTS",
    "UNITS_NOTE",
    "DOEFileError",
    "DOEMetadata",
    "export_doe",
    "import_doe",
    "merge_rectangles",
    "read_gds_levels",
]
