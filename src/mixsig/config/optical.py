"""The optical front of a run config: `OpticalConfig`, its source spectrum and DOE material.

Owns the schema of ``model.optical`` (`mixsig.nn.OpticalConv2d` through
`mixsig.models.optical_cnn`): the parameterisation and its training, and the PSF as a lab
builds it — the DOE's pixel envelope and fill factor, a source spectrum (`SpectrumConfig`:
lines or a Gaussian) and the DOE material's dispersion (fused silica, or a `CauchyMaterialConfig`);
the physics is `mixsig.optics` (docs/optical-layer.md). `LEGACY_PSF` are the values that compute
what the layer computed before these fields existed.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from mixsig.config.hardware import Int, Real, _Strict

Wavelength = Annotated[
    Real, Field(ge=1e-7, le=2e-5, description="vacuum wavelength in metres, 1e-7 to 2e-5")
]


class SpectrumConfig(_Strict):
    """A source spectrum (`mixsig.optics.spectrum`): lines — ``wavelengths_m`` and ``weights``
    (null: equal) — or a Gaussian — ``center_m``, ``fwhm_m`` and ``samples`` (null: 5)
    Gauss–Hermite wavelengths."""

    wavelengths_m: list[Wavelength] | None = Field(None, min_length=1, max_length=64)
    weights: list[Annotated[Real, Field(ge=0.0, le=1e6)]] | None = Field(
        None, description="relative weights, each 0-1e6, not all 0; null: equal"
    )
    center_m: Wavelength | None = None
    fwhm_m: Real | None = Field(None, ge=0.0, le=1e-5, description="metres, 0-1e-5 (0: a line)")
    samples: Int | None = Field(None, ge=1, le=64, description="1-64")

    def form_error(self) -> str | None:
        """Why these fields are not one spectrum (checked by `OpticalConfig`), or None."""
        lines = self.wavelengths_m is not None or self.weights is not None
        gauss = self.center_m is not None or self.fwhm_m is not None or self.samples is not None
        w, lam = self.weights, self.wavelengths_m
        if lines == gauss:
            return "give either wavelengths_m (and weights) or center_m and fwhm_m (and samples)"
        if gauss and (self.center_m is None or self.fwhm_m is None):
            return "a Gaussian spectrum needs both center_m and fwhm_m"
        if lines and lam is None:
            return "weights without wavelengths_m: give one wavelength per weight"
        if w is not None and len(w) != len(lam):
            return f"{len(w)} weights for {len(lam)} wavelengths: give one per line"
        if w is not None and not sum(w) > 0:
            return f"weights {w} are all zero: at least one must be > 0"
        return None


class CauchyMaterialConfig(_Strict):
    """A DOE material n(λ) = a + b_um2/λ² + c_um4/λ⁴ (λ in µm), valid over ``valid_m``."""

    model: Literal["cauchy"]
    a: Real = Field(gt=1.0, le=5.0, description="n at long wavelengths, 1-5")
    b_um2: Real = Field(0.0, ge=-1.0, le=1.0, description="µm², -1 to 1")
    c_um4: Real = Field(0.0, ge=-1.0, le=1.0, description="µm⁴, -1 to 1")
    valid_m: tuple[Wavelength, Wavelength] = Field(description="[shortest, longest] in metres")

    @field_validator("valid_m")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not v[0] < v[1]:
            raise ValueError(f"valid_m = {list(v)}: the shortest wavelength must come first")
        return v


class OpticalConfig(_Strict):
    """The optical front of ``optical_cnn`` (`mixsig.nn.OpticalConv2d`).

    ``parameterisation``: ``doe`` — the phase mask trained end to end (pre-training and the
    hardware-aware phase) from a Gabor-bank synthesis, with the anti-collapse regulariser
    weighted by ``regularizer_weight`` in the loss; ``kernel`` — ideal non-negative kernel
    pairs trained in pre-training, then a DOE synthesised to realise them (its fit error and
    throughput go to the results), the camera recalibrated to the realised PSF, and the
    hardware-aware phase trains only the digital layers (the optics are frozen).

    The PSF (docs/optical-layer.md): ``pixel_envelope`` — the DOE's square pixels of side
    ``fill_factor``·pitch; ``spectrum`` — null: monochromatic at the design wavelength, else
    lines or a Gaussian, the PSF summed over them with the DOE ``material``'s dispersion.

    The digital back end: batch norm, ReLU, max-pool ``pool`` × ``pool``, a digital 3 × 3
    convolution of ``conv`` channels with batch norm, ReLU and a 2 × 2 max-pool (0: none), a
    hidden linear layer of ``hidden`` units with ReLU (0: none), the linear classifier."""

    parameterisation: Literal["doe", "kernel"] = "doe"
    out_channels: Int = Field(8, ge=1, le=64, description="optical channels, 1-64")
    kernel_size: Int = Field(5, ge=1, le=31, description="kernel side in pixels, 1-31")
    doe_levels: Int | None = Field(
        16, ge=2, le=65536, description="DOE phase levels, 2-65536, or null for continuous"
    )
    regularizer_weight: Real = Field(
        0.1, ge=0.0, le=1e3, description="λ of the regulariser, dimensionless, 0-1e3"
    )
    pixel_envelope: bool = True
    fill_factor: Real = Field(1.0, gt=0.0, le=1.0, description="DOE pixel side / pitch, in (0, 1]")
    spectrum: SpectrumConfig | None = None
    material: Literal["fused_silica"] | CauchyMaterialConfig = "fused_silica"
    pool: Int = Field(4, ge=1, le=32, description="max-pool window after the camera, 1-32")
    hidden: Int = Field(0, ge=0, le=4096, description="hidden units of the back end, 0-4096")
    conv: Int = Field(
        0, ge=0, le=256, description="channels of the back end's digital 3×3 conv, 0-256"
    )

    @field_validator("spectrum")
    @classmethod
    def _one_spectrum(cls, v: SpectrumConfig | None) -> SpectrumConfig | None:
        why = None if v is None else v.form_error()
        if why:
            raise ValueError(why)
        return v


#: the PSF fields of `OpticalConfig` at the values that compute what the layer computed
#: before they existed (left out of a run config's dump, see ``mixsig.config.run.ModelConfig``)
LEGACY_PSF = {
    "pixel_envelope": False,
    "fill_factor": 1.0,
    "spectrum": None,
    "material": "fused_silica",
}


#: the back end's fields at the values of the back end before they existed (left out of a run
#: config's dump at these values, as `LEGACY_PSF`)
DEFAULT_BACK_END = {"pool": 4, "hidden": 0, "conv": 0}


__all__ = [
    "DEFAULT_BACK_END",
    "LEGACY_PSF",
    "CauchyMaterialConfig",
    "OpticalConfig",
    "SpectrumConfig",
]
