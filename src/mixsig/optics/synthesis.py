"""DOE synthesis: the tiled kernel layout on the camera and a phase mask that realises it.

Owns the kernel-space half of design §3: `synthesize_doe` (for the tiled kernel layout,
`TileLayout`, see `mixsig.optics.tiles`, re-exported here), which
fits a phase-only DOE φ (N × N) so that its camera-plane PSF (`realised_psf`: the intensity,
or the coherent field) matches a tiled target: Gerchberg–Saxton phase retrieval with a free
region (MRAF) as the initialisation, then Adam on the phase, the last steps through the L-level
quantization with a straight-through gradient (`quantize_phase`), so the returned mask is the
fabricated one. The PSF is that of a `PSFModel` (`mixsig.optics.broadband`): by default the
pixelated DOE (fill factor 1) at the design wavelength, so the fit compensates the pixel
envelope; a broadband model fits the spectrum-summed PSF.

Fit error: with the optimal scale s = ⟨p, t⟩/⟨p, p⟩ over the fitted region,
‖s·p − t‖/‖t‖ (p the realised PSF, t the target; complex s for coherent fields). Throughput:
the fraction of the light through the DOE that lands in the kernel windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from mixsig.optics.broadband import model_psf
from mixsig.optics.doe import quantize_phase, transmission, wrap_phase
from mixsig.optics.propagation import centered_fft2, crop_center, pad_center
from mixsig.optics.psf_model import PSFModel
from mixsig.optics.sampling import FourierSampling
from mixsig.optics.tiles import TileLayout

# -- fitting --------------------------------------------------------------------------------


def fit_error(psf: Tensor, target: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(‖s·p − t‖/‖t‖, s) over ``mask`` with the optimal scale s = ⟨p, t⟩/⟨p, p⟩.

    Real or complex (coherent fields: s complex, the global phase is free). Differentiable.
    """
    if mask is not None:
        psf, target = psf * mask, target * mask
    p, t = psf.reshape(-1), target.reshape(-1)
    scale = torch.sum(p.conj() * t) / torch.sum(p.abs() ** 2).clamp_min(1e-300)
    return torch.linalg.vector_norm(scale * p - t) / torch.linalg.vector_norm(t), scale


def realised_psf(
    phase_rad: Tensor,
    sampling: FourierSampling,
    *,
    coherent: bool = False,
    method: str = "exact",
    model: PSFModel | None = None,
    box: tuple[tuple[int, int], tuple[int, int]] | None = None,
    windows: TileLayout | None = None,
) -> Tensor:
    """The camera-plane PSF of a phase mask (the phase delay at the design wavelength):
    `mixsig.optics.broadband.model_psf` under ``model`` (default `PSFModel()`: the pixelated
    DOE, fill factor 1, monochromatic; ``PSFModel(pixel_envelope=False)``: the point-sampled
    `camera_psf`), intensity J × J or, ``coherent``, the field h_c (needs camera pixels =
    simulation samples, pool 1); ``box``: camera-pixel offsets from the axis instead of the
    window (pixelated: the higher orders beyond the window included); ``windows``: only the
    kernel windows (K, k, k) of that layout."""
    if coherent:
        _check_coherent(sampling)
    return model_psf(
        phase_rad, sampling, model, method=method, coherent=coherent, box=box, windows=windows
    )


def _check_coherent(sampling: FourierSampling) -> None:
    if sampling.pool != 1:
        raise ValueError(
            f"a coherent PSF is sampled, not pixel-integrated: it needs camera pitch = "
            f"simulation pitch (pool 1), got pool {sampling.pool}; use camera_pitch_m=None"
        )


def _to_sim_grid(target: Tensor, sampling: FourierSampling) -> Tensor:
    """Spread each camera pixel over its pool × pool simulation samples (approximate layout)."""
    p, m = sampling.pool, sampling.fft_size
    if p == 1:
        return target
    up = target.repeat_interleave(p, -2).repeat_interleave(p, -1) / p**2
    return pad_center(up, (m, m))


