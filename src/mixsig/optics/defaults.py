"""Defaults of the optical layer: Chang et al.'s optics and the kernels a trained DOE starts from.

Owns `default_sampling`, the 4f system of Chang et al. (Sci. Rep. 8, 12324, 2018: 532 nm,
f = 200 mm, 6 µm DOE pixels, Q = 2) with the smallest DOE whose window holds a tiled extent,
and `gabor_bank`, the Gabor-like kernel banks a DOE-space layer synthesises its initial phase
from (never a flat or random mask, from which training collapses to one point PSF).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from mixsig.optics.sampling import FourierSampling

# Chang et al. 2018: 532 nm, f = 200 mm, 6 µm DOE pixels
DEFAULT_WAVELENGTH_M = 532e-9
DEFAULT_FOCAL_LENGTH_M = 0.2
DEFAULT_DOE_PITCH_M = 6e-6


def default_sampling(
    extent_px: int, pool: int = 2, *, accept: Callable[[FourierSampling], bool] | None = None
) -> FourierSampling:
    """Chang et al.'s optics (532 nm, f = 200 mm, 6 µm DOE pixels), Q = 2, and camera pixels of
    ``pool`` simulation samples (pool = Q: one camera pixel per diffraction-limited spot
    λf/(N·Δu)), with the smallest even N whose J = 2N/pool camera pixels hold ``extent_px``
    and, with ``accept``, that ``accept`` takes (the layer: no higher order of a broadband
    source reaches a channel, `mixsig.optics.tiles.order_clearance`; tried up to 4× that N)."""
    n = 2 * math.ceil(extent_px * pool / 4)
    sampling = _sampling(n, pool)
    if accept is None:
        return sampling
    for m in range(n, 4 * n + 1, 2):
        sampling = _sampling(m, pool)
        if accept(sampling):
            return sampling
    return _sampling(n, pool)  # none does: the caller's own check explains why


def _sampling(n: int, pool: int) -> FourierSampling:
    sim_pitch_m = DEFAULT_WAVELENGTH_M * DEFAULT_FOCAL_LENGTH_M / (2 * n * DEFAULT_DOE_PITCH_M)
    return FourierSampling(
        DEFAULT_WAVELENGTH_M,
        DEFAULT_FOCAL_LENGTH_M,
        DEFAULT_DOE_PITCH_M,
        n,
        2,
        camera_pitch_m=None if pool == 1 else pool * sim_pitch_m,
    )


def gabor_bank(
    channels: int,
    kernel_size: int,
    *,
    signed: bool,
    min_period_px: float = 2.0,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Gabor-like kernels (channels, k, k): orientations spread over π, random phase (torch's
    RNG), period max(k/1.5, ``min_period_px``); ``signed``: cos·envelope, else the
    non-negative (1 + cos)/2·envelope."""
    k = kernel_size
    a = torch.arange(k, dtype=dtype) - k // 2
    y, x = a[:, None], a[None, :]
    sigma, period = max(k / 4, 0.5), max(k / 1.5, min_period_px)
    out = []
    for i in range(channels):
        theta = math.pi * i / channels
        psi = 2 * math.pi * float(torch.rand(()))
        wave = torch.cos(2 * math.pi * (x * math.cos(theta) + y * math.sin(theta)) / period + psi)
        wave = wave if signed else (1 + wave) / 2
        out.append(wave * torch.exp(-(x**2 + y**2) / (2 * sigma**2)))
    return torch.stack(out)


__all__ = [
    "DEFAULT_DOE_PITCH_M",
    "DEFAULT_FOCAL_LENGTH_M",
    "DEFAULT_WAVELENGTH_M",
    "default_sampling",
    "gabor_bank",
]
