"""Reading calibration measurements: frame stacks and tables of input levels, with checks.

Owns the file boundary of `mixsig.calib`. Every reader returns plain NumPy arrays; every
problem with an input raises `CalibrationError` (a ``ValueError``) whose message says what was
found and what is needed, naming the file. (Over 400 lines because each format's reader sits
with its own refusals: one concept, the checked file boundary.)

Frames
    `read_frames(path)` returns a stack of shape ``(n_frames, H, W)`` from

    * ``.npy`` -- a 2-D frame or a 3-D stack (any real dtype, integer or float);
    * ``.npz`` -- the array named ``frames``, or the only array in the file;
    * ``.tif`` / ``.tiff`` -- a single- or multi-page greyscale TIFF (tifffile). Raw camera data
      are unsigned integers: 16-bit (``uint16``) is required by default (``tiff_bits=16``;
      12-bit cameras store their codes in 16-bit containers); ``tiff_bits=8`` requires
      ``uint8``; ``tiff_bits=None`` accepts either. Floating-point TIFFs are refused (they are
      processed data, not camera codes: store those as ``.npy``);
    * ``.png`` -- an 8- or 16-bit greyscale PNG (Pillow), read exactly;
    * a folder -- every frame file in it (sorted by name), concatenated.

    Frames are returned in their stored dtype; the fits convert to float64 themselves.

Input levels
    `read_levels_csv(path)` reads a CSV file with a header row, a numeric ``level`` column
    (the known input level of each exposure: exposure time, LED current, ... in any unit) and
    an optional ``file`` column (a frame file, relative to the CSV's folder). Values are
    parsed with ``float`` so a table written with ``repr``/``str`` of floats reads back exactly.

Checks (used by the readers and the fits): `check_finite` (NaN/inf), `check_same_shape`,
`check_saturation` (fraction of pixels at the camera's maximum code), `require_levels`.

Every failure to read a frame file -- corrupt or truncated data, a ``.npy`` of Python objects
(never unpickled: ``allow_pickle=False``), a wrong rank, a non-numeric or complex dtype, NaN or
infinite values, an unreadable file -- is a `CalibrationError` naming the file and saying what
was found and what is needed (in mixsig's words, never the underlying library's).
"""

from __future__ import annotations

import csv
import os
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mixsig.errors import MixsigError
from mixsig.signal.distortion.map_file import NPY_READ_ERRORS, npy_problem, read_npz_member

__all__ = [
    "FRAME_SUFFIXES",
    "CalibrationError",
    "LevelsTable",
    "check_finite",
    "check_same_shape",
    "check_saturation",
    "find_frame_file",
    "frames_by_level",
    "max_code",
    "read_frames",
    "read_levels_csv",
    "require_levels",
]

#: File name suffixes `read_frames` understands (lower case).
FRAME_SUFFIXES = (".npy", ".npz", ".tif", ".tiff", ".png")


class CalibrationError(MixsigError):
    """A measurement that cannot be used; the message says what was found and what is needed."""


# ----------------------------------------------------------------------------- checks
def check_finite(frames: np.ndarray, what: str) -> np.ndarray:
    """Return ``frames``; raise if any value is NaN or infinite."""
    a = np.asarray(frames)
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a)
        if bad.any():
            n_nan = int(np.isnan(a).sum())
            raise CalibrationError(
                f"{what}: found {int(bad.sum())} non-finite values ({n_nan} NaN) in an array "
                f"of shape {a.shape}; need finite values only (mask or re-acquire those frames)"
            )
    elif a.dtype.kind not in "iub":
        raise CalibrationError(
            f"{what}: found dtype {a.dtype}; need a real numeric array (integer or float)"
        )
    return a


def check_same_shape(stacks: Sequence[tuple[str, np.ndarray]], what: str) -> tuple[int, int]:
    """All ``(name, stack)`` pairs must have the same frame shape ``(H, W)``; return it."""
    if not stacks:
        raise CalibrationError(f"{what}: found no frames; need at least one frame")
    ref_name, ref = stacks[0]
    shape = tuple(ref.shape[-2:])
    for name, s in stacks[1:]:
        if tuple(s.shape[-2:]) != shape:
            raise CalibrationError(
                f"{what}: frames of mismatched shapes: {ref_name} has frames of shape "
                f"{shape} but {name} has {tuple(s.shape[-2:])}; need all frames the same "
                "size (same sensor region of interest)"
            )
    return shape  # type: ignore[return-value]


