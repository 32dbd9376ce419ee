"""Propagation: the Fraunhofer PSF of a DOE in a 4f system, camera pixels, and the ASM.

Owns the wave optics of design §3 (scalar, monochromatic), all in `torch.fft`, differentiable,
with any batch dimensions in front of the last two (row = y, column = x):

* `centered_fft2` / `four_f`: the centred (optical-axis-at-index-M//2), unitary Fourier
  transform and the coherent 4f system built from two of them.
* `fraunhofer_psf`: zero-pad the DOE transmission t (N × N) to M = Q·N and transform: the
  camera-plane field h_c and the incoherent PSF h_I = |h_c|².
* `sinc_envelope`: the pixel-aperture envelope of a pixelated DOE.
* `sum_pool`, `pixel_integrate`, `camera_psf`: simulation samples → camera pixels.
* `angular_spectrum`, `asm_transfer`: band-limited angular-spectrum propagation over z.

Conventions. The optical axis is at index M//2 on every centred M-sample axis; a sample index k
is at x = (k − M//2 + o)·Δx with Δx = λf/(M·Δu) (o = ``offset_px``, 0 by default). The Fourier
lens uses the forward kernel exp(−i2π·x·u/(λf)), so a DOE phase ramp 2π·u·d/(λf) moves the PSF
to +d (larger index). Normalisation: h_c = FFT(t)/(M·N), so Σ|h_c|² = Σ h_I = η = Σ|t|²/N²
(Parseval): a lossless phase mask gives Σ h_I = 1; an aperture gives its open fraction. h_I is
the fraction of the light through the N·Δu × N·Δu DOE square that reaches each sample (for the
point-sampled DOE; `sinc_envelope` adds the pixel aperture).

The 4f system images the input point-reflected: a point source at input x0 produces the PSF
(as returned here, unflipped) centred at −x0 on the camera. Hence the camera image *read out
point-reflected* (both axes flipped about the centre) is the cross-correlation of the input
with h_I, i.e. ``torch.nn.functional.conv2d(input, weight=h_I)``: the two flips (4f inversion,
conv2d being a correlation) cancel. `mixsig.optics.fftconv.fft_convolve` is a true convolution
and equals that readout with ``flip(h_I)`` (see the tests).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mixsig.optics.sampling import FourierSampling

_DIMS = (-2, -1)


def centered_fft2(x: Tensor, *, inverse: bool = False) -> Tensor:
    """Unitary 2-D DFT over the last two dims with the zero frequency at index size//2."""
    x = torch.fft.ifftshift(x, dim=_DIMS)
    x = (torch.fft.ifft2 if inverse else torch.fft.fft2)(x, dim=_DIMS, norm="ortho")
    return torch.fft.fftshift(x, dim=_DIMS)


def four_f(field: Tensor, mask: Tensor) -> Tensor:
    """Coherent 4f system: FFT to the Fourier plane, multiply by ``mask``, FFT again.

    ``field`` and ``mask`` are M × M on centred grids (pad a DOE with `pad_center`). Both lenses
    use the forward transform, so a flat mask returns the point reflection of the input about
    index M//2 (periodic: for even M row 0 maps to itself): out[k] = in[(2·(M//2) − k) mod M].
    """
    return centered_fft2(mask * centered_fft2(field))


