"""DOE synthesis: the tiled kernel layout on the camera and a phase mask that realises it.

Owns the kernel-space half of design §3: `TileLayout`, where K sub-PSFs sit on the camera plane
of the 4f system and which camera pixels each output channel reads, and `synthesize_doe`, which
fits a phase-only DOE φ (N × N) so that its camera-plane PSF (`camera_psf`, or the coherent
field of `fraunhofer_psf`) matches a tiled target: Gerchberg–Saxton phase retrieval with a free
region (MRAF) as the initialisation, then Adam on the phase, the last steps through the L-level
quantization with a straight-through gradient (`quantize_phase`), so the returned mask is the
fabricated one.

Geometry (camera pixels, offsets from the optical axis = index J//2 of a J-pixel camera axis,
[row, column] = [y, x]): tile t has its sub-PSF centre at d_t; its k × k window covers
offsets d_t − k//2 … d_t − k//2 + k − 1 (the window index k//2 is the tile centre, as index
M//2 is the axis of a centred grid). The tiles form a rows × cols grid (row-major, cols =
ceil(√K)) of pitch P, placed so that the whole camera region the K full convolutions cover,
extent E = (n − 1)·P + H + k − 1 per axis (H the image size), is centred on the axis.

Zero order (``avoid_axis=True``): a fabricated DOE leaks undiffracted light into a spot on the
optical axis (etch-depth error, fill factor), and with PSF offsets d_t ± (H − 1) visible to
channel t (`visible_box`), that spot adds the input image to every channel whose tile centre
lies within H − 1 pixels of the axis along both axes — with the default grid, often several.
The axis-free layout is an odd × odd near-square grid with rows·cols − 1 ≥ K (cols the
smallest odd c with c² − 1 ≥ K, which sets the square window it needs; rows the smallest odd
r ≤ c with r·c − 1 ≥ K: K = 1, 2 → 1 × 3, ≤ 8 → 3 × 3, ≤ 14 → 3 × 5, ≤ 24 → 5 × 5) whose
centre slot sits exactly on the axis, d = (0, 0), and stays empty; the K tiles fill the other
slots row-major, slot (i, j) at d = ((i − rows//2)·P_y, (j − cols//2)·P_x).
Every tile is then ≥ P from the axis along some axis, so for P ≥ H per axis (the default pitch
H + k − 1 and any non-overlapping one) the zero-order image of the input, H × W around the
axis, falls into the empty slot and into no channel's crop. Its `extent_px` is the smallest
region centred on the axis that holds every full convolution, (n − 1)·P + 2·(H//2 + k//2) + 1
(up to two pixels more than E for even H or k: the grid is centred on the axis, not the region).

Fit error: with the optimal scale s = ⟨p, t⟩/⟨p, p⟩ over the fitted region,
‖s·p − t‖/‖t‖ (p the realised PSF, t the target; complex s for coherent fields). Throughput:
the fraction of the light through the DOE that lands in the kernel windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from mixsig.optics.doe import quantize_phase, transmission, wrap_phase
from mixsig.optics.propagation import (
    camera_psf,
    centered_fft2,
    crop_center,
    fraunhofer_psf,
    pad_center,
)
from mixsig.optics.sampling import FourierSampling

Box = tuple[tuple[int, int], tuple[int, int]]


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, int) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < 1:
        raise ValueError(f"{name} must be ≥ 1, got {value!r}")
    return pair  # type: ignore[return-value]


@dataclass(frozen=True)
class TileLayout:
    """K sub-PSFs of size k × k tiled with pitch P on the camera (module docstring)."""

    channels: int
    kernel_size: int
    image_size: tuple[int, int]
    pitch_px: tuple[int, int]
    grid: tuple[int, int]
    avoid_axis: bool = False

    def __post_init__(self) -> None:
        rows, cols = self.grid
        if self.avoid_axis and (rows % 2 == 0 or cols % 2 == 0 or rows * cols - 1 < self.channels):
            raise ValueError(
                f"an axis-free layout needs an odd × odd grid with a free centre slot and "
                f"rows·cols − 1 ≥ {self.channels} tiles, got {rows}×{cols}"
            )

    @classmethod
    def build(
        cls,
        channels: int,
        kernel_size: int,
        image_size: int | tuple[int, int],
        pitch_px: int | tuple[int, int] | None = None,
        *,
        avoid_axis: bool = False,
    ) -> TileLayout:
        """A near-square grid; ``pitch_px`` None gives the smallest non-overlapping pitch.

        ``avoid_axis``: an odd × odd grid whose centre slot, on the optical axis, stays empty
        (the zero order of a fabricated DOE then reaches no channel: module docstring).
        """
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"the number of tiles must be an integer ≥ 1, got {channels!r}")
        (k, k_x), hw = _pair(kernel_size, "kernel_size"), _pair(image_size, "image_size")
        if k_x != k:
            raise ValueError(f"square kernels only, got kernel_size={kernel_size!r}")
        min_pitch = (hw[0] + k - 1, hw[1] + k - 1)
        pitch = min_pitch if pitch_px is None else _pair(pitch_px, "tile_pitch_px")
        if min(pitch) < k:
            raise ValueError(
                f"tile pitch {pitch} px < kernel {k} px: the kernel windows would overlap "
                f"themselves; use tile_pitch_px ≥ {k}"
            )
        if avoid_axis:
            rows, cols = _axis_free_grid(channels)
        else:
            cols = math.ceil(math.sqrt(channels))
            rows = math.ceil(channels / cols)
        return cls(channels, k, hw, pitch, (rows, cols), bool(avoid_axis))  # type: ignore[arg-type]

    # -- geometry ---------------------------------------------------------------------------
    @property
    def min_pitch_px(self) -> tuple[int, int]:
        """H + k − 1 per axis: the smallest pitch at which the full convolutions don't overlap."""
        k = self.kernel_size
        return (self.image_size[0] + k - 1, self.image_size[1] + k - 1)

    @property
    def overlaps(self) -> bool:
        """True when the pitch is below `min_pitch_px` along an axis that has several tiles."""
        return any(n > 1 and p < m for n, p, m in zip(self.grid, self.pitch_px, self.min_pitch_px))

    @property
    def extent_px(self) -> tuple[int, int]:
        """E = (n − 1)·P + H + k − 1 per axis: the camera region the tiled outputs cover,
        centred on the axis (``avoid_axis``: the smallest axis-centred region holding it,
        (n − 1)·P + 2·(H//2 + k//2) + 1)."""
        if self.avoid_axis:
            k = self.kernel_size
            return tuple(  # type: ignore[return-value]
                (n - 1) * p + 2 * (h // 2 + k // 2) + 1
                for n, p, h in zip(self.grid, self.pitch_px, self.image_size)
            )
        return tuple(  # type: ignore[return-value]
            (n - 1) * p + m for n, p, m in zip(self.grid, self.pitch_px, self.min_pitch_px)
        )

    def _centres(self, axis: int) -> list[int]:
        n, pitch = self.grid[axis], self.pitch_px[axis]
        if self.avoid_axis:  # odd n: the centre slot n//2 on the axis
            return [(i - n // 2) * pitch for i in range(n)]
        h, k = self.image_size[axis], self.kernel_size
        below = (h - 1 - h // 2) + (k - 1 - k // 2)  # full output extends this far below d
        start = -(self.extent_px[axis] // 2) + below
        return [start + i * pitch for i in range(n)]

    @property
    def slots(self) -> tuple[int, ...]:
        """The row-major grid slot of each tile: 0…K − 1, or with ``avoid_axis`` every slot
        but the centre one (rows·cols // 2, on the axis), in order."""
        if not self.avoid_axis:
            return tuple(range(self.channels))
        centre = self.grid[0] * self.grid[1] // 2
        return tuple(s + (s >= centre) for s in range(self.channels))

    @property
    def offsets_px(self) -> tuple[tuple[int, int], ...]:
        """Tile centres d_t = (d_y, d_x) in camera pixels from the axis, row-major."""
        ys, xs = self._centres(0), self._centres(1)
        cols = self.grid[1]
        return tuple((ys[s // cols], xs[s % cols]) for s in self.slots)

    def visible_box(self) -> Box:
        """PSF offsets any output pixel sees: d_t ± (H − 1) per axis, inclusive bounds."""
        out = []
        for axis in (0, 1):
            d = [o[axis] for o in self.offsets_px]
            reach = self.image_size[axis] - 1
            out.append((min(d) - reach, max(d) + reach))
        return out[0], out[1]

    def window_index(self, size: tuple[int, int], device=None) -> tuple[Tensor, Tensor]:
        """Row and column indices (K, k, 1), (K, 1, k) of the windows in a grid of ``size``."""
        k = self.kernel_size
        d = torch.tensor(self.offsets_px, device=device)
        a = torch.arange(k, device=device) - k // 2
        rows = size[0] // 2 + d[:, 0, None] + a  # (K, k)
        cols = size[1] // 2 + d[:, 1, None] + a
        if rows.min() < 0 or cols.min() < 0 or rows.max() >= size[0] or cols.max() >= size[1]:
            raise ValueError(
                f"the tiled kernels (extent {self.extent_px} px) do not fit a {size} grid"
            )
        return rows[:, :, None], cols[:, None, :]

    def extract(self, plane: Tensor) -> Tensor:
        """The K windows (..., K, k, k) of a camera plane (..., J1, J2) centred on the axis."""
        rows, cols = self.window_index(tuple(plane.shape[-2:]), plane.device)
        return plane[..., rows, cols]

    def place(self, kernels: Tensor, size: tuple[int, int]) -> Tensor:
        """A (size) camera plane holding ``kernels`` (K, k, k) in their windows (differentiable;
        overlapping windows add)."""
        rows, cols = self.window_index(size, kernels.device)
        k = self.kernel_size
        rows, cols = rows.expand(-1, k, k), cols.expand(-1, k, k)
        plane = kernels.new_zeros(size)
        return plane.index_put((rows, cols), kernels, accumulate=True)

    def window_mask(self, size: tuple[int, int], device=None) -> Tensor:
        """Boolean (size) mask of the union of the kernel windows."""
        rows, cols = self.window_index(size, device)
        k = self.kernel_size
        mask = torch.zeros(size, dtype=torch.bool, device=device)
        mask[rows.expand(-1, k, k), cols.expand(-1, k, k)] = True
        return mask

    def box_mask(self, size: tuple[int, int], device=None) -> Tensor:
        """Boolean (size) mask of the `visible_box` (clipped to the grid)."""
        mask = torch.zeros(size, dtype=torch.bool, device=device)
        (y0, y1), (x0, x1) = self.visible_box()
        cy, cx = size[0] // 2, size[1] // 2
        mask[max(cy + y0, 0) : cy + y1 + 1, max(cx + x0, 0) : cx + x1 + 1] = True
        return mask


def _axis_free_grid(channels: int) -> tuple[int, int]:
    """(rows, cols), both odd, rows ≤ cols: cols the smallest odd c with c² − 1 ≥ K, rows the
    smallest odd r with r·c − 1 ≥ K (K = 1, 2: 1 × 3; ≤ 8: 3 × 3; ≤ 14: 3 × 5; ≤ 24: 5 × 5)."""
    cols = 3
    while cols * cols - 1 < channels:
        cols += 2
    rows = 1
    while rows * cols - 1 < channels:
        rows += 2
    return rows, cols


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
) -> Tensor:
    """The camera-plane PSF of a phase mask: `camera_psf` (intensity, J × J) or, ``coherent``,
    the field h_c of `fraunhofer_psf` (needs camera pixels = simulation samples, pool 1)."""
    t = transmission(phase_rad)
    if not coherent:
        return camera_psf(t, sampling, method=method)
    _check_coherent(sampling)
    return fraunhofer_psf(t, sampling.oversample, coherent=True, offset_px=sampling.sim_offset_px)


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
    fit = _Fit(target, sampling, mask_f, thr_mask, coherent, method, efficiency_weight)
    phase, history = fit.adam(phase, levels, steps, quantized_steps, lr)
    final = quantize_phase(phase, levels, ste=False) if levels else wrap_phase(phase)
    with torch.no_grad():
        psf = realised_psf(final, sampling, coherent=coherent, method=method)
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

    def loss(self, phase: Tensor) -> tuple[Tensor, Tensor]:
        psf = realised_psf(phase, self.sampling, coherent=self.coherent, method=self.method)
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
