"""The optical convolution as functions: phase mask → PSF → OTF → camera channels.

Owns the functional core of design §3 (after Chang et al., Sci. Rep. 8, 12324, 2018), what
`mixsig.nn.OpticalConv2d` is a module over, as ``nn.Conv2d`` is over ``F.conv2d``: pure
functions of tensors, a `TileLayout` and a `FourierSampling`, differentiable w.r.t. the phase
or the kernels. The layer adds the parameters, the OTF cache and the camera chain.

Pipeline: `fabricated_phase` (`mixsig.optics.doe`, re-exported here: the phase the optics
use: L-level STE quantization, etch scale) → `realised_psf` (`mixsig.optics.synthesis`: the
camera-plane PSF of a `PSFModel` — pixel envelope, source spectrum —, or the coherent field)
→ `tile_psf` (`mixsig.optics.tiles`: the K tile windows, or the box all channels see)
→ `optical_transfer` (point reflection, real and imaginary parts stacked, `otf`, crops)
→ `optical_conv` (the convolution of intensities or fields, cropped per channel);
`optical_conv2d` is the whole convolution in one call. `window_energy` and
`spread_regularizer` measure how the light of a PSF is spread over the tile windows, and
`synthesize_tiles` fits a mask to a tiled kernel bank.

Conventions (camera pixels = input pixels, magnification 1):

* Channel t equals ``conv2d(x, weight=h_t)`` — a cross-correlation, like ``F.conv2d`` — where
  h_t is the k × k window of the camera-plane PSF around tile centre d_t (window index k//2 on
  the tile centre), with padding k//2 before and k − 1 − k//2 after each axis ('same' size
  H × W; for even k one pixel different from torch's ``padding="same"``). Physically: the 4f
  system images the input point-reflected, and each channel's camera crop is read out
  point-reflected (`mixsig.optics.tiles`), the two flips cancelling. Computed by
  `fft_convolve_otf` with the point-reflected PSF, "full" mode, then cropped.
* Windows (``crosstalk=False``): each channel is convolved with its own window only; light the
  PSF puts anywhere else is ignored (exact for ideal kernels at pitch ≥ H + k − 1, an
  idealisation for a realised or trained DOE). Box (``crosstalk=True``): the whole visible
  camera plane (tile centres ± (H − 1)) is convolved with the input once and cropped per
  channel, so leakage between tiles and stray light inside the crops are included; past the
  simulated window λf/Δu the PSF holds the higher orders of a pixelated DOE (the `PSFModel`
  of `realised_psf`) and is zero for a point-sampled one.
* Coherent: output = |√x ∗ h_c|² with the input amplitude √intensity and h_c the camera-plane
  field (real or complex); the real and imaginary parts are convolved as two real PSFs.
* Incoherent FFT round-off below 0 is clipped in the forward value only (intensities are ≥ 0;
  the gradient is unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from mixsig.optics.doe import fabricated_phase
from mixsig.optics.fftconv import OTF, fft_convolve_otf, otf
from mixsig.optics.sampling import FourierSampling
from mixsig.optics.synthesis import SynthesisResult, TileLayout, synthesize_doe
from mixsig.optics.tiles import output_crops


@dataclass(frozen=True)
class OpticalTransfer:
    """What `optical_conv` needs of a PSF (from `optical_transfer`).

    otf: the transform of the point-reflected PSF (parts·K windows, or parts box planes).
    crops: the top-left of each channel's output in the "full" convolution (`output_crops`).
    parts: 2 for a complex field (real and imaginary parts stacked), else 1.
    crosstalk: True when one box plane is shared by all channels and cropped per channel.
    """

    otf: OTF
    crops: tuple[tuple[int, int], ...]
    parts: int
    crosstalk: bool


def psf_operand(psf: Tensor) -> tuple[Tensor, int]:
    """(the real PSF stack to transform, parts): the point-reflected windows (K, k, k) or box
    (1, h, w); a complex field's real parts, then its imaginary parts (parts = 2)."""
    reflected = torch.flip(psf, dims=(-2, -1))  # point reflection of the window / box
    if reflected.dim() == 2:  # the visible box: one plane
        reflected = reflected[None]
    if reflected.is_complex():
        return torch.cat([reflected.real, reflected.imag], dim=0), 2
    return reflected, 1