def pad_center(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Zero-pad the last two dims to ``size`` keeping index n//2 at index size//2."""
    n1, n2 = x.shape[-2:]
    m1, m2 = size
    if m1 < n1 or m2 < n2:
        raise ValueError(f"cannot pad {n1}×{n2} to the smaller {m1}×{m2}")
    top, left = m1 // 2 - n1 // 2, m2 // 2 - n2 // 2
    return torch.nn.functional.pad(x, (left, m2 - n2 - left, top, m1 - n1 - top))


def crop_center(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Inverse of `pad_center`: the size[0] × size[1] block around index M//2."""
    m1, m2 = x.shape[-2:]
    n1, n2 = size
    top, left = m1 // 2 - n1 // 2, m2 // 2 - n2 // 2
    return x[..., top : top + n1, left : left + n2]


def _check_oversample(oversample: int) -> None:
    if isinstance(oversample, bool) or not isinstance(oversample, int) or oversample < 2:
        raise ValueError(
            f"oversample Q = {oversample!r}: the intensity PSF has twice the field bandwidth: "
            "use an integer oversample ≥ 2"
        )


def _offset_ramp(
    shape: tuple[int, int], fft_shape: tuple[int, int], offset_px: float, like: Tensor
) -> Tensor:
    """exp(−i2π·o·(n − N//2)/M) per axis: evaluates the far field at x shifted by +o samples."""
    ramp = None
    for axis, (n, m) in enumerate(zip(shape, fft_shape)):
        u = torch.arange(n, dtype=like.real.dtype, device=like.device) - n // 2
        angle = (-2 * math.pi * offset_px / m) * u
        line = torch.complex(torch.cos(angle), torch.sin(angle))
        line = line[:, None] if axis == 0 else line[None, :]
        ramp = line if ramp is None else ramp * line
    return ramp


def fraunhofer_psf(
    transmission: Tensor,
    oversample: int,
    *,
    coherent: bool = False,
    offset_px: float = 0.0,
    pixel_envelope: bool = False,
    fill_factor: float = 1.0,
) -> Tensor:
    """The camera-plane PSF of a DOE in the Fourier plane of a 4f system.

    Args:
        transmission: (..., N1, N2) complex (or real amplitude) DOE transmission t = A·exp(iφ).
        oversample: Q ≥ 2; the result has (Q·N1) × (Q·N2) samples of pitch λf/(Q·N·Δu).
        coherent: return the field h_c (complex) instead of the intensity h_I = |h_c|².
        offset_px: sample the camera plane at x_k = (k − M//2 + o)·Δx (see
            `FourierSampling.sim_offset_px`); exact for any real o (a DOE phase ramp).
        pixel_envelope: multiply by the pixel-aperture envelope (`sinc_envelope`): the far field
            of square DOE pixels of side ``fill_factor``·Δu, rather than of point samples.

    Returns:
        h_I (real, ≥ 0, Σ = η = Σ|t|²/N² without envelope) or h_c (Σ|h_c|² = η), optical axis
        at index M//2.
    """
    _check_oversample(oversample)
    if not torch.is_complex(transmission):
        transmission = transmission.to(
            torch.complex128 if transmission.dtype == torch.float64 else torch.complex64
        )
    n1, n2 = transmission.shape[-2:]
    m1, m2 = oversample * n1, oversample * n2
    t = transmission
    if offset_px != 0:
        t = t * _offset_ramp((n1, n2), (m1, m2), offset_px, t)
    field = torch.fft.fftshift(
        torch.fft.fft2(torch.fft.ifftshift(pad_center(t, (m1, m2)), dim=_DIMS), dim=_DIMS),
        dim=_DIMS,
    ) / math.sqrt(m1 * m2 * n1 * n2)
    if pixel_envelope:  # sinc on the field = sinc² on the intensity
        real = field.real.dtype
        env = sinc_envelope(
            (m1, m2), offset_px=offset_px, fill_factor=fill_factor, field=True, dtype=real
        )
        field = field * env.to(field.device)
    if coherent:
        return field
    return field.real**2 + field.imag**2


def sinc_envelope(
    shape: tuple[int, int],
    *,
    offset_px: float = 0.0,
    fill_factor: float = 1.0,
    field: bool = False,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Pixel-aperture envelope of a pixelated DOE on the M1 × M2 camera-plane grid.

    A DOE of square pixels (side ``fill_factor``·Δu) is the point-sampled DOE convolved with the
    pixel, so its far field is the DFT (what `fraunhofer_psf` computes) times the pixel's
    transform sinc(x·ff·Δu/(λf))·sinc(y·ff·Δu/(λf)); on the grid x·Δu/(λf) = (k − M//2 + o)/M.
    Returns that product squared (multiplies h_I) or, with ``field``, unsquared (multiplies
    h_c). It falls to sinc²(½) = 0.405 at the window edge; the light it removes goes to the
    higher orders of the pixel grid, outside the window.
    """
    if not 0 < fill_factor <= 1:
        raise ValueError(f"fill_factor must be in (0, 1], got {fill_factor!r}")
    dtype = dtype or torch.get_default_dtype()
    lines = []
    for m in shape:
        k = torch.arange(m, dtype=dtype, device=device) - m // 2 + offset_px
        lines.append(torch.sinc(k * (fill_factor / m)))
    env = lines[0][:, None] * lines[1][None, :]
    return env if field else env**2


def _check_factor(factor: int, shape: tuple[int, int]) -> None:
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor must be an integer ≥ 1, got {factor!r}")
    if shape[0] % factor or shape[1] % factor:
        raise ValueError(
            f"sum_pool: the last two dims {tuple(shape)} are not multiples of factor {factor}; "
            f"crop to {shape[0] // factor * factor}×{shape[1] // factor * factor} first"
        )


def sum_pool(psf: Tensor, factor: int) -> Tensor:
    """Exact sum over factor × factor blocks of the last two dims (block j = [j·f, (j+1)·f)).

    Sums (not means), so Σ is preserved: simulation samples → camera pixels. This is the
    midpoint rule for the pixel integral, with a relative error ≈ (π·ν·Δx)²/6 for an intensity
    harmonic of frequency ν (up to (π/Q)²/6 at the PSF's band edge); `pixel_integrate` is exact.
    """
    m1, m2 = psf.shape[-2:]
    _check_factor(factor, (m1, m2))
    if factor == 1:
        return psf
    lead = psf.shape[:-2]
    blocks = psf.reshape(*lead, m1 // factor, factor, m2 // factor, factor)
    return blocks.sum(dim=(-3, -1))


def pixel_integrate(psf: Tensor, factor: int) -> Tensor:
    """Exact camera-pixel integrals of a band-limited intensity sampled with Q ≥ 2.

    ``psf`` holds M1 × M2 samples (axis at index M//2, offset 0) of an intensity that is a
    trigonometric polynomial of the window (true for `fraunhofer_psf` without envelope: its
    harmonics |m| ≤ N − 1 < M/2). The result is J = M // factor camera pixels of width
    factor·Δx, pixel J//2 centred on the axis, each the integral of the intensity over the
    pixel divided by Δx — the same normalisation as `sum_pool` (Σ preserved when factor | M),
    without its midpoint-rule error. Computed by the FFT: each harmonic m times
    factor·sinc(m·factor/M).
    """
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor must be an integer ≥ 1, got {factor!r}")
    m1, m2 = psf.shape[-2:]
    spectrum = torch.fft.fft2(torch.fft.ifftshift(psf, dim=_DIMS), dim=_DIMS)
    real = psf.dtype
    for axis, m in zip(_DIMS, (m1, m2)):
        freq = torch.fft.fftfreq(m, dtype=real, device=psf.device)  # m_index / M
        transfer = factor * torch.sinc(freq * factor)
        shape = (m, 1) if axis == -2 else (1, m)
        spectrum = spectrum * transfer.reshape(shape)
    smooth = torch.fft.fftshift(torch.fft.ifft2(spectrum, dim=_DIMS).real, dim=_DIMS)
    rows = _camera_indices(m1, factor, psf.device)
    cols = _camera_indices(m2, factor, psf.device)
    return smooth[..., rows[:, None], cols[None, :]]


def _camera_indices(m: int, factor: int, device: torch.device) -> Tensor:
    """Sim indices of the camera pixel centres: M//2 + (j − J//2)·factor, j < J = M // factor."""
    j = torch.arange(m // factor, device=device)
    return (m // 2 + (j - (m // factor) // 2) * factor) % m


def camera_psf(
    transmission: Tensor,
    sampling: FourierSampling,
    *,
    method: str = "exact",
    pixel_envelope: bool = False,
    fill_factor: float = 1.0,
) -> Tensor:
    """The PSF on camera pixels: (..., J, J) with pixel J//2 centred on the optical axis.

    ``method``: ``"exact"`` integrates the band-limited intensity over each camera pixel
    (`pixel_integrate`, exact for any Q ≥ 2); ``"sum"`` sum-pools Q·N samples laid out so that
    blocks of ``pool`` samples are camera pixels (`FourierSampling.sim_offset_px`) — the
    midpoint rule, converging as 1/Q². With ``pixel_envelope`` the DOE pixel envelope (pixels
    of side ``fill_factor``·Δu) is applied at the sample positions (``"sum"``) or at the camera
    pixel centres (``"exact"``: an approximation, 1.8e-3 relative L2 off for a random mask at
    the default sampling; `mixsig.optics.broadband.model_psf` integrates it exactly).
    """
    n = sampling.doe_pixels
    if tuple(transmission.shape[-2:]) != (n, n):
        raise ValueError(
            f"transmission is {tuple(transmission.shape[-2:])}, the sampling says {n}×{n}"
        )
    q, p, j = sampling.oversample, sampling.pool, sampling.camera_pixels
    if method == "sum":
        psf = fraunhofer_psf(
            transmission,
            q,
            offset_px=sampling.sim_offset_px,
            pixel_envelope=pixel_envelope,
            fill_factor=fill_factor,
        )
        return sum_pool(psf[..., : j * p, : j * p], p)
    if method == "exact":
        out = pixel_integrate(fraunhofer_psf(transmission, q), p)
        if pixel_envelope:
            m = sampling.fft_size
            idx = _camera_indices(m, p, out.device).to(out.dtype) - m // 2
            line = torch.sinc(fill_factor * idx / m) ** 2
            out = out * (line[:, None] * line[None, :])
        return out
    raise ValueError(f"method must be 'exact' or 'sum', got {method!r}")


def angular_spectrum(
    field: Tensor,
    dx_m: float,
    wavelength_m: float,
    z_m: float,
    *,
    band_limit: bool = True,
) -> Tensor:
    """Propagate a sampled complex field (..., H, W) of pitch ``dx_m`` over ``z_m``.

    Transfer function exp(i2πz·sqrt(1/λ² − fx² − fy²)); evanescent components (fx² + fy² >
    1/λ²) are set to 0 (for z ≠ 0; z = 0 is the identity). The field is zero-padded to 2H × 2W
    (centred) and cropped back, so the frequency step is Δf = 1/(2S) with S the unpadded width.
    ``band_limit`` applies the Matsushima–Shimobaba (2009) limit per axis,
    |f_x| ≤ 1/(λ·sqrt((2Δf_x·z)² + 1)) = 1/(λ·sqrt((z/S_x)² + 1)) (same for y), which removes
    the frequencies whose transfer-function phase is undersampled. Output dtype: complex128 for
    float64/complex128 input, complex64 otherwise.
    """
    if not dx_m > 0 or not wavelength_m > 0:
        raise ValueError(f"dx_m and wavelength_m must be > 0, got {dx_m!r}, {wavelength_m!r}")
    if not math.isfinite(z_m):
        raise ValueError(f"z_m must be finite, got {z_m!r}")
    if not torch.is_complex(field):
        field = field.to(torch.complex128 if field.dtype == torch.float64 else torch.complex64)
    h, w = field.shape[-2:]
    padded = pad_center(field, (2 * h, 2 * w))
    transfer = asm_transfer(
        (2 * h, 2 * w),
        dx_m,
        wavelength_m,
        z_m,
        band_limit=band_limit,
        dtype=field.dtype,
        device=field.device,
    )
    spectrum = torch.fft.fft2(torch.fft.ifftshift(padded, dim=_DIMS), dim=_DIMS)
    out = torch.fft.fftshift(torch.fft.ifft2(spectrum * transfer, dim=_DIMS), dim=_DIMS)
    return crop_center(out, (h, w))


def asm_transfer(
    shape: tuple[int, int],
    dx_m: float,
    wavelength_m: float,
    z_m: float,
    *,
    band_limit: bool = True,
    dtype: torch.dtype = torch.complex128,
    device: torch.device | str | None = None,
) -> Tensor:
    """The ASM transfer function on a (padded) grid of ``shape``, in FFT order (no shift).

    exp(i2πz·sqrt(1/λ² − fx² − fy²)) with f = `torch.fft.fftfreq`(size, dx); evanescent
    frequencies 0 (z ≠ 0); with ``band_limit`` also 0 where |f_x| or |f_y| exceeds
    1/(λ·sqrt((2Δf·z)² + 1)), Δf = 1/(size·dx) the step of this grid. Cache it to propagate
    many fields over the same z.
    """
    real = torch.empty((), dtype=dtype).real.dtype
    fy = torch.fft.fftfreq(shape[0], d=dx_m, dtype=real, device=device)[:, None]
    fx = torch.fft.fftfreq(shape[1], d=dx_m, dtype=real, device=device)[None, :]
    arg = 1 / wavelength_m**2 - fx**2 - fy**2
    kz = torch.sqrt(torch.clamp(arg, min=0))
    angle = (2 * math.pi * z_m) * kz
    transfer = torch.complex(torch.cos(angle), torch.sin(angle))
    if z_m == 0:
        return transfer  # exactly 1 everywhere: z = 0 is the identity
    keep = arg >= 0
    if band_limit:
        for f, n in ((fy, shape[0]), (fx, shape[1])):
            df = 1 / (n * dx_m)  # step of this (padded) grid: 1/(2S) for a field of width S
            limit = 1 / (wavelength_m * math.sqrt((2 * df * z_m) ** 2 + 1))
            keep = keep & (f.abs() <= limit)
    return transfer * keep.to(real)
