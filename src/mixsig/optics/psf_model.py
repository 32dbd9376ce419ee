"""How the PSF of a DOE is modelled: pixel aperture, source spectrum, material — `PSFModel`.

Owns the settings that turn a phase mask into a camera-plane PSF beyond the point-sampled,
monochromatic Fraunhofer transform (`mixsig.optics.broadband` computes it):

* ``pixel_envelope`` and ``fill_factor`` ff ∈ (0, 1]: the DOE is made of square pixels of side
  ff·Δu (pitch Δu), so its far field is that of the point-sampled DOE times the pixel's
  transform: the intensity envelope sinc²(ff·x·Δu/(λf))·sinc²(ff·y·Δu/(λf)), 1 on the axis,
  sinc²(ff/2) at the window edge x = λf/(2Δu) (0.405 for ff = 1). The light it takes from the
  window goes to the higher diffraction orders of the pixel grid, replicas of the window's far
  field at multiples of λf/Δu. Off (``pixel_envelope=False``): the point-sampled DOE of the
  layer before the envelope existed, whose camera plane is the window alone.
* ``spectrum`` (`mixsig.optics.spectrum.Spectrum`): None is monochromatic at the design
  wavelength λ₀ (the sampling's); otherwise the incoherent PSF is the weighted sum of one PSF
  per line, the DOE phase scaled by the dispersion of ``material``
  (`mixsig.optics.dispersion.dispersion_scale`).
* ``material``: the DOE material (default fused silica, Malitson 1965).

`PSFModel.lines` gives the (λ, weight, phase scale) of each line, checking the material's
validity range. A model travels in a layer's state dict as JSON bytes in a uint8 tensor
(`encode_state`, `decode_state`); `POINT_SAMPLED` is what a state without it (written before
the envelope existed) means.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import torch
from torch import Tensor

from mixsig.errors import MixsigError
from mixsig.optics.dispersion import (
    FUSED_SILICA,
    Material,
    dispersion_scale,
    material_from_spec,
)
from mixsig.optics.spectrum import Spectrum, as_spectrum

STATE_FORMAT = "mixsig-psf-model/1"


class PSFModelError(MixsigError):
    """PSF-model settings that cannot be used (fill factor, a coherent broadband source, a
    stored model that cannot be read); the message names the value and the allowed range."""


class Line(NamedTuple):
    """One line of the source: its wavelength, weight (Σ = 1) and the DOE phase scale α(λ)."""

    wavelength_m: float
    weight: float
    phase_scale: float


def check_fill_factor(value: Any) -> float:
    """``value`` as a float in (0, 1], or a `PSFModelError` naming it and the range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PSFModelError(f"fill_factor must be a real number in (0, 1], got {value!r}")
    ff = float(value)
    if not 0 < ff <= 1:  # also refuses NaN
        raise PSFModelError(
            f"fill_factor = {value!r} is outside (0, 1]: the DOE pixel aperture is a square of "
            "side fill_factor·pitch (1: pixels that tile the DOE)"
        )
    return ff