def max_code(frames: np.ndarray, camera_bits: int | None = None) -> float:
    """The camera's largest code: ``2^camera_bits − 1``, or the integer dtype's maximum."""
    if camera_bits is not None:
        return float(2**camera_bits - 1)
    a = np.asarray(frames)
    if a.dtype.kind in "iu":
        return float(np.iinfo(a.dtype).max)
    raise CalibrationError(
        f"cannot tell the camera's maximum code from float frames (dtype {a.dtype}); "
        "need camera_bits (e.g. 12 for a 12-bit camera)"
    )


def check_saturation(
    frames: np.ndarray,
    what: str,
    *,
    camera_bits: int | None = None,
    max_fraction: float = 1e-3,
) -> float:
    """Raise if more than ``max_fraction`` of the pixels sit at the maximum code.

    Returns the saturated fraction. Saturated pixels have lost their signal (and their noise),
    so flat fields for PRNU and exposures for a transfer curve must stay below the top code.
    """
    top = max_code(frames, camera_bits)
    a = np.asarray(frames)
    frac = float(np.mean(a >= top))
    if frac > max_fraction:
        raise CalibrationError(
            f"{what}: {100 * frac:.3g}% of the pixels are saturated (at the maximum code "
            f"{top:g}); need at most {100 * max_fraction:.3g}% (reduce the exposure or the light)"
        )
    return frac


def require_levels(found: int, needed: int, what: str) -> None:
    """Raise unless ``found >= needed`` (counts of exposure levels, frames, impulses, ...)."""
    if found < needed:
        raise CalibrationError(f"{what}: found {found}; need at least {needed}")


# ----------------------------------------------------------------------------- frame readers
#: What decoding a corrupt or truncated image file may raise (besides the library's own).
_DECODE_ERRORS = (OSError, ValueError, EOFError, struct.error, zlib.error)
_PNG_MODES = ("L", "I;16", "I;16B", "I;16L", "I")


def _as_stack(a: np.ndarray, path: Path) -> np.ndarray:
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise CalibrationError(
            f"{path}: found an array of shape {a.shape}; need one frame (H, W) or a stack "
            "(n_frames, H, W) of greyscale frames"
        )
    if a.shape[0] == 0 or a.shape[1] == 0 or a.shape[2] == 0:
        raise CalibrationError(f"{path}: found an empty array of shape {a.shape}")
    return check_finite(a, str(path))


def _read_npy(path: Path) -> np.ndarray:
    with path.open("rb") as fh:
        if fh.read(4) == b"PK\x03\x04":
            raise CalibrationError(
                f"{path}: found a zip archive (.npz data); need a .npy array file (or name "
                "the file .npz)"
            )
        fh.seek(0)
        problem = npy_problem(fh, path.stat().st_size)
    if problem is not None:
        raise CalibrationError(f"{path}: {problem}")
    try:
        return np.load(path, allow_pickle=False)
    except NPY_READ_ERRORS:
        raise CalibrationError(
            f"{path}: found corrupt .npy data; need an intact file written by numpy.save"
        ) from None


def _read_npz(path: Path) -> np.ndarray:
    try:
        z = np.load(path, allow_pickle=False)
    except NPY_READ_ERRORS:
        raise CalibrationError(
            f"{path}: found no readable .npz archive (not a zip archive of arrays, or corrupt "
            "or truncated); need a file written by numpy.savez"
        ) from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise CalibrationError(
            f"{path}: found a single .npy array; need a .npz archive (or name the file .npy)"
        )
    with z:
        names = list(z.files)
        name = "frames" if "frames" in names else names[0] if len(names) == 1 else None
        if name is None:
            raise CalibrationError(
                f"{path}: found arrays {names}; need an array named 'frames' or exactly one array"
            )
        return read_npz_member(z, name, path, CalibrationError)