def optical_transfer(
    psf: Tensor, layout: TileLayout, image_shape: tuple[int, int], *, crosstalk: bool
) -> OpticalTransfer:
    """The OTF of a `tile_psf` (windows, or with ``crosstalk`` the box) for H × W images."""
    operand, parts = psf_operand(psf)
    crops = output_crops(layout, crosstalk=crosstalk)
    return OpticalTransfer(otf(operand, image_shape), crops, parts, crosstalk)


def optical_conv(
    x: Tensor, transfer: OpticalTransfer, *, coherent: bool, dtype: torch.dtype | None = None
) -> Tensor:
    """The camera's channels (B, K, H, W) for intensities x (B, 1, H, W) (module docstring).

    ``coherent``: the field √x is convolved and |·|² read; else the intensities. ``dtype``:
    compute in it (the input, or its amplitude √x, is cast to it); None keeps x's dtype.
    """
    h, w = x.shape[-2:]
    amp = torch.sqrt(x.clamp_min(0)) if coherent else x
    if dtype is not None:
        amp = amp.to(dtype)
    full = fft_convolve_otf(amp, transfer.otf, mode="full")
    if coherent:  # |field|²
        full = sum(part**2 for part in full.chunk(transfer.parts, dim=1))
    else:  # intensities: FFT round-off (~1e-7 of the peak in float32) must not go below 0
        full = full + (full.clamp_min(0) - full).detach()
    if not transfer.crosstalk:
        ((r, c),) = transfer.crops
        return full[..., r : r + h, c : c + w]
    plane = full[:, 0]
    return torch.stack([plane[:, r : r + h, c : c + w] for r, c in transfer.crops], dim=1)


def optical_conv2d(
    x: Tensor,
    psf: Tensor,
    layout: TileLayout,
    *,
    crosstalk: bool = False,
    coherent: bool = False,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """`optical_conv` of x (B, 1, H, W) with a `tile_psf` ``psf`` in one call (no cache)."""
    transfer = optical_transfer(psf, layout, tuple(x.shape[-2:]), crosstalk=crosstalk)
    return optical_conv(x, transfer, coherent=coherent, dtype=dtype)


def window_energy(plane: Tensor, layout: TileLayout, *, coherent: bool) -> tuple[Tensor, Tensor]:
    """(E_t, the light in each tile window (K,), Σ the light on the camera plane) of a PSF
    (intensity, or ``coherent`` a field: |h|²)."""
    intensity = plane.abs() ** 2 if coherent else plane
    return layout.extract(intensity).sum(dim=(-2, -1)), intensity.sum()


def spread_regularizer(energy: Tensor, total: Tensor) -> Tensor:
    """stray + imbalance ∈ [0, 2] of `window_energy`: the fraction of the light outside the
    windows, plus (K·Σp_t² − 1)/(K − 1) with p_t = E_t/ΣE the windows' shares (0 when equal,
    1 when one window takes all: the collapse of a trained DOE to one point PSF)."""
    inside = energy.sum()
    stray = 1 - inside / total.clamp_min(1e-300)
    c = energy.numel()
    if c == 1:
        return stray
    p = energy / inside.clamp_min(1e-300)
    return stray + (c * torch.sum(p**2) - 1) / (c - 1)


def synthesize_tiles(
    bank: Tensor,
    layout: TileLayout,
    sampling: FourierSampling,
    *,
    crosstalk: bool = False,
    coherent: bool = False,
    method: str = "exact",
    **kwargs,
) -> SynthesisResult:
    """`synthesize_doe` of a kernel bank (K, k, k) placed in its tiles: fitted over the windows
    (``crosstalk``: the whole visible box, dark between the tiles), throughput over the
    windows; ``kwargs`` go to `synthesize_doe` (levels, steps, lr, seed, ...)."""
    j = sampling.camera_pixels
    target = layout.place(bank.detach().to(torch.float64), (j, j))
    windows = layout.window_mask((j, j))
    mask = layout.box_mask((j, j)) if crosstalk else windows
    return synthesize_doe(
        target,
        sampling,
        mask=mask,
        throughput_mask=windows,
        coherent=coherent,
        method=method,
        **kwargs,
    )


__all__ = [
    "OpticalTransfer",
    "fabricated_phase",
    "optical_conv",
    "optical_conv2d",
    "optical_transfer",
    "psf_operand",
    "spread_regularizer",
    "synthesize_tiles",
    "window_energy",
]
