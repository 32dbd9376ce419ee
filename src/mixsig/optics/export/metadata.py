"""What a DOE file says about the element besides its phase: `DOEMetadata`, and the format.

Owns `DOEMetadata` (λ, pitch, levels L, material index n, focal length, comment; validated on
construction; the derived h_2π = λ/(n − 1), the height step, the etch steps k of L = 2^k and
the TIFF codes per 2π; `DOEMetadata.record` / `DOEMetadata.from_record`, the JSON form every
format stores and the check of one read back), `DOEFileError`, and the format's identity and
vocabulary shared by every file: `FORMAT`, `FORMAT_VERSION`, `TIFF_COUNTS`, `UNITS_NOTE`,
`AXES_NOTE`, the keys every file's metadata must hold (`REQUIRED_KEYS`) and those stored as
plain strings (`STRING_KEYS`), and `check_positive`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from mixsig.errors import MixsigError

FORMAT = "mixsig.doe"
FORMAT_VERSION = 1
TIFF_COUNTS = 65536  # codes of a 16-bit image
UNITS_NOTE = "SI: lengths in metres (keys *_m), phase in radians; GDS coordinates in micrometres"
AXES_NOTE = (
    "array[r, c] is the pixel centred on x = (c - N//2)*pitch_m, y = (r - N//2)*pitch_m; "
    "the optical axis is the centre of pixel (N//2, N//2)"
)
_MAX_COMMENT = 256
REQUIRED_KEYS = (
    "format",
    "format_version",
    "wavelength_m",
    "pitch_m",
    "levels",
    "material_index",
    "focal_length_m",
)
STRING_KEYS = frozenset({"format", "comment", "units", "axes", "name", "quantity"})


class DOEFileError(MixsigError):
    """A file is not a valid mixsig DOE export (the message names the file and the problem)."""


def _is_power_of_two(n: int) -> bool:
    return n >= 2 and n & (n - 1) == 0


def check_positive(name: str, value: object, *, optional: bool = False) -> None:
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
        check_positive("wavelength_m", self.wavelength_m)
        check_positive("pitch_m", self.pitch_m)
        check_positive("focal_length_m", self.focal_length_m, optional=True)
        check_positive("material_index", self.material_index)
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
