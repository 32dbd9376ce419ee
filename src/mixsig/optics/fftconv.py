"""Linear 2-D convolution of real images with real PSFs by `torch.fft.rfft2`.

Owns the incoherent-imaging convolution of design §3: zero-padding to a fast (5-smooth) FFT
size ≥ H + h − 1 so the result is a *linear*, not circular, convolution; the PSF's transform
(`otf`) computed once and reused for every image of a batch (and cached while the PSF is
frozen).

Definition (true convolution, not correlation): full[b, n] = Σ_m image[b, m]·psf[n − m],
n ∈ [0, H + h − 1) per axis. Output coordinates: ``mode="full"`` index n holds input pixel
n − h//2 (per axis), ``mode="same"`` (H × W) is full[h//2 : h//2 + H], so a point source at
input pixel (i, j) puts the PSF's centre index (h//2, w//2) — the optical axis of
`mixsig.optics.propagation` — at output pixel (i, j). This equals
``conv2d(image, flip(psf))`` with padding (h − 1 − h//2, h//2) rows and (w − 1 − w//2, w//2)
columns (symmetric h//2 for odd sizes). Outputs are in the *input's* coordinates; the physical
camera of a 4f system sees them point-reflected (see `mixsig.optics.propagation`).

Broadcasting: the leading dims of images (..., H, W) and psf (..., h, w) broadcast like torch
tensors: images (B, C, H, W) with psf (h, w) filters every image alike; with psf (C, h, w)
channel-wise; images (B, 1, H, W) with psf (K, h, w) gives K output channels; images
(B, C, 1, H, W) with psf (K, h, w) gives every (C, K) pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

_DIMS = (-2, -1)
_MODES = ("full", "same")


def fast_size(n: int) -> int:
    """The smallest 5-smooth integer (2^a·3^b·5^c) ≥ n: a fast FFT length."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"fast_size needs a positive integer, got {n!r}")
    best = 1 << (n - 1).bit_length()  # a power of two ≥ n
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


@dataclass(frozen=True)
class OTF:
    """A PSF's rfft2 at the FFT size of images of ``image_shape`` (from `otf`)."""

    spectrum: Tensor
    psf_shape: tuple[int, int]
    image_shape: tuple[int, int]
    fft_shape: tuple[int, int]


def otf(psf: Tensor, image_shape: tuple[int, int]) -> OTF:
    """Transform a real PSF (..., h, w) once for images of ``image_shape`` = (H, W)."""
    if torch.is_complex(psf):
        raise ValueError("psf must be real (an intensity PSF); got a complex tensor")
    if psf.dim() < 2:
        raise ValueError(f"psf must have at least 2 dims (h, w), got shape {tuple(psf.shape)}")
    h, w = psf.shape[-2:]
    big_h, big_w = (int(s) for s in image_shape)
    fft_shape = (fast_size(big_h + h - 1), fast_size(big_w + w - 1))
    spectrum = torch.fft.rfft2(psf, s=fft_shape, dim=_DIMS)
    return OTF(spectrum, (h, w), (big_h, big_w), fft_shape)


def fft_convolve_otf(images: Tensor, transfer: OTF, mode: str = "same") -> Tensor:
    """`fft_convolve` with a PSF transform from `otf` (reuse it across a batch)."""
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if torch.is_complex(images):
        raise ValueError("images must be real intensities; got a complex tensor")
    big_h, big_w = images.shape[-2:]
    if (big_h, big_w) != transfer.image_shape:
        raise ValueError(
            f"images are {big_h}×{big_w} but the OTF was made for {transfer.image_shape}: "
            "call otf(psf, images.shape[-2:])"
        )
    h, w = transfer.psf_shape
    spectrum = torch.fft.rfft2(images, s=transfer.fft_shape, dim=_DIMS)
    full = torch.fft.irfft2(spectrum * transfer.spectrum, s=transfer.fft_shape, dim=_DIMS)
    if mode == "full":
        return full[..., : big_h + h - 1, : big_w + w - 1]
    return full[..., h // 2 : h // 2 + big_h, w // 2 : w // 2 + big_w]


def fft_convolve(images: Tensor, psf: Tensor, mode: str = "same") -> Tensor:
    """Linear convolution of real images (..., H, W) with real PSFs (..., h, w).

    ``mode="full"`` returns (H + h − 1) × (W + w − 1), ``"same"`` H × W with the PSF centre
    (h//2, w//2) on the source pixel (module docstring). Leading dims broadcast.
    """
    return fft_convolve_otf(images, otf(psf, tuple(images.shape[-2:])), mode)