def _read_tiff(path: Path, bits: int | None) -> np.ndarray:
    try:
        import tifffile
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise CalibrationError(
            f"{path}: reading TIFF needs the 'tifffile' package (pip install tifffile)"
        ) from exc
    try:
        with tifffile.TiffFile(path) as tf:
            page = tf.pages[0]
            colour = page.photometric == tifffile.PHOTOMETRIC.RGB and page.planarconfig == 1
            a = np.asarray(tf.asarray())
    except PermissionError:
        raise  # the file, not its contents (read_frames says so)
    except (*_DECODE_ERRORS, IndexError, KeyError):  # tifffile's errors are ValueErrors
        raise CalibrationError(
            f"{path}: found a corrupt or truncated TIFF (it cannot be decoded); need the "
            "file as the camera wrote it"
        ) from None
    if colour:  # interleaved RGB(A): a colour image (planar 3-page stacks are frames)
        raise CalibrationError(
            f"{path}: found a colour (RGB) TIFF of shape {a.shape}; need greyscale frames"
        )
    if a.dtype.kind == "f":
        raise CalibrationError(
            f"{path}: found a floating-point TIFF ({a.dtype}); need raw camera codes as "
            f"{'uint' + str(bits) if bits else 'uint8/uint16'} (store processed float data "
            "as .npy instead)"
        )
    allowed = {8: np.uint8, 16: np.uint16}
    if bits is not None and bits not in allowed:
        raise ValueError(f"tiff_bits must be 8, 16 or None, got {bits!r}")
    want = [allowed[bits]] if bits is not None else list(allowed.values())
    if a.dtype not in [np.dtype(w) for w in want]:
        found = f"{8 * a.dtype.itemsize}-bit {a.dtype}"
        need = " or ".join(f"{8 * np.dtype(w).itemsize}-bit {np.dtype(w)}" for w in want)
        raise CalibrationError(
            f"{path}: found a {found} TIFF; need {need} frames as written by the camera"
        )
    return a


def _read_png(path: Path) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise CalibrationError(
            f"{path}: reading PNG needs the 'pillow' package (pip install pillow)"
        ) from exc
    try:
        with Image.open(path) as im:
            mode = im.mode
            a = np.array(im) if mode in _PNG_MODES else None
    except PermissionError:
        raise  # the file, not its contents (read_frames says so)
    except (*_DECODE_ERRORS, SyntaxError):  # Pillow's UnidentifiedImageError is an OSError
        raise CalibrationError(
            f"{path}: found a corrupt or truncated PNG (it cannot be decoded); need the "
            "file as the camera wrote it"
        ) from None
    if a is None:
        raise CalibrationError(
            f"{path}: found a PNG in mode {mode!r}; need an 8- or 16-bit greyscale PNG"
        )
    if mode == "I":  # Pillow may open 16-bit greyscale PNGs as 32-bit integers
        if a.min() < 0 or a.max() > 65535:
            raise CalibrationError(
                f"{path}: found 32-bit values outside 0..65535; need an 8- or 16-bit PNG"
            )
        a = a.astype(np.uint16)
    elif a.dtype != np.uint8:
        a = a.astype(np.uint16)
    return a


def find_frame_file(folder: str | os.PathLike, stem: str) -> Path | None:
    """The frame file ``folder/stem.<suffix>`` (any of `FRAME_SUFFIXES`), or None."""
    folder = Path(folder)
    found = [folder / f"{stem}{s}" for s in FRAME_SUFFIXES if (folder / f"{stem}{s}").is_file()]
    if len(found) > 1:
        raise CalibrationError(
            f"{folder}: found several files for {stem!r} ({[p.name for p in found]}); "
            "need exactly one"
        )
    return found[0] if found else None


