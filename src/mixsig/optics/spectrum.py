"""The source spectrum of an incoherent optical layer: wavelengths and their weights.

Owns `Spectrum`, a finite set of lines (vacuum wavelengths in metres, each with a weight ≥ 0,
normalised to sum 1: the share of the detected signal — source power × camera quantum
efficiency — carried by each line), and how a continuous spectrum is sampled into lines:

* `Spectrum.lines`: explicit wavelengths with weights (equal weights when none are given);
* `Spectrum.gaussian`: a Gaussian of centre λc and full width at half maximum FWHM
  (σ = FWHM/(2·√(2 ln 2))) sampled by S-point Gauss–Hermite quadrature: lines
  λᵢ = λc + √2·σ·xᵢ with weights wᵢ/√π (xᵢ, wᵢ the Gauss–Hermite nodes and weights of
  ``numpy.polynomial.hermite.hermgauss``). The rule integrates exactly any λ-dependence of the
  PSF that is a polynomial of degree ≤ 2S − 1 against the Gaussian; odd S includes λc itself.
  FWHM = 0 (or S = 1) is one line at λc.

Bad input (lengths that differ, a wavelength ≤ 0 or not finite, a negative weight, weights
that are all zero) is refused with a `SpectrumError` naming the value and the allowed range.
Whether a wavelength suits the DOE material is checked where the material is known
(`mixsig.optics.dispersion`). `as_spectrum` reads a spectrum from a config value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixsig.errors import MixsigError

#: the most lines a spectrum may have (each costs one PSF per forward)
MAX_LINES = 64
_FWHM_PER_SIGMA = 2 * math.sqrt(2 * math.log(2))


class SpectrumError(MixsigError):
    """A source spectrum that cannot be used; the message names the value and the range."""


def _real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise SpectrumError(f"{name} must be a real number, got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise SpectrumError(f"{name} must be finite, got {value!r}")
    return x


@dataclass(frozen=True)
class Spectrum:
    """Lines of a source spectrum: ``wavelengths_m`` (each > 0) and ``weights`` (each ≥ 0, not
    all 0), normalised on construction so that the weights sum to 1."""

    wavelengths_m: tuple[float, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        lam = tuple(self.wavelengths_m) if isinstance(self.wavelengths_m, Sequence) else None
        w = tuple(self.weights) if isinstance(self.weights, Sequence) else None
        if lam is None or w is None or not 1 <= len(lam) <= MAX_LINES or len(w) != len(lam):
            raise SpectrumError(
                f"a spectrum needs 1 to {MAX_LINES} wavelengths and as many weights, got "
                f"wavelengths_m = {self.wavelengths_m!r}, weights = {self.weights!r}"
            )
        lam = tuple(_real(v, f"wavelengths_m[{i}]") for i, v in enumerate(lam))
        w = tuple(_real(v, f"weights[{i}]") for i, v in enumerate(w))
        for i, v in enumerate(lam):
            if v <= 0:
                raise SpectrumError(f"wavelengths_m[{i}] = {v!r} m: a wavelength must be > 0")
        for i, v in enumerate(w):
            if v < 0:
                raise SpectrumError(f"weights[{i}] = {v!r}: each weight must be ≥ 0")
        total = math.fsum(w)
        if not total > 0:
            raise SpectrumError(
                f"weights {list(w)} are all zero: at least one weight must be > 0 (the weights "
                "are relative; they are normalised to sum 1)"
            )
        object.__setattr__(self, "wavelengths_m", lam)
        object.__setattr__(self, "weights", tuple(v / total for v in w))

    # -- constructors -----------------------------------------------------------------------
    @classmethod
    def lines(
        cls, wavelengths_m: Sequence[float], weights: Sequence[float] | None = None
    ) -> Spectrum:
        """Explicit lines; equal weights when ``weights`` is None."""
        lam = tuple(wavelengths_m)
        return cls(lam, tuple(weights) if weights is not None else (1.0,) * len(lam))

    @classmethod
    def monochromatic(cls, wavelength_m: float) -> Spectrum:
        """One line of weight 1."""
        return cls((wavelength_m,), (1.0,))

    @classmethod
    def gaussian(cls, center_m: float, fwhm_m: float, samples: int = 5) -> Spectrum:
        """A Gaussian spectrum sampled by ``samples``-point Gauss–Hermite quadrature (module
        docstring); FWHM = 0 or one sample: one line at the centre."""
        c = _real(center_m, "center_m")
        fwhm = _real(fwhm_m, "fwhm_m")
        if c <= 0:
            raise SpectrumError(f"center_m = {c!r} m: a wavelength must be > 0")
        if fwhm < 0:
            raise SpectrumError(f"fwhm_m = {fwhm!r} m must be ≥ 0 (0: one line at the centre)")
        if isinstance(samples, bool) or not isinstance(samples, int):
            raise SpectrumError(f"samples must be an integer in [1, {MAX_LINES}], got {samples!r}")
        if not 1 <= samples <= MAX_LINES:
            raise SpectrumError(f"samples = {samples} must be in [1, {MAX_LINES}]")
        if fwhm == 0 or samples == 1:
            return cls.monochromatic(c)
        nodes, weights = np.polynomial.hermite.hermgauss(samples)
        sigma = fwhm / _FWHM_PER_SIGMA
        lam = tuple(float(c + math.sqrt(2) * sigma * x) for x in nodes)
        if lam[0] <= 0:
            widest = c / (math.sqrt(2) * -float(nodes[0])) * _FWHM_PER_SIGMA
            raise SpectrumError(
                f"a Gaussian of centre {c!r} m and FWHM {fwhm!r} m sampled at {samples} points "
                f"reaches {lam[0]!r} m ≤ 0: use a FWHM below {widest:.4g} m or fewer samples"
            )
        return cls(lam, tuple(float(w / math.sqrt(math.pi)) for w in weights))

    # -- derived ----------------------------------------------------------------------------
    @property
    def shortest_m(self) -> float:
        return min(self.wavelengths_m)

    @property
    def longest_m(self) -> float:
        return max(self.wavelengths_m)

    @property
    def mean_m(self) -> float:
        """The weighted mean wavelength Σwᵢλᵢ."""
        return math.fsum(w * v for w, v in zip(self.weights, self.wavelengths_m))

    def is_monochromatic_at(self, wavelength_m: float) -> bool:
        """Whether every line is exactly at ``wavelength_m``."""
        return all(v == wavelength_m for v in self.wavelengths_m)

    def spec(self) -> dict[str, list[float]]:
        """The lines as a JSON-able mapping (what checkpoints store)."""
        return {"wavelengths_m": list(self.wavelengths_m), "weights": list(self.weights)}


def as_spectrum(value: Spectrum | Mapping[str, Any] | Any | None) -> Spectrum | None:
    """A `Spectrum` from None, a spectrum, or a mapping (or an object with ``model_dump``, e.g.
    a config section): ``{wavelengths_m: [...], weights: [...]}`` (weights optional) or
    ``{center_m, fwhm_m, samples}`` (samples optional, default 5); keys whose value is None
    are left out."""
    if value is None or isinstance(value, Spectrum):
        return value
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if not isinstance(value, Mapping):
        raise SpectrumError(f"a spectrum must be a mapping or a Spectrum, got {value!r}")
    value = {k: v for k, v in value.items() if v is not None}  # a config's unused fields
    keys = set(value)
    if keys <= {"wavelengths_m", "weights"} and "wavelengths_m" in keys:
        return Spectrum.lines(value["wavelengths_m"], value.get("weights"))
    if keys <= {"center_m", "fwhm_m", "samples"} and {"center_m", "fwhm_m"} <= keys:
        return Spectrum.gaussian(value["center_m"], value["fwhm_m"], value.get("samples", 5))
    raise SpectrumError(
        f"a spectrum is {{wavelengths_m: [...], weights: [...]}} or {{center_m, fwhm_m, "
        f"samples}}, got the keys {sorted(keys)}"
    )


__all__ = ["MAX_LINES", "Spectrum", "SpectrumError", "as_spectrum"]
