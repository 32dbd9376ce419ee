"""DOE physics: height ↔ phase, wrapping, fabrication quantization and errors, apertures.

Owns the description of the diffractive optical element itself (design §3), before any
propagation: the phase φ = 2π(n(λ) − 1)h/λ of an etched height h, its wrapping to [0, 2π),
quantization to the L fabricated levels (straight-through gradient), the etch-depth /
wavelength error φ → α·φ, the fabricated phase the optics use (`fabricated_phase`), amplitude
apertures, linear phase ramps that steer the PSF, test
gratings, and `transmission` t = A·exp(iφ).

Grid convention (shared with `mixsig.optics.propagation`): an N-pixel axis has its centre at
index N // 2 (the `torch.fft.fftshift` convention), pixel n at u = (n − N//2)·Δu. Arrays are
indexed [..., row, column] = [..., y, x]. A square aperture of odd width is symmetric about the
centre pixel; one of even width w covers pixels N//2 − w//2 … N//2 + w//2 − 1 (half a pixel
towards lower indices: a linear phase in the field, no change in the intensity). A circular
aperture is centred on the centre pixel for any diameter.

Everything is differentiable in torch where a gradient makes sense (phases); masks are float
tensors of ``dtype`` (default: torch's default dtype).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

TWO_PI = 2 * math.pi

RefractiveIndex = float | Callable[[float], float]


def _index(n: RefractiveIndex, wavelength_m: float) -> float:
    if not wavelength_m > 0:
        raise ValueError(f"wavelength_m must be > 0, got {wavelength_m!r}")
    value = float(n(wavelength_m)) if callable(n) else float(n)
    if not value > 1:
        raise ValueError(
            f"refractive index n(λ = {wavelength_m:g} m) = {value} must be > 1 for an etched "
            "phase element (n − 1 is the optical path per unit height)"
        )
    return value


def height_to_phase(h_m: Tensor, wavelength_m: float, n: RefractiveIndex) -> Tensor:
    """φ = 2π(n(λ) − 1)·h/λ (unwrapped) for heights h in metres; n a float or a callable n(λ)."""
    return h_m * (TWO_PI * (_index(n, wavelength_m) - 1) / wavelength_m)


def phase_to_height(phi: Tensor, wavelength_m: float, n: RefractiveIndex) -> Tensor:
    """h = φ·λ/(2π(n(λ) − 1)): the height (metres) that gives phase φ at wavelength λ."""
    return phi * (wavelength_m / (TWO_PI * (_index(n, wavelength_m) - 1)))


def wrap_phase(phi: Tensor) -> Tensor:
    """φ mod 2π in [0, 2π) (gradient 1)."""
    wrapped = torch.remainder(phi, TWO_PI)
    # remainder may round a tiny negative φ up to exactly 2π in floating point
    return torch.where(wrapped >= TWO_PI, wrapped - TWO_PI, wrapped)


def quantize_phase(phi: Tensor, levels: int, ste: bool = True) -> Tensor:
    """Round φ to the nearest of the L levels 2πk/L (k = 0…L−1) on the circle.

    Values within half a step below 2π round to level 0. With ``ste`` the gradient is the
    identity (straight-through estimator); without it the result carries no gradient.
    """
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2:
        raise ValueError(f"levels must be an integer ≥ 2, got {levels!r}")
    step = TWO_PI / levels
    k = torch.remainder(torch.round(wrap_phase(phi.detach()) / step), levels)
    q = k * step
    if ste:
        return phi + (q - phi).detach()
    return q


def phase_scale(phi: Tensor, alpha: float | Tensor) -> Tensor:
    """Etch-depth or wavelength error: φ → α·φ, α = (n(λ) − 1)·h_real / ((n(λ₀) − 1)·h_design)
    · λ₀/λ (an etch depth off by x, relative, gives α = 1 + x).

    Apply it to the fabricated (wrapped, [0, 2π)) phase: a depth error scales the etched
    heights, so it scales the wrapped phase, and a blazed profile then puts sinc²(m − α) of the
    light into order m.
    """
    return phi * alpha


def fabricated_phase(
    phase: Tensor, levels: int | None, etch_scale: float = 1.0, *, wrap: bool = False
) -> Tensor:
    """The phase the optics use: φ_fab, ``phase`` through the STE quantizer on ``levels``
    (None: continuous, unchanged), scaled by the etch scale α (`phase_scale`; a continuous
    phase is wrapped to [0, 2π) first, as etched, and also at α = 1 with ``wrap``: the physical
    phase delay that a broadband source's dispersion scales). At α = 1 (no ``wrap``) exactly
    φ_fab."""
    phi = quantize_phase(phase, levels) if levels else phase
    if etch_scale == 1.0 and not (wrap and not levels):
        return phi
    if not levels:
        phi = wrap_phase(phi)
    return phi if etch_scale == 1.0 else phase_scale(phi, etch_scale)


def transmission(phase: Tensor, amplitude: Tensor | None = None) -> Tensor:
    """Complex transmission t = A·exp(iφ) (A = 1 when ``amplitude`` is None)."""
    t = torch.complex(torch.cos(phase), torch.sin(phase))
    return t if amplitude is None else t * amplitude


def _coords(n: int, dtype: torch.dtype | None, device: torch.device | str | None) -> Tensor:
    """Pixel coordinates n − N//2 of an N-pixel centred axis."""
    return torch.arange(n, dtype=dtype or torch.get_default_dtype(), device=device) - n // 2


def _check_size(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the grid size must be a positive integer, got {n!r}")


def square_aperture(
    n: int,
    width_px: int,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """An n × n mask, 1 on a centred width_px × width_px square of pixels, 0 elsewhere."""
    _check_size(n)
    if isinstance(width_px, bool) or not isinstance(width_px, int) or not 1 <= width_px <= n:
        raise ValueError(f"width_px must be an integer in [1, {n}], got {width_px!r}")
    start = n // 2 - width_px // 2
    line = torch.zeros(n, dtype=dtype or torch.get_default_dtype(), device=device)
    line[start : start + width_px] = 1
    return line[:, None] * line[None, :]


def circular_aperture(
    n: int,
    diameter_px: float,
    *,
    supersample: int = 1,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """An n × n mask of a disc of diameter ``diameter_px`` centred on pixel (n//2, n//2).

    With ``supersample`` s > 1 each pixel holds the fraction of its s × s sub-samples inside
    the disc (an area-weighted, anti-aliased edge); s = 1 thresholds the pixel centres.
    """
    _check_size(n)
    if not 0 < diameter_px <= n:
        raise ValueError(f"diameter_px must be in (0, {n}], got {diameter_px!r}")
    if isinstance(supersample, bool) or not isinstance(supersample, int) or supersample < 1:
        raise ValueError(f"supersample must be an integer ≥ 1, got {supersample!r}")
    dtype = dtype or torch.get_default_dtype()
    sub = (torch.arange(supersample, dtype=dtype, device=device) + 0.5) / supersample - 0.5
    pos = (_coords(n, dtype, device)[:, None] + sub[None, :]).reshape(-1)  # (n·s,)
    inside = (pos[:, None] ** 2 + pos[None, :] ** 2) <= (diameter_px / 2) ** 2
    inside = inside.to(dtype).reshape(n, supersample, n, supersample)
    return inside.mean(dim=(1, 3))


def gaussian_aperture(
    n: int,
    waist_px: float,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """An n × n amplitude mask exp(−r²/w²) (w = ``waist_px``) centred on pixel (n//2, n//2)."""
    _check_size(n)
    if not waist_px > 0:
        raise ValueError(f"waist_px must be > 0, got {waist_px!r}")
    r = _coords(n, dtype, device)
    return torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / waist_px**2)


def blazed_grating(
    n: int,
    period_px: float,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """An n × n sawtooth phase 2π·frac((j + ½)/P) along x (columns), constant along y.

    The continuous sawtooth starts at the left edge of column 0 and is sampled at the pixel
    centres, so quantizing it (`quantize_phase`) with P a multiple of 2L gives L equal steps.
    A grating of period P pixels sends its first order to +M/P sim pixels (x > 0).
    """
    _check_size(n)
    if not period_px > 0:
        raise ValueError(f"period_px must be > 0, got {period_px!r}")
    j = torch.arange(n, dtype=dtype or torch.get_default_dtype(), device=device) + 0.5
    row = TWO_PI * torch.remainder(j / period_px, 1.0)
    return row[None, :].expand(n, n).clone()


def phase_ramp(
    n: int,
    shift_m: tuple[float, float],
    *,
    wavelength_m: float,
    focal_length_m: float,
    pitch_m: float,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """The linear phase φ(u) = 2π(u_y·d_y + u_x·d_x)/(λf) that moves the PSF by d = (d_y, d_x).

    u = (index − n//2)·pitch on the DOE; d in metres on the camera plane (d = λf·∇φ/2π).
    Not wrapped (wrap it for fabrication).
    """
    _check_size(n)
    u = _coords(n, dtype, device) * pitch_m
    k = TWO_PI / (wavelength_m * focal_length_m)
    d_y, d_x = shift_m
    return k * (u[:, None] * d_y + u[None, :] * d_x)