def read_frames(path: str | os.PathLike, *, tiff_bits: int | None = 16) -> np.ndarray:
    """A stack ``(n_frames, H, W)`` from one frame file or a folder of them (module docstring)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(
            p for p in path.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES
        )
        if not files:
            raise CalibrationError(
                f"{path}: found no frame files; need files ending in {', '.join(FRAME_SUFFIXES)}"
            )
        stacks = [(p.name, read_frames(p, tiff_bits=tiff_bits)) for p in files]
        check_same_shape(stacks, str(path))
        dtypes = {s.dtype for _, s in stacks}
        if len(dtypes) > 1:
            raise CalibrationError(
                f"{path}: found frames of different dtypes {sorted(map(str, dtypes))}; need "
                "all frames from the same camera mode"
            )
        return np.concatenate([s for _, s in stacks], axis=0)
    if not path.is_file():
        raise CalibrationError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    readers: dict[str, Callable[[Path], np.ndarray]] = {
        ".npy": _read_npy,
        ".npz": _read_npz,
        ".tif": lambda p: _read_tiff(p, tiff_bits),
        ".tiff": lambda p: _read_tiff(p, tiff_bits),
        ".png": _read_png,
    }
    if suffix not in readers:
        raise CalibrationError(
            f"{path}: found a {suffix or 'suffix-less'} file; need one of {FRAME_SUFFIXES}"
        )
    try:
        a = readers[suffix](path)
    except OSError as err:  # the file itself: permissions, I/O
        raise CalibrationError(
            f"{path}: cannot be read ({err.strerror or type(err).__name__}); need a readable "
            "frame file"
        ) from None
    return _as_stack(np.asarray(a), path)


# ----------------------------------------------------------------------------- level tables
@dataclass(frozen=True)
class LevelsTable:
    """The rows of a levels CSV: input level per row and, if given, the frame file per row."""

    levels: np.ndarray
    files: tuple[Path, ...] | None
    path: Path


def read_levels_csv(path: str | os.PathLike) -> LevelsTable:
    """Read a ``level[,file]`` CSV (module docstring); levels must be finite and >= 0."""
    path = Path(path)
    if not path.is_file():
        raise CalibrationError(f"{path}: no such file (need a CSV with a 'level' column)")
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise CalibrationError(f"{path}: found an empty file; need a header and one row per level")
    header = [c.strip().lower() for c in rows[0]]
    if "level" not in header:
        raise CalibrationError(
            f"{path}: found columns {header}; need a header row with a 'level' column "
            "(and optionally 'file')"
        )
    i_level = header.index("level")
    i_file = header.index("file") if "file" in header else None
    levels: list[float] = []
    files: list[Path] = []
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise CalibrationError(
                f"{path}, line {n}: found {len(row)} fields; need {len(header)} ({header})"
            )
        text = row[i_level].strip()
        try:
            v = float(text)
        except ValueError:
            raise CalibrationError(
                f"{path}, line {n}: found level {text!r}; need a number"
            ) from None
        if not np.isfinite(v) or v < 0:
            raise CalibrationError(
                f"{path}, line {n}: found level {text!r}; need a finite number >= 0"
            )
        levels.append(v)
        if i_file is not None:
            name = row[i_file].strip()
            if not name:
                raise CalibrationError(f"{path}, line {n}: found an empty file name")
            files.append(path.parent / name)
    if not levels:
        raise CalibrationError(f"{path}: found a header but no rows; need one row per level")
    return LevelsTable(
        np.asarray(levels, dtype=np.float64), tuple(files) if i_file is not None else None, path
    )


def frames_by_level(
    path: str | os.PathLike, *, tiff_bits: int | None = 16
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Read a levels CSV and its frames; return ``(levels, stacks)`` grouped by level.

    With a ``file`` column each row names a frame file (one frame or a stack); rows with the
    same level are pooled. Without it, a stack ``frames.<suffix>`` next to the CSV holds one
    frame per row, in row order. ``levels`` is sorted ascending and unique; ``stacks[i]`` is
    ``(n_i, H, W)``.
    """
    table = read_levels_csv(path)
    if table.files is not None:
        per_row = [read_frames(f, tiff_bits=tiff_bits) for f in table.files]
        names = [f.name for f in table.files]
    else:
        stack_path = find_frame_file(table.path.parent, "frames")
        if stack_path is None:
            raise CalibrationError(
                f"{table.path}: found no 'file' column and no frames.<npy|npz|tif|tiff|png> "
                "stack next to it; need one of the two"
            )
        stack = read_frames(stack_path, tiff_bits=tiff_bits)
        if stack.shape[0] != table.levels.size:
            raise CalibrationError(
                f"{stack_path}: found {stack.shape[0]} frames for {table.levels.size} rows of "
                f"{table.path.name}; need one frame per row"
            )
        per_row = [stack[i : i + 1] for i in range(stack.shape[0])]
        names = [f"{stack_path.name}[{i}]" for i in range(stack.shape[0])]
    check_same_shape(list(zip(names, per_row)), str(table.path))
    levels = np.unique(table.levels)
    stacks = [
        np.concatenate([s for s, lv in zip(per_row, table.levels) if lv == level], axis=0)
        for level in levels
    ]
    return levels, stacks