@dataclass(frozen=True)
class PSFModel:
    """The PSF model of a DOE (module docstring). Hashable: part of a layer's OTF cache key."""

    pixel_envelope: bool = True
    fill_factor: float = 1.0
    spectrum: Spectrum | None = None
    material: Material = field(default=FUSED_SILICA)

    def __post_init__(self) -> None:
        if not isinstance(self.pixel_envelope, bool):
            raise PSFModelError(
                f"pixel_envelope must be true or false, got {self.pixel_envelope!r}"
            )
        object.__setattr__(self, "fill_factor", check_fill_factor(self.fill_factor))
        object.__setattr__(self, "spectrum", as_spectrum(self.spectrum))
        object.__setattr__(self, "material", material_from_spec(self.material))

    def monochromatic(self, design_wavelength_m: float) -> bool:
        """No spectrum, or every line exactly at the design wavelength."""
        return self.spectrum is None or self.spectrum.is_monochromatic_at(design_wavelength_m)

    @property
    def point_sampled_monochromatic(self) -> bool:
        """The model of the layer before the envelope and the spectrum existed (no envelope, no
        spectrum): its PSF is computed exactly as then (`mixsig.optics.broadband`)."""
        return not self.pixel_envelope and self.spectrum is None

    def lines(self, design_wavelength_m: float) -> tuple[Line, ...]:
        """(λ, weight, α(λ)) per line; one line (λ₀, 1, 1) when monochromatic at λ₀. Raises a
        `mixsig.optics.dispersion.MaterialError` for a line (or λ₀) outside the material's
        validity range (only when some line is not at λ₀)."""
        lam0 = float(design_wavelength_m)
        if self.spectrum is None:
            return (Line(lam0, 1.0, 1.0),)
        return tuple(
            Line(lam, w, dispersion_scale(self.material, lam, lam0))
            for lam, w in zip(self.spectrum.wavelengths_m, self.spectrum.weights)
        )

    def scale_range(self, design_wavelength_m: float) -> tuple[float, float]:
        """(λ_min/λ₀, λ_max/λ₀): how far the far field's geometry scales over the spectrum."""
        if self.spectrum is None:
            return 1.0, 1.0
        lam0 = float(design_wavelength_m)
        return self.spectrum.shortest_m / lam0, self.spectrum.longest_m / lam0

    def at_design_wavelength(self) -> PSFModel:
        """The same model, monochromatic at the design wavelength."""
        return replace(self, spectrum=None)

    def describe(self) -> str:
        env = f"pixel envelope ff={self.fill_factor:g}" if self.pixel_envelope else "point-sampled"
        if self.spectrum is None:
            return f"{env}, monochromatic"
        s = self.spectrum
        lo, hi = s.shortest_m * 1e9, s.longest_m * 1e9
        return f"{env}, {len(s.wavelengths_m)} lines {lo:.4g}–{hi:.4g} nm"

    def spec(self) -> dict[str, Any]:
        """The model as a JSON-able mapping (what checkpoints store)."""
        return {
            "format": STATE_FORMAT,
            "pixel_envelope": self.pixel_envelope,
            "fill_factor": self.fill_factor,
            "spectrum": None if self.spectrum is None else self.spectrum.spec(),
            "material": self.material.spec(),
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> PSFModel:
        if not isinstance(spec, dict) or spec.get("format") != STATE_FORMAT:
            got = spec.get("format") if isinstance(spec, dict) else type(spec).__name__
            raise PSFModelError(f"not a {STATE_FORMAT} PSF model (format: {got!r})")
        keys = {"pixel_envelope", "fill_factor", "spectrum", "material"}
        if not keys <= set(spec):
            raise PSFModelError(f"a stored PSF model lacks {sorted(keys - set(spec))}")
        return cls(**{k: spec[k] for k in keys})


#: the PSF model of a layer state written before the envelope and the spectrum existed
POINT_SAMPLED = PSFModel(pixel_envelope=False)


def encode_state(model: PSFModel) -> Tensor:
    """The model as UTF-8 JSON bytes in a uint8 tensor (floats round-trip exactly)."""
    blob = json.dumps(model.spec(), sort_keys=True, allow_nan=False).encode()
    return torch.tensor(list(blob), dtype=torch.uint8)


def decode_state(state: Any) -> PSFModel:
    """The inverse of `encode_state`; a `PSFModelError` for anything else."""
    if not isinstance(state, Tensor) or state.dtype != torch.uint8 or state.dim() != 1:
        raise PSFModelError(f"a stored PSF model is a 1-D uint8 tensor, got {state!r:.80}")
    try:
        spec = json.loads(bytes(state.tolist()).decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PSFModelError(f"a stored PSF model is not JSON: {err}") from None
    return PSFModel.from_spec(spec)


def psf_models(model: Any) -> dict[str, dict[str, Any]]:
    """{module name: `PSFModel.spec`} of every submodule of ``model`` (a torch module) that has
    a ``psf_model`` (the optical layers), for a checkpoint's reader."""
    return {
        name or ".": m.psf_model.spec()
        for name, m in model.named_modules()
        if isinstance(getattr(m, "psf_model", None), PSFModel)
    }


__all__ = [
    "Line",
    "POINT_SAMPLED",
    "PSFModel",
    "PSFModelError",
    "check_fill_factor",
    "decode_state",
    "encode_state",
    "psf_models",
]
