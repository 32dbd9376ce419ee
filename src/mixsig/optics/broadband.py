"""The camera-plane PSF of a phase mask under a `PSFModel`: pixelated DOE, broadband source.

Owns `model_psf` (what `mixsig.optics.synthesis.realised_psf` and so the layer compute) and
`line_psf` (one wavelength). For a model with lines (λᵢ, wᵢ, αᵢ) (`PSFModel.lines`):

    PSF = Σᵢ wᵢ · PSF_λᵢ(αᵢ·φ),    αᵢ = (n(λᵢ) − 1)/(n(λ₀) − 1)·λ₀/λᵢ,

the incoherent sum over the lines, each the intensity of the DOE whose phase is the physical
phase delay φ at λ₀ (the etched phase, on its levels, times the etch scale) scaled by the
dispersion. PSF_λ is `fraunhofer_psf` at λ (M = Q·N samples of pitch λf/(M·Δu)) taken onto the
camera pixels of the design wavelength by `mixsig.optics.resample` — the exact pixel integral
(``method="exact"``) or the midpoint rule (``"sum"``) of the band-limited intensity times the
pixel envelope sinc²(ff·x·Δu/(λf))·sinc²(ff·y·Δu/(λf)) when ``pixel_envelope`` — computed for
all lines at once (one batched FFT, two batched matrix products), then summed, so a layer
convolves its images once with the summed PSF.

Where the plane is computed (``box``: camera-pixel offsets ((y0, y1), (x0, x1)) from the axis,
inclusive; None: the J × J window of the design sampling):

* pixelated (``pixel_envelope``): over the box itself, which may extend past the window
  λ₀f/Δu: the far field there is the periodic replica of the window's (a higher diffraction
  order of the pixel grid), weighted by the envelope at its true position — the higher orders
  fall where they fall, as on the camera;
* point-sampled: over the window only, zero outside (`take_box`), as before the envelope
  existed (its replicas would be as bright as the window: a point-sampled DOE is an
  idealisation); point-sampled and monochromatic at λ₀ is computed by `camera_psf` exactly as
  then (bitwise).

Coherent (|√x ∗ h_c|²): the field h_c, monochromatic only (a broadband source is incoherent:
refused), sampled at the camera pixels (pool 1) over the window or, pixelated, over the box
(the field repeats with period M samples; the field envelope is sinc, unsquared).
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from mixsig.optics.doe import transmission
from mixsig.optics.orders import check_orders, order_clearance
from mixsig.optics.propagation import camera_psf, fraunhofer_psf
from mixsig.optics.psf_model import PSFModel, PSFModelError
from mixsig.optics.resample import pixel_operator, resample
from mixsig.optics.sampling import FourierSampling
from mixsig.optics.tiles import Box, TileLayout, take_box


def window_box(sampling: FourierSampling) -> Box:
    """The J × J camera window as a box of offsets from the axis (pixel J//2 on the axis)."""
    j = sampling.camera_pixels
    span = (-(j // 2), j - 1 - j // 2)
    return span, span


def model_psf(
    phase_rad: Tensor,
    sampling: FourierSampling,
    model: PSFModel | None = None,
    *,
    method: str = "exact",
    coherent: bool = False,
    box: Box | None = None,
    windows: TileLayout | None = None,
) -> Tensor:
    """The camera-plane PSF of the phase delay ``phase_rad`` (N × N, at λ₀) under ``model``
    (default `PSFModel()`: pixelated, fill factor 1, monochromatic), over the window (J × J)
    or ``box`` (module docstring), or only the K kernel windows (K, k, k) of the layout
    ``windows`` (`TileLayout.extract`; pixelated or broadband, computed on their rows and
    columns alone): intensity, or with ``coherent`` the complex field."""
    model = PSFModel() if model is None else model
    if box is not None and windows is not None:
        raise ValueError("give a box or the windows of a layout, not both")
    lam0 = sampling.wavelength_m
    if coherent:
        if not model.monochromatic(lam0):
            raise PSFModelError(
                f"a coherent PSF needs a monochromatic source at the design wavelength "
                f"{lam0 * 1e9:.6g} nm, the model has {model.describe()}: a broadband source "
                "is incoherent (use coherent=False)"
            )
        plane = _coherent_field(phase_rad, sampling, model, box)
    elif not model.pixel_envelope and model.monochromatic(lam0):  # as before the envelope
        plane = camera_psf(transmission(phase_rad), sampling, method=method)
    elif windows is not None:
        rows, cols, (at_r, at_c) = _window_pixels(windows)
        sub = _lines_psf(phase_rad, sampling, model, method, rows, cols)
        at_r, at_c = at_r.to(sub.device), at_c.to(sub.device)
        return sub[..., at_r[:, :, None], at_c[:, None, :]]
    else:
        (y0, y1), (x0, x1) = box if (model.pixel_envelope and box) else window_box(sampling)
        rows, cols = tuple(range(y0, y1 + 1)), tuple(range(x0, x1 + 1))
        plane = _lines_psf(phase_rad, sampling, model, method, rows, cols)
    if box is not None and not model.pixel_envelope:
        plane = take_box(plane, box)
    return plane if windows is None else windows.extract(plane)


def line_psf(
    phase_rad: Tensor,
    sampling: FourierSampling,
    wavelength_m: float,
    phase_scale: float = 1.0,
    *,
    fill_factor: float | None = 1.0,
    method: str = "exact",
    box: Box | None = None,
) -> Tensor:
    """The intensity PSF of one line: the DOE phase ``phase_scale``·φ at ``wavelength_m``, on
    the design camera pixels of ``box`` (default the window), with the envelope of
    ``fill_factor`` (None: point-sampled, periodic beyond the window)."""
    phase = phase_rad if phase_scale == 1.0 else phase_rad * phase_scale
    intensity = fraunhofer_psf(transmission(phase), sampling.oversample)
    (y0, y1), (x0, x1) = window_box(sampling) if box is None else box
    rows, cols = _operators(
        sampling, (wavelength_m,), method, fill_factor, range(y0, y1 + 1), range(x0, x1 + 1),
        intensity,
    )  # fmt: skip
    return resample(intensity, rows[0], cols[0])


@functools.lru_cache(maxsize=64)
def _window_pixels(layout: TileLayout) -> tuple[tuple, tuple, tuple[Tensor, Tensor]]:
    """The camera rows and columns (offsets from the axis) the K windows cover, and where each
    window's rows and columns (K, k) sit in them."""
    d = torch.tensor(layout.offsets_px)
    a = torch.arange(layout.kernel_size) - layout.kernel_size // 2
    out = []
    for axis in (0, 1):
        offsets = d[:, axis, None] + a  # (K, k)
        unique = torch.unique(offsets)  # sorted
        out.append((tuple(unique.tolist()), torch.searchsorted(unique, offsets)))
    (rows, at_r), (cols, at_c) = out
    return rows, cols, (at_r, at_c)


def _lines_psf(
    phase_rad: Tensor,
    sampling: FourierSampling,
    model: PSFModel,
    method: str,
    rows: tuple[int, ...],
    cols: tuple[int, ...],
) -> Tensor:
    """Σᵢ wᵢ·PSF_λᵢ on the camera ``rows`` × ``cols`` (offsets from the axis), all lines in one
    batch (module docstring)."""
    lines = model.lines(sampling.wavelength_m)
    scales = torch.tensor([ln.phase_scale for ln in lines], dtype=phase_rad.dtype)
    scales = scales.to(phase_rad.device)
    if len(lines) == 1 and lines[0].phase_scale == 1.0:
        phases = phase_rad[None]  # the design wavelength alone: φ itself, unscaled
    else:
        phases = phase_rad[None] * scales[:, None, None]
    # |DFT|² of the DOE zero-padded to M × M at the corner: the intensity of `fraunhofer_psf`
    # (a shift of the DOE is a phase of the field) in FFT order, unnormalised
    m, n = sampling.fft_size, sampling.doe_pixels
    field = torch.fft.fft2(transmission(phases), s=(m, m))
    intensity = field.real**2 + field.imag**2  # (S, M, M)
    fill = model.fill_factor if model.pixel_envelope else None
    lams = tuple(ln.wavelength_m for ln in lines)
    rows, cols = _operators(sampling, lams, method, fill, rows, cols, intensity)
    norm = [ln.weight / (m * m * n * n) for ln in lines]  # Σ h_I = η (`fraunhofer_psf`)
    weights = torch.tensor(norm, dtype=intensity.dtype, device=intensity.device)
    rows = torch.fft.ifftshift(rows * weights[:, None, None], dim=-1)  # columns in FFT order
    cols = torch.fft.ifftshift(cols, dim=-1)
    return resample(intensity, rows, cols).sum(dim=0)


def _operators(
    sampling: FourierSampling,
    wavelengths_m: tuple[float, ...],
    method: str,
    fill_factor: float | None,
    rows: tuple[int, ...] | range,
    cols: tuple[int, ...] | range,
    like: Tensor,
) -> tuple[Tensor, Tensor]:
    """The row and column operators (S, R, M), (S, C, M) of each line (`pixel_operator`)."""
    n, m, pool = sampling.doe_pixels, sampling.fft_size, sampling.pool
    args = dict(method=method, fill_factor=fill_factor, dtype=like.dtype, device=like.device)
    out_rows, out_cols = [], []
    for lam in wavelengths_m:
        scale = sampling.wavelength_m / lam
        out_rows.append(pixel_operator(n, m, pool, tuple(rows), scale, **args))
        out_cols.append(pixel_operator(n, m, pool, tuple(cols), scale, **args))
    return torch.stack(out_rows), torch.stack(out_cols)


def _coherent_field(
    phase_rad: Tensor, sampling: FourierSampling, model: PSFModel, box: Box | None
) -> Tensor:
    """h_c at the camera pixels (pool 1): the window, or pixelated the box with the field
    envelope sinc(ff·x·Δu/(λf)) at the true positions (the field is M-periodic)."""
    t = transmission(phase_rad)
    q = sampling.oversample
    if not model.pixel_envelope:  # as before the envelope existed
        return fraunhofer_psf(t, q, coherent=True, offset_px=sampling.sim_offset_px)
    if sampling.pool != 1:
        raise PSFModelError(
            f"a coherent PSF is sampled, not pixel-integrated: it needs camera pitch = "
            f"simulation pitch (pool 1), got pool {sampling.pool}; use camera_pitch_m=None"
        )
    field = fraunhofer_psf(t, q, coherent=True)
    m = sampling.fft_size
    (y0, y1), (x0, x1) = window_box(sampling) if box is None else box
    out = field
    for axis, (lo, hi) in ((-2, (y0, y1)), (-1, (x0, x1))):
        offsets = torch.arange(lo, hi + 1, device=field.device)
        env = torch.sinc(model.fill_factor * offsets.to(field.real.dtype) / m)
        shape = (-1, 1) if axis == -2 else (1, -1)
        out = out.index_select(axis, (m // 2 + offsets) % m) * env.reshape(shape)
    return out


def _order_scales(model: PSFModel, sampling: FourierSampling) -> tuple[float, ...]:
    lo, hi = model.scale_range(sampling.wavelength_m)
    return tuple(sorted({lo, 1.0, hi}))


def orders_modelled(model: PSFModel, *, crosstalk: bool) -> bool:
    """Whether a layer with ``crosstalk`` under ``model`` computes the higher orders wherever a
    channel can see them: the visible box, computed over its whole extent, of a pixelated DOE."""
    return crosstalk and model.pixel_envelope


def layout_orders_clear(
    layout: TileLayout, sampling: FourierSampling, model: PSFModel, *, crosstalk: bool
) -> bool:
    """`check_layout_orders` without the error: True when it would pass (a line outside the
    material's range still raises)."""
    model.lines(sampling.wavelength_m)
    if orders_modelled(model, crosstalk=crosstalk):
        return True
    scales = _order_scales(model, sampling)
    return order_clearance(layout, sampling, scales).px >= 0


def check_layout_orders(
    layout: TileLayout, sampling: FourierSampling, model: PSFModel, *, crosstalk: bool
) -> None:
    """Refuse (`check_orders`, with the numbers) a layout in which a higher order of a kernel
    window reaches a channel at the shortest or longest wavelength of ``model``, unless the
    layer computes them there (`orders_modelled`). At λ₀ alone every layout that fits its
    window passes (`mixsig.optics.orders`). Checks the lines' material range first."""
    model.lines(sampling.wavelength_m)  # a `MaterialError` for a line outside its range
    if not orders_modelled(model, crosstalk=crosstalk):
        check_orders(layout, sampling, _order_scales(model, sampling))


__all__ = [
    "check_layout_orders",
    "layout_orders_clear",
    "line_psf",
    "model_psf",
    "orders_modelled",
    "window_box",
]
