"""Material dispersion of the DOE: the refractive index n(λ) and the phase scale it gives.

Owns the material models of an etched DOE and the per-wavelength phase scale of design §3: an
element etched for phase φ at the design wavelength λ₀ gives, at λ, the phase
α(λ)·φ with α(λ) = (n(λ) − 1)/(n(λ₀) − 1) · λ₀/λ (`dispersion_scale`; the height h is fixed,
φ = 2π(n(λ) − 1)h/λ). Two models, each with the wavelength range it is valid over (a
wavelength outside it is refused with a `MaterialError` naming the value and the range):

* `Sellmeier`: n² − 1 = Σᵢ Bᵢ·λ²/(λ² − Cᵢ), λ in µm, Cᵢ in µm².
  `FUSED_SILICA` is Malitson's fit for fused silica at 20 °C: I. H. Malitson, "Interspecimen
  comparison of the refractive index of fused silica", J. Opt. Soc. Am. 55(10), 1205–1209
  (1965), doi:10.1364/JOSA.55.001205 — B = (0.6961663, 0.4079426, 0.8974794),
  √C = (0.0684043, 0.1162414, 9.896161) µm, valid 0.21–3.71 µm (n(587.6 nm) = 1.4585,
  n(1064 nm) = 1.4496).
* `Cauchy`: n = A + B/λ² + C/λ⁴, λ in µm — a short empirical fit over a stated range (the
  user gives the coefficients and that range; there is no built-in one).

`material_from_spec` reads a material from a config value: ``"fused_silica"`` or a mapping
``{model: sellmeier | cauchy, ...}`` with the fields of the dataclasses below; `Material.spec`
is the inverse (what checkpoints store).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mixsig.errors import MixsigError

_UM = 1e-6


class MaterialError(MixsigError):
    """A material model that cannot be used, or a wavelength outside its validity range."""


def _nm(x_m: float) -> str:
    return f"{x_m * 1e9:.6g} nm"


def _range_text(valid_m: tuple[float, float]) -> str:
    return f"{valid_m[0] / _UM:.6g}–{valid_m[1] / _UM:.6g} µm"


def _check_range(valid_m: Any, name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in valid_m)
    except (TypeError, ValueError):
        raise MaterialError(
            f"{name}: valid_m must be a pair [shortest, longest] of wavelengths in metres, "
            f"got {valid_m!r}"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        raise MaterialError(
            f"{name}: valid_m = [{lo!r}, {hi!r}] must be two finite wavelengths in metres with "
            "0 < shortest < longest"
        )
    return lo, hi


@dataclass(frozen=True)
class _Model:
    """What every material model has: a name and its validity range in metres."""

    name: str
    valid_m: tuple[float, float]

    def _formula(self, wavelength_um: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def index(self, wavelength_m: float) -> float:
        """n(λ); a `MaterialError` for a wavelength outside ``valid_m`` or a non-physical n."""
        lam = float(wavelength_m)
        lo, hi = self.valid_m
        if not (math.isfinite(lam) and lo <= lam <= hi):
            raise MaterialError(
                f"wavelength {_nm(lam) if math.isfinite(lam) else repr(lam)} is outside the "
                f"validity range of the {self.name} model: {_range_text(self.valid_m)} "
                f"({_nm(lo)} to {_nm(hi)})"
            )
        n = self._formula(lam / _UM)
        if not (math.isfinite(n) and n > 1):
            raise MaterialError(
                f"the {self.name} model gives n({_nm(lam)}) = {n!r}: an etched phase element "
                "needs n > 1 (n − 1 is the optical path per unit height)"
            )
        return n


@dataclass(frozen=True)
class Sellmeier(_Model):
    """n² − 1 = Σᵢ Bᵢ·λ²/(λ² − Cᵢ), λ in µm; ``c_um2`` = (C₁, C₂, …) in µm²."""

    b: tuple[float, ...] = ()
    c_um2: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "valid_m", _check_range(self.valid_m, self.name))
        b, c = tuple(float(v) for v in self.b), tuple(float(v) for v in self.c_um2)
        if not b or len(b) != len(c) or not all(map(math.isfinite, b + c)):
            raise MaterialError(
                f"{self.name}: a Sellmeier model needs as many finite b as c_um2 terms (≥ 1), "
                f"got b = {self.b!r}, c_um2 = {self.c_um2!r}"
            )
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "c_um2", c)

    def _formula(self, wavelength_um: float) -> float:
        l2 = wavelength_um**2
        return math.sqrt(1 + sum(b * l2 / (l2 - c) for b, c in zip(self.b, self.c_um2)))

    def spec(self) -> dict[str, Any]:
        return {"model": "sellmeier", "name": self.name, "b": list(self.b),
                "c_um2": list(self.c_um2), "valid_m": list(self.valid_m)}  # fmt: skip


@dataclass(frozen=True)
class Cauchy(_Model):
    """n = a + b_um2/λ² + c_um4/λ⁴, λ in µm."""

    a: float = 1.5
    b_um2: float = 0.0
    c_um4: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "valid_m", _check_range(self.valid_m, self.name))
        coeffs = tuple(float(v) for v in (self.a, self.b_um2, self.c_um4))
        if not all(map(math.isfinite, coeffs)):
            raise MaterialError(f"{self.name}: Cauchy coefficients must be finite, got {coeffs}")
        for field, value in zip(("a", "b_um2", "c_um4"), coeffs):
            object.__setattr__(self, field, value)

    def _formula(self, wavelength_um: float) -> float:
        return self.a + self.b_um2 / wavelength_um**2 + self.c_um4 / wavelength_um**4

    def spec(self) -> dict[str, Any]:
        return {"model": "cauchy", "name": self.name, "a": self.a, "b_um2": self.b_um2,
                "c_um4": self.c_um4, "valid_m": list(self.valid_m)}  # fmt: skip


Material = Sellmeier | Cauchy

#: Malitson (1965), fused silica at 20 °C, valid 0.21–3.71 µm (module docstring)
FUSED_SILICA = Sellmeier(
    name="fused silica Sellmeier (Malitson 1965)",
    valid_m=(0.21e-6, 3.71e-6),
    b=(0.6961663, 0.4079426, 0.8974794),
    c_um2=(0.0684043**2, 0.1162414**2, 9.896161**2),
)
#: the materials a config names by a string
MATERIALS: dict[str, Material] = {"fused_silica": FUSED_SILICA}


def material_from_spec(spec: Material | str | Mapping[str, Any] | Any) -> Material:
    """A material from a name in `MATERIALS`, a model itself, or a mapping (or an object with
    ``model_dump``, e.g. a config section) ``{model: sellmeier | cauchy, ...}``."""
    if isinstance(spec, (Sellmeier, Cauchy)):
        return spec
    if isinstance(spec, str):
        if spec not in MATERIALS:
            raise MaterialError(f"material {spec!r} is not known: use one of {sorted(MATERIALS)}")
        return MATERIALS[spec]
    if hasattr(spec, "model_dump"):
        spec = spec.model_dump()
    if not isinstance(spec, Mapping):
        raise MaterialError(f"material must be a name or a mapping, got {spec!r}")
    fields = dict(spec)
    model = fields.pop("model", None)
    fields.setdefault("name", f"{model} model")
    kinds = {"sellmeier": Sellmeier, "cauchy": Cauchy}
    if model not in kinds:
        raise MaterialError(f"material model {model!r} is not known: use sellmeier or cauchy")
    try:
        if "valid_m" in fields:
            fields["valid_m"] = tuple(fields["valid_m"])
        return kinds[model](**fields)
    except TypeError as err:
        raise MaterialError(f"material {dict(spec)!r}: {err}") from None


def dispersion_scale(material: Material, wavelength_m: float, design_wavelength_m: float) -> float:
    """α(λ) = (n(λ) − 1)/(n(λ₀) − 1) · λ₀/λ: the phase at λ of an element etched for λ₀;
    exactly 1.0 at λ = λ₀ (the model is then not evaluated)."""
    lam, lam0 = float(wavelength_m), float(design_wavelength_m)
    if lam == lam0:
        return 1.0
    return (material.index(lam) - 1) / (material.index(lam0) - 1) * lam0 / lam


__all__ = [
    "Cauchy",
    "FUSED_SILICA",
    "MATERIALS",
    "Material",
    "MaterialError",
    "Sellmeier",
    "dispersion_scale",
    "material_from_spec",
]