def gerchberg_saxton(
    target: Tensor,
    sampling: FourierSampling,
    *,
    mask: Tensor | None = None,
    iterations: int = 50,
    signal_fraction: float = 0.9,
    coherent: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Phase retrieval of a phase-only DOE (N × N) for a camera-plane ``target`` (J × J).

    Iterates DOE ↔ camera by `centered_fft2`: on the camera, the amplitude inside ``mask`` is
    set to √target (the target itself for a coherent field) carrying ``signal_fraction`` of the
    energy, outside it the field is kept with the rest (MRAF free region; no mask: the whole
    plane is constrained); on the DOE, the amplitude is set to 1. Pool > 1 spreads each camera
    pixel over its samples (an approximation: this is an initialisation).
    """
    n, m = sampling.doe_pixels, sampling.fft_size
    target = _to_sim_grid(target, sampling)
    amp = target if coherent else target.clamp_min(0).sqrt()
    amp = amp.to(torch.complex128)
    sig = (
        torch.ones_like(target, dtype=torch.bool)
        if mask is None
        else _to_sim_grid(mask.to(torch.float64), sampling) > 0
    )
    phase = 2 * math.pi * torch.rand(n, n, generator=generator, dtype=torch.float64)
    for _ in range(iterations):
        u = centered_fft2(pad_center(transmission(phase), (m, m)))
        u = _camera_constraint(u, amp, sig, signal_fraction, coherent)
        phase = torch.angle(crop_center(centered_fft2(u, inverse=True), (n, n)))
    return wrap_phase(phase)


def _camera_constraint(
    u: Tensor, amp: Tensor, sig: Tensor, signal_fraction: float, coherent: bool
) -> Tensor:
    total = torch.sum(u.abs() ** 2)
    free = ~sig
    wanted = total * (signal_fraction if bool(free.any()) else 1.0)
    if coherent:  # optimal complex scale: the global phase is free
        s = torch.sum(amp.conj() * u * sig) / torch.sum(amp.abs() ** 2 * sig).clamp_min(1e-300)
        new_sig = amp * (s / s.abs().clamp_min(1e-300))
    else:
        new_sig = amp * torch.exp(1j * torch.angle(u))
    new_sig = new_sig * torch.sqrt(wanted / torch.sum(new_sig.abs() ** 2 * sig).clamp_min(1e-300))
    e_free = torch.sum(u.abs() ** 2 * free).clamp_min(1e-300)
    new_free = u * torch.sqrt((total - wanted) / e_free)
    return torch.where(sig, new_sig, new_free)


@dataclass
class SynthesisResult:
    """The fitted DOE and how well it realises the target.

    phase_rad: wrapped phase in [0, 2π), N × N float64 (on the L levels when quantized).
    psf: its camera-plane PSF (intensity J × J, or the coherent field).
    fit_error: ‖s·psf − target‖/‖target‖ over the fitted region (``mask``), s = ``scale``.
    throughput: fraction of the light through the DOE that lands in ``throughput_mask``
    (the kernel windows); the fit error is scale-free, so raise ``efficiency_weight`` to
    trade fit for throughput.
    history: the fit error after each Adam step.
    """

    phase_rad: Tensor
    psf: Tensor
    fit_error: float
    scale: complex | float
    throughput: float
    levels: int | None
    history: list[float] = field(default_factory=list)


def synthesize_doe(
    target: Tensor,
    sampling: FourierSampling,
    *,
    mask: Tensor | None = None,
    throughput_mask: Tensor | None = None,
    levels: int | None = 16,
    coherent: bool = False,
    method: str = "exact",
    gs_iterations: int = 60,
    steps: int = 400,
    quantized_steps: int = 150,
    lr: float = 0.05,
    efficiency_weight: float = 0.0,
    init_phase: Tensor | None = None,
    seed: int = 0,
    model: PSFModel | None = None,
) -> SynthesisResult:
    """Fit a phase-only DOE whose camera-plane PSF matches ``target`` (J × J, float64 advised).

    Args:
        target: the tiled kernels on the camera (intensity ≥ 0, or a real/complex field with
            ``coherent``), optical axis at J//2.
        mask: where the PSF must match (True) — elsewhere the light is free; None: everywhere.
        throughput_mask: the kernel windows for the reported throughput (default ``mask``).
        levels: quantize to L levels (the last ``quantized_steps`` Adam steps train through
            the straight-through quantizer; the result lies on the levels); None: continuous.
        gs_iterations: Gerchberg–Saxton (MRAF) iterations for the initial phase (0: random,
            or ``init_phase`` when given).
        steps, lr: Adam steps on the loss fit_error² (+ ``efficiency_weight``·(1 − throughput)).
        seed: seeds the random initial phase.
        model: the `PSFModel` of the realised PSF (default `PSFModel()`: pixelated, fill
            factor 1, monochromatic); a broadband model is fitted through the wrapped phase
            (the etched one, which the dispersion scales).
    """
    if coherent:
        _check_coherent(sampling)
    if tuple(target.shape[-2:]) != (sampling.camera_pixels,) * 2:
        raise ValueError(
            f"target is {tuple(target.shape)}, the camera has {sampling.camera_pixels}² pixels"
        )
    gen = torch.Generator().manual_seed(seed)
    target = target.detach().to(torch.complex128 if target.is_complex() else torch.float64)
    mask_f = None if mask is None else mask.to(torch.float64)
    windows = mask if throughput_mask is None else throughput_mask
    thr_mask = None if windows is None else windows.to(torch.float64)
    if init_phase is not None:
        phase = init_phase.detach().to(torch.float64).clone()
    elif gs_iterations > 0:
        phase = gerchberg_saxton(
            target, sampling, mask=mask, iterations=gs_iterations, coherent=coherent, generator=gen
        )
    else:
        n = sampling.doe_pixels
        phase = 2 * math.pi * torch.rand(n, n, generator=gen, dtype=torch.float64)
    model = PSFModel() if model is None else model
    fit = _Fit(target, sampling, mask_f, thr_mask, coherent, method, efficiency_weight, model)
    phase, history = fit.adam(phase, levels, steps, quantized_steps, lr)
    final = quantize_phase(phase, levels, ste=False) if levels else wrap_phase(phase)
    with torch.no_grad():
        psf = realised_psf(final, sampling, coherent=coherent, method=method, model=model)
        err, scale = fit_error(psf, target, mask_f)
        thr = _throughput(psf, thr_mask, coherent)
    s = complex(scale) if coherent else float(scale)
    return SynthesisResult(final, psf, float(err), s, float(thr), levels, history)


def _throughput(psf: Tensor, mask: Tensor | None, coherent: bool) -> Tensor:
    """Fraction of the DOE's light inside ``mask`` (Σ h_I = 1 for a lossless phase mask)."""
    intensity = psf.abs() ** 2 if coherent else psf
    return intensity.sum() if mask is None else (intensity * mask).sum()


@dataclass
class _Fit:
    """The loss fit_error² (+ efficiency_weight·(1 − throughput)) of a phase, and its Adam."""

    target: Tensor
    sampling: FourierSampling
    mask: Tensor | None
    thr_mask: Tensor | None
    coherent: bool
    method: str
    efficiency_weight: float
    model: PSFModel

    def loss(self, phase: Tensor) -> tuple[Tensor, Tensor]:
        if not self.model.monochromatic(self.sampling.wavelength_m):
            phase = wrap_phase(phase)  # the etched phase: what the dispersion scales
        psf = realised_psf(
            phase, self.sampling, coherent=self.coherent, method=self.method, model=self.model
        )
        err, _ = fit_error(psf, self.target, self.mask)
        loss = err**2
        if self.efficiency_weight:
            thr = _throughput(psf, self.thr_mask, self.coherent)
            loss = loss + self.efficiency_weight * (1 - thr)
        return loss, err.detach()

    def adam(
        self, phase: Tensor, levels: int | None, steps: int, quantized_steps: int, lr: float
    ) -> tuple[Tensor, list[float]]:
        """Adam with a cosine learning rate; the last ``quantized_steps`` through the STE."""
        phi = phase.clone().requires_grad_(True)
        opt = torch.optim.Adam([phi], lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1), eta_min=lr / 20)
        history: list[float] = []
        for step in range(steps):
            quantized = levels is not None and step >= steps - quantized_steps
            loss, err = self.loss(quantize_phase(phi, levels) if quantized else phi)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            history.append(float(err))
        return phi.detach(), history


__all__ = [
    "SynthesisResult",
    "TileLayout",
    "fit_error",
    "gerchberg_saxton",
    "realised_psf",
    "synthesize_doe",
]
