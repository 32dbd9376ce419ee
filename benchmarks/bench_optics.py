"""Cost of one training step of an incoherent 4f optical layer: mixsig against torchoptics.

What is measured: the wall time (``time.perf_counter``) of forward + backward with respect to
the DOE phase of an incoherent 4f layer (Chang et al., Sci. Rep. 8, 12324, 2018; design §3):
a trainable 128 × 128 phase mask in the Fourier plane → the camera-plane intensity PSF, once per
batch → the camera image of a batch of 64 random 28 × 28 images (linear FFT convolution with
the camera box the 8 tiled kernels see) → the 8 tiles cropped from it → loss = Σ tiles² →
backward. Variants, each with its own copy of the same mask and the same images:

* ``mixsig``           `mixsig.optics`: ``fraunhofer_psf(transmission(φ), oversample=2)``
                       (one 256² complex FFT), the 123 × 123 box, ``fft_convolve`` (rfft2 at
                       150 × 150), float32.
* ``mixsig_layer``     ``mixsig.nn.OpticalConv2d(parameterisation="doe", signed=False,
                       model_crosstalk=True, doe_levels=None)`` with the same sampling and mask
                       and an ideal camera (no DAC, no noise, 16-bit fixed-range ADC), its own
                       3 × 3 tile layout; skipped (with the reason) when it cannot be built.
* ``torchoptics_f64``  the same physics built from torchoptics' own elements at its default
                       dtype (float64): a point source → ``System(Lens(f) at z = f,
                       AmplitudeModulator(DOE aperture) and PhaseModulator(φ) at 2f, Lens(f) at
                       3f)`` → ``measure_at_z(4f, propagation_method="ASM")`` (its default
                       ``asm_pad``) → ``intensity()``: the PSF, once per batch like mixsig; then
                       the same box, cast to float32, and the same ``fft_convolve``, so the two
                       differ only in the optics.
* ``torchoptics_f32``  the same after ``torchoptics.set_default_dtype(torch.float32)``.
* ``torchoptics_f64_pad`` (information, not a target) torchoptics f64 with ``asm_pad = M/2``
                       per side instead of its default 2M: enough for this geometry (the
                       point source's spread fills the grid exactly), 6× less FFT area.
* ``fft_bound``        the lower bound: a bare batched ``rfft2``/``irfft2`` linear convolution
                       of the 64 images with a fixed PSF box (no optics) at the same 150 × 150
                       padded size, the same tiles and loss, backward w.r.t. the PSF box: the
                       convolution work of mixsig's step without the optics (one FFT pair per
                       image forward, one FFT per image backward).
* ``optics_mixsig``, ``optics_torchoptics_f64`` (information) the optics alone (below).
* the cost of the layer's PSF model (`mixsig.optics.psf_model.PSFModel`), each variant the
  ``OpticalConv2d`` above (its default ``psf_method="exact"``) in DOE space with the same mask,
  as a ratio to ``layer_point`` (the point-sampled, monochromatic layer, ``pixel_envelope=
  False``): ``layer_envelope`` (the pixel envelope, the default), ``layer_1line`` (one line at
  550 nm: the λ-scaled geometry and the dispersion of fused silica) and ``layer_5lines`` (a
  Gaussian, 532 nm, FWHM 10 nm, 5 Gauss–Hermite lines), all with the envelope; ``*_box`` the
  same with ``model_crosstalk=True`` (the visible box, past the window for the envelope);
  ``infer_*`` one forward under ``torch.no_grad`` with the PSF recomputed (a forward whose
  OTF is cached costs the same for every model). Target ≤ 1.2×.
* ``mixsig_windows``, ``mixsig_layer_windows``, ``torchoptics_f64_windows``,
  ``fft_bound_windows``: the same four with each channel convolved with its own k × k window
  of the PSF only (`OpticalConv2d`'s default ``model_crosstalk=False``; rfft2 at
  (H + k − 1)²): the light outside the windows (stray light, the other tiles) is left out —
  ``windows_light_fraction_of_box`` says how much light the windows hold for this mask.

Sampling. mixsig's camera samples have pitch Δx = λf/(Q·N·Δu); torchoptics keeps one grid
spacing on every plane. With f = Q·N·Δu²/λ the two coincide (Δx = Δu = 6 µm, λ = 532 nm,
f = 17.3 mm): torchoptics' planes are M = Q·N = 256 samples of pitch Δu, its DOE is the
central N × N of the modulator plane (an amplitude aperture) and its camera grid is mixsig's
(the lens chirp reaches the Nyquist limit exactly at the grid edge: the critical sampling of a
sampled Fourier lens). torchoptics' even grids have no sample on the axis (samples at
(k − (M−1)/2)·Δ); its point source sits at sample M/2 − 1, x = −Δ/2, whose image is centred at
+Δ/2 = index M/2 = mixsig's axis, so both PSFs are indexed alike. The DOE then sits half a pixel
off mixsig's, which changes the field's phase only, not the intensity. torchoptics' PSF sums to
the light through the DOE, (N/M)² of the source's; it is scaled by (M/N)² to mixsig's
normalisation (Σ = 1 for a lossless mask).

Correctness first, for the mask that is timed (3 × 3 DOE blocks, each steering its light by a
phase ramp to the tile opposite it, a kernel shaped by the block's aperture and a random
low-order phase; the centre block flat, its zero order on the axis, which no tile reads):
mixsig's and torchoptics' PSFs (each normalised to unit sum, the whole 256² window and the box)
and camera tiles must agree within ``CHECK_TOL`` = 2 % relative L2 (measured: < 1 % and 0.15 %).
dL/dφ is compared twice: as is (information) and with mixsig's DOE lit by the field that
torchoptics' first lens actually puts on it (checked). torchoptics' sampled lens (a chirp at the
Nyquist limit at the grid edge, a circular aperture of half the grid width) lights the DOE with
a ~4 % rms amplitude and ~0.04 rad phase ripple instead of the ideal plane wave; the PSF hardly
notices, but the per-pixel gradient does (cosine ≈ 0.96); given the same illumination the two
gradients agree to < 1 %, so the backward passes compute the same physics. The blocks steer
across the axis so that the light meets torchoptics' second lens near its centre; a mask that
throws light all over the window (a uniform random phase, information only) is vignetted by its
lens apertures (a third of the light lost).

Timing: every variant is warmed up (3 steps), then R rounds (default 10, ``--quick`` 2) run each
variant once in a shuffled order (fixed seed), so that drifts in machine speed hit all alike; a
variant faster than ~0.1 s repeats its step within a round (the count set by its fastest
warm-up step) and reports the mean. ``optics_mixsig`` and ``optics_torchoptics_f64`` time the
optics alone (φ → PSF → Σ box² → backward, no images), the part the two libraries do
differently; the full steps share the image convolution, which bounds their ratio. Reported:
median, min, max per variant, speedups (ratio of medians, and the per-round range), the
process's peak RSS (``getrusage``) and, per variant, the peak RSS of a fresh child process that
builds only that variant and runs three steps (Linux ``VmHWM``; "step" = that peak minus the
RSS before the first step; off with ``--quick``). ``--json PATH`` writes
``speedup_vs_torchoptics`` (vs float64), ``ratio_vs_fft_bound``, ``peak_rss_mb`` and the raw
numbers, atomically. The machine should be otherwise idle: with 2 threads on 2 busy cores
torch's thread pool stalls and small steps get 10-30× slower.

    .venv/bin/python benchmarks/bench_optics.py --json bench_optics.json
    .venv/bin/python benchmarks/bench_optics.py --quick      # a smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common, also when loaded by path

from _common import cpu_model, write_json  # noqa: E402

from mixsig.optics import (  # noqa: E402
    FourierSampling,
    crop_center,
    fft_convolve,
    fraunhofer_psf,
    pad_center,
    transmission,
)

# ----------------------------------------------------------------------------- the layer
WAVELENGTH_M = 532e-9  # Chang et al.
DOE_PITCH_M = 6e-6  # Chang et al.
DOE_PIXELS = 128  # N
OVERSAMPLE = 2  # Q
GRID = OVERSAMPLE * DOE_PIXELS  # M = Q·N: mixsig's FFT size = torchoptics' grid
FOCAL_M = OVERSAMPLE * DOE_PIXELS * DOE_PITCH_M**2 / WAVELENGTH_M  # λf/(QNΔu) = Δu
SAMPLING = FourierSampling(WAVELENGTH_M, FOCAL_M, DOE_PITCH_M, DOE_PIXELS, OVERSAMPLE)

BATCH, IMAGE, CHANNELS, KERNEL = 64, 28, 8, 7
PITCH = IMAGE + KERNEL - 1  # 34: the smallest tile pitch without overlap
# 3 × 3 tiles without the centre (the zero order lands on the axis)
OFFSETS = tuple((PITCH * i, PITCH * j) for i in (-1, 0, 1) for j in (-1, 0, 1) if i or j)
REACH = PITCH + IMAGE - 1  # PSF offsets any tile pixel sees: |d| ≤ P + H − 1 per axis
BOX = 2 * REACH + 1  # 123: the camera box convolved with the images
FULL = IMAGE + BOX - 1  # 150: the 'full' convolution (a 5-smooth FFT size)

CHECK_TOL = 2e-2
SEED = 0
TARGET_SPEEDUP, TARGET_BOUND_RATIO = 100.0, 2.0
ROUND_TARGET_S = 0.1  # a fast variant repeats its step to last about this long per round

VARIANTS = (
    "mixsig",
    "mixsig_layer",
    "torchoptics_f64",
    "torchoptics_f32",
    "torchoptics_f64_pad",
    "fft_bound",
    "optics_mixsig",
    "optics_torchoptics_f64",
    "mixsig_windows",
    "mixsig_layer_windows",
    "torchoptics_f64_windows",
    "fft_bound_windows",
)
INFO_ONLY = {
    "torchoptics_f64_pad": "asm_pad = M/2 instead of torchoptics' default 2M",
    "optics_mixsig": "the PSF alone: φ → PSF → Σ box², no images",
    "optics_torchoptics_f64": "the PSF alone",
}
QUICK_SKIP = ("torchoptics_f64_pad", "optics_torchoptics_f64")
#: the PSF-model variants (module docstring): name → OpticalConv2d keywords
PSF_MODELS = {
    "point": {"pixel_envelope": False},
    "envelope": {},
    "1line": {"spectrum": {"wavelengths_m": [550e-9]}},
    "5lines": {"spectrum": {"center_m": 532e-9, "fwhm_m": 10e-9, "samples": 5}},
}
PSF_VARIANTS = tuple(
    f"{kind}_{model}{suffix}"
    for kind, suffix in (("layer", ""), ("layer", "_box"), ("infer", ""))
    for model in PSF_MODELS
)
TARGET_PSF_MODEL_RATIO = 1.2


def tiles(full: Tensor) -> Tensor:
    """The 8 tiles (B, 8, H, W) of 'full' camera images (B, 1, FULL, FULL).

    Index n of a 'full' convolution with the BOX-wide PSF holds input pixel n − REACH seen
    through PSF offset 0, so the tile of sub-PSF offset d starts at REACH + d.
    """
    plane = full[:, 0]
    return torch.stack(
        [
            plane[:, REACH + dy : REACH + dy + IMAGE, REACH + dx : REACH + dx + IMAGE]
            for dy, dx in OFFSETS
        ],
        dim=1,
    )


def windows(psf: Tensor) -> Tensor:
    """The 8 sub-PSF windows (8, k, k) around the tile centres of a PSF grid (axis at M//2)."""
    c, r = psf.shape[-1] // 2, KERNEL // 2
    return torch.stack(
        [psf[c + dy - r : c + dy + r + 1, c + dx - r : c + dx + r + 1] for dy, dx in OFFSETS]
    )


def window_tiles(images: Tensor, psf: Tensor) -> Tensor:
    """The 8 tiles (B, 8, H, W) with each channel convolved with its own k × k window only
    (`OpticalConv2d`'s default, ``model_crosstalk=False``): stray light outside the windows is
    left out; at this pitch the windows' own light is exactly the box's (module docstring)."""
    return fft_convolve(images, windows(psf), mode="same")


def design_phase(seed: int = SEED) -> Tensor:
    """The timed mask (N × N, float64): 3 × 3 blocks, each steering to the tile opposite it.

    Block (i, j) (i, j ∈ {−1, 0, 1} from the centre) carries the ramp 2π·u·d/(λf) with
    d = −P·(i, j) (on the sim grid: 2π·(n − N//2)·d/M per axis) plus a random defocus and
    astigmatism (|c| ≤ 2 rad at the block edge) that shapes its kernel; the centre block is flat.
    """
    g = torch.Generator().manual_seed(seed)
    n = DOE_PIXELS
    edges = [0, round(n / 3), round(2 * n / 3), n]
    u = torch.arange(n, dtype=torch.float64) - n // 2
    phase = torch.zeros(n, n, dtype=torch.float64)
    for bi in range(3):
        for bj in range(3):
            i, j = bi - 1, bj - 1
            if not (i or j):
                continue
            rows, cols = slice(edges[bi], edges[bi + 1]), slice(edges[bj], edges[bj + 1])
            dy, dx = -PITCH * i, -PITCH * j
            ramp = 2 * math.pi * (u[rows, None] * dy + u[None, cols] * dx) / GRID
            yy = torch.linspace(-1, 1, edges[bi + 1] - edges[bi], dtype=torch.float64)[:, None]
            xx = torch.linspace(-1, 1, edges[bj + 1] - edges[bj], dtype=torch.float64)[None, :]
            c = (torch.rand(3, generator=g, dtype=torch.float64) * 2 - 1) * 2
            shape = c[0] * (xx**2 + yy**2) + c[1] * (xx**2 - yy**2) + c[2] * xx * yy
            phase[rows, cols] = ramp + shape
    return phase


def make_images(seed: int = SEED) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(BATCH, 1, IMAGE, IMAGE, generator=g)


# ----------------------------------------------------------------------------- variants
class _PhaseMaskVariant:
    """What the two phase-mask variants share: one step = loss on the camera tiles (or on the
    PSF alone with ``optics_only``), backward to the mask parameter ``param``."""

    param: Tensor
    optics_only: bool
    windows: bool = False

    def psf(self) -> Tensor:
        raise NotImplementedError

    def camera(self, psf: Tensor | None = None) -> Tensor:
        raise NotImplementedError

    def step(self) -> Tensor:
        self.param.grad = None
        if self.optics_only:
            loss = crop_center(self.psf(), (BOX, BOX)).square().sum()
        else:
            loss = self.camera().square().sum()
        loss.backward()
        return loss


class MixsigRaw(_PhaseMaskVariant):
    """φ → fraunhofer_psf → box → fft_convolve → tiles, in ``dtype`` (float32 is timed).

    ``optics_only``: the loss is Σ box² of the PSF itself (no images): the optics alone.
    ``illumination``: a complex N × N field multiplying the DOE (the check only; flat = 1).
    """

    def __init__(
        self,
        images: Tensor,
        phase0: Tensor,
        dtype: torch.dtype = torch.float32,
        *,
        optics_only: bool = False,
        illumination: Tensor | None = None,
        windows: bool = False,
    ):
        self.images = images.to(dtype)
        self.param = torch.nn.Parameter(phase0.to(dtype).clone())
        self.optics_only = optics_only
        self.illumination = illumination
        self.windows = windows

    def psf(self) -> Tensor:
        t = transmission(self.param)
        if self.illumination is not None:
            t = t * self.illumination
        return fraunhofer_psf(t, OVERSAMPLE)

    def camera(self, psf: Tensor | None = None) -> Tensor:
        psf = self.psf() if psf is None else psf
        if self.windows:
            return window_tiles(self.images, psf)
        box = crop_center(psf, (BOX, BOX))
        return tiles(fft_convolve(self.images, box, mode="full"))

    def doe_grad(self) -> Tensor:
        return self.param.grad


class TorchOpticsFourF(_PhaseMaskVariant):
    """The same layer on torchoptics' elements (module docstring); PSF once per batch."""

    def __init__(
        self,
        images: Tensor,
        phase0: Tensor,
        dtype: torch.dtype,
        asm_pad: tuple[int, int] | None = None,
        *,
        optics_only: bool = False,
        windows: bool = False,
    ):
        import torchoptics
        from torchoptics.elements import AmplitudeModulator, Lens, PhaseModulator

        self.to, self.dtype, self.asm_pad = torchoptics, dtype, asm_pad
        self.optics_only = optics_only
        self.windows = windows
        self.images = images
        torchoptics.set_default_dtype(dtype)  # torchoptics' global default (float64 unless set)
        shape, spacing, f = (GRID, GRID), (DOE_PITCH_M, DOE_PITCH_M), FOCAL_M
        aperture = pad_center(torch.ones(DOE_PIXELS, DOE_PIXELS, dtype=dtype), shape)
        phase = torch.nn.Parameter(pad_center(phase0.to(dtype), shape))
        self.modulator = PhaseModulator(phase, z=2 * f, spacing=spacing)
        self.system = torchoptics.System(
            Lens(shape, f, z=f, spacing=spacing),
            AmplitudeModulator(aperture, z=2 * f, spacing=spacing),  # the N × N DOE
            self.modulator,
            Lens(shape, f, z=3 * f, spacing=spacing),
        )
        source = torch.zeros(shape, dtype=dtype)
        source[GRID // 2 - 1, GRID // 2 - 1] = 1  # x = −Δ/2: image centred on index M/2
        self.source = torchoptics.Field(source, wavelength=WAVELENGTH_M, z=0, spacing=spacing)
        self.param = self.modulator.phase

    def psf(self) -> Tensor:
        self.to.set_default_dtype(self.dtype)  # its Fields re-read the global default
        out = self.system.measure_at_z(
            self.source, 4 * FOCAL_M, propagation_method="ASM", asm_pad=self.asm_pad
        )
        return out.intensity() * (GRID / DOE_PIXELS) ** 2  # → mixsig's Σ = η normalisation

    def camera(self, psf: Tensor | None = None) -> Tensor:
        psf = (self.psf() if psf is None else psf).to(self.images.dtype)
        if self.windows:
            return window_tiles(self.images, psf)
        box = crop_center(psf, (BOX, BOX))
        return tiles(fft_convolve(self.images, box, mode="full"))

    def doe_grad(self) -> Tensor:
        return crop_center(self.param.grad, (DOE_PIXELS, DOE_PIXELS))

    def illumination(self) -> Tensor:
        """The field its first lens puts on the DOE (N × N), normalised to mean amplitude 1,
        with the tilt of the off-axis (x = −Δ/2) point source removed; ideally 1 everywhere."""
        with torch.no_grad():
            self.to.set_default_dtype(self.dtype)
            field = self.to.System(self.system[0]).measure_at_z(
                self.source, 2 * FOCAL_M, propagation_method="ASM", asm_pad=self.asm_pad
            )
            u = torch.arange(DOE_PIXELS, dtype=self.dtype) - (DOE_PIXELS - 1) / 2
            angle = math.pi * (u[:, None] + u[None, :]) / GRID  # the source tilt: Δ²/(λf) = 1/M
            tilt = torch.complex(torch.cos(angle), torch.sin(angle))
            ill = crop_center(field.data, (DOE_PIXELS, DOE_PIXELS)) / tilt
            mean = ill.mean()
            return ill * (mean.abs() / mean) / ill.abs().mean()


class FFTBound:
    """Bare batched rfft2 · rfft2(PSF) → irfft2 at the same size, backward w.r.t. the fixed PSF.

    The same convolution work as mixsig's step without the optics: rfft2 of the 64 images, the
    product, irfft2, the tiles; backward: the irfft2's adjoint for the 64 images, the reduction
    over the batch and one small rfft2 adjoint to the PSF (the images need no gradient).
    """

    def __init__(self, images: Tensor, psf_box: Tensor):
        self.images = images
        self.param = psf_box.detach().float().clone().requires_grad_(True)

    def step(self) -> Tensor:
        self.param.grad = None
        x = torch.fft.rfft2(self.images, s=(FULL, FULL))
        h = torch.fft.rfft2(self.param, s=(FULL, FULL))
        full = torch.fft.irfft2(x * h, s=(FULL, FULL))
        loss = tiles(full).square().sum()
        loss.backward()
        return loss


class FFTBoundWindows:
    """The bound of the windows-only layer: each image convolved with 8 fixed k × k windows,
    batched rfft2 at (H + k − 1)², backward w.r.t. the windows."""

    def __init__(self, images: Tensor, psf: Tensor):
        self.images = images
        self.param = windows(psf).detach().float().clone().requires_grad_(True)

    def step(self) -> Tensor:
        self.param.grad = None
        size = (IMAGE + KERNEL - 1,) * 2
        x = torch.fft.rfft2(self.images, s=size)
        h = torch.fft.rfft2(self.param, s=size)
        full = torch.fft.irfft2(x * h, s=size)
        r = KERNEL // 2
        loss = full[..., r : r + IMAGE, r : r + IMAGE].square().sum()
        loss.backward()
        return loss


class MixsigLayer:
    """`mixsig.nn.OpticalConv2d` in DOE space with an ideal camera, the same sampling and mask;
    the point-sampled PSF of torchoptics by default (``psf``: `PSFModel` keywords instead)."""

    def __init__(
        self,
        images: Tensor,
        phase0: Tensor,
        model_crosstalk: bool = True,
        psf: dict | None = None,
        infer: bool = False,
    ):
        try:
            from mixsig.nn import OpticalConv2d
        except ImportError:
            from mixsig.nn.optical import OpticalConv2d
        ideal_camera = {
            "dac": None,
            "weights": {"bits": None},
            "noise": {"sigma_lsb": 0.0},
            "adc": {"bits": 16, "range": "fixed", "lo": 0.0, "hi": 1.0, "signed": False},
        }
        self.layer = OpticalConv2d(
            CHANNELS,
            KERNEL,
            image_size=IMAGE,
            sampling=SAMPLING,
            hardware=ideal_camera,
            parameterisation="doe",
            signed=False,
            model_crosstalk=model_crosstalk,
            doe_levels=None,
            doe_init=phase0.float(),
            bias=False,
            # pool 1: the point-sampled PSF, as fraunhofer_psf and torchoptics
            **({"psf_method": "sum", "pixel_envelope": False} if psf is None else psf),
        )
        self.layer.train()
        self.images = images
        self.param = self.layer.phase_rad
        self.infer = infer

    def step(self) -> Tensor:
        if self.infer:  # one forward, the PSF recomputed (not the cached OTF)
            with torch.no_grad():
                self.layer.invalidate_cache()
                return self.layer(self.images).square().sum()
        self.param.grad = None
        loss = self.layer(self.images).square().sum()
        loss.backward()
        return loss


def _box(images: Tensor, phase0: Tensor) -> Tensor:
    with torch.no_grad():
        return crop_center(MixsigRaw(images, phase0).psf(), (BOX, BOX))


def _psf(images: Tensor, phase0: Tensor) -> Tensor:
    with torch.no_grad():
        return MixsigRaw(images, phase0).psf()


F64, F32 = torch.float64, torch.float32
_BUILDERS: dict[str, Callable] = {
    "mixsig": lambda im, ph: MixsigRaw(im, ph),
    "mixsig_layer": lambda im, ph: MixsigLayer(im, ph),
    "torchoptics_f64": lambda im, ph: TorchOpticsFourF(im, ph, F64),
    "torchoptics_f32": lambda im, ph: TorchOpticsFourF(im, ph, F32),
    "torchoptics_f64_pad": lambda im, ph: TorchOpticsFourF(im, ph, F64, (GRID // 2, GRID // 2)),
    "optics_mixsig": lambda im, ph: MixsigRaw(im, ph, optics_only=True),
    "optics_torchoptics_f64": lambda im, ph: TorchOpticsFourF(im, ph, F64, optics_only=True),
    "fft_bound": lambda im, ph: FFTBound(im, _box(im, ph)),
    "mixsig_windows": lambda im, ph: MixsigRaw(im, ph, windows=True),
    "mixsig_layer_windows": lambda im, ph: MixsigLayer(im, ph, model_crosstalk=False),
    "torchoptics_f64_windows": lambda im, ph: TorchOpticsFourF(im, ph, F64, windows=True),
    "fft_bound_windows": lambda im, ph: FFTBoundWindows(im, _psf(im, ph)),
}
for _name in PSF_VARIANTS:
    _kind, _model = _name.removesuffix("_box").split("_", 1)
    _BUILDERS[_name] = lambda im, ph, m=_model, box=_name.endswith("_box"), i=_kind == "infer": (
        MixsigLayer(im, ph, model_crosstalk=box, psf=PSF_MODELS[m], infer=i)
    )


def build(name: str, images: Tensor, phase0: Tensor):
    if name not in _BUILDERS:
        raise ValueError(f"unknown variant {name!r}")
    return _BUILDERS[name](images, phase0)


def sanity_check(name: str, variant) -> None:
    loss = variant.step()
    grad = variant.param.grad
    if not torch.isfinite(loss):
        raise RuntimeError(f"{name}: loss is {loss.item()}")
    if getattr(variant, "infer", False):
        return  # a forward only
    if grad is None or not torch.isfinite(grad).all() or not grad.any():
        raise RuntimeError(f"{name}: no (finite, non-zero) gradient")


# ----------------------------------------------------------------------------- correctness
def _unit(x: Tensor) -> Tensor:
    x = x.detach().double()
    return x / x.sum()


def rel_l2(a: Tensor, b: Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / a.norm())


def cosine(a: Tensor, b: Tensor) -> float:
    a, b = a.detach().double().flatten(), b.detach().double().flatten()
    return float(a @ b / (a.norm() * b.norm()))


def check_agreement(images: Tensor, phase0: Tensor, built: dict, info: bool) -> dict:
    """mixsig vs torchoptics: PSFs, camera tiles and dL/dφ (module docstring)."""
    out: dict = {"tolerance_rel_l2": CHECK_TOL}
    ref64 = MixsigRaw(images, phase0, torch.float64)
    ref32 = built["mixsig"]
    with torch.no_grad():
        psf64 = ref64.psf()
        cam32 = ref32.camera()
        out["mixsig_f32_vs_f64_camera"] = rel_l2(ref64.camera(psf64), cam32)
        out["box_light_fraction"] = float(crop_center(psf64, (BOX, BOX)).sum() / psf64.sum())
        # what the windows-only layer leaves out: the box's light outside the 8 windows
        out["windows_light_fraction_of_box"] = float(
            windows(psf64).sum() / crop_center(psf64, (BOX, BOX)).sum()
        )
        if "torchoptics_f64_windows" in built and "mixsig_windows" in built:
            to_psf = built["torchoptics_f64_windows"].psf()
            out["torchoptics_f64_windows_camera"] = rel_l2(
                built["mixsig_windows"].camera(), built["torchoptics_f64_windows"].camera(to_psf)
            )
        for name in ("torchoptics_f64", "torchoptics_f32"):
            if name not in built:
                continue
            psf = built[name].psf()
            out[f"{name}_psf_window"] = rel_l2(_unit(psf64), _unit(psf))
            out[f"{name}_psf_box"] = rel_l2(
                _unit(crop_center(psf64, (BOX, BOX))), _unit(crop_center(psf, (BOX, BOX)))
            )
            out[f"{name}_camera"] = rel_l2(cam32, built[name].camera(psf))
            out[f"{name}_throughput"] = float(psf.sum())
    if "mixsig_layer" in built:  # the layer's camera plane vs fraunhofer_psf (same mask)
        with torch.no_grad():
            plane = built["mixsig_layer"].layer.camera_plane_psf()
        out["mixsig_layer_psf_window"] = rel_l2(_unit(psf64), _unit(plane))
    checked = [
        k for k in out if k.startswith(("torchoptics", "mixsig_layer")) and "throughput" not in k
    ]
    if "torchoptics_f64" in built:
        to64 = built["torchoptics_f64"]
        to64.step()
        ref64.step()
        out["info_torchoptics_f64_grad_flat"] = rel_l2(ref64.doe_grad(), to64.doe_grad())
        out["info_torchoptics_f64_grad_flat_cosine"] = cosine(ref64.doe_grad(), to64.doe_grad())
        ill = to64.illumination()
        out["info_illumination_amplitude_rel_std"] = float(ill.abs().std() / ill.abs().mean())
        out["info_illumination_phase_std_rad"] = float(ill.angle().std())
        lit = MixsigRaw(images, phase0, torch.float64, illumination=ill)
        lit.step()
        out["torchoptics_f64_grad"] = rel_l2(lit.doe_grad(), to64.doe_grad())
        out["torchoptics_f64_grad_cosine"] = cosine(lit.doe_grad(), to64.doe_grad())
        checked.append("torchoptics_f64_grad")
        if info:  # a mask that throws light over the whole window (not checked)
            g = torch.Generator().manual_seed(SEED + 1)
            rnd = 2 * math.pi * torch.rand(DOE_PIXELS, DOE_PIXELS, generator=g, dtype=torch.float64)
            with torch.no_grad():
                a = MixsigRaw(images, rnd, torch.float64).psf()
                b = TorchOpticsFourF(images, rnd, torch.float64).psf()
            out["info_random_phase_psf_window"] = rel_l2(_unit(a), _unit(b))
            out["info_random_phase_throughput"] = float(b.sum())
    out["passed"] = all(out[k] <= CHECK_TOL for k in checked) if checked else None
    out["checked"] = checked
    return out


# ----------------------------------------------------------------------------- timing, memory
def _proc_status_mb(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def maxrss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS


def child_peak(name: str, threads: int, steps: int = 3) -> dict:
    """Build one variant in a fresh process, run ``steps`` steps, report its peak RSS."""
    torch.set_num_threads(threads)
    images, phase0 = make_images(), design_phase()
    variant = build(name, images, phase0)
    before = _proc_status_mb("VmRSS")
    for _ in range(steps):
        variant.step()
    peak = _proc_status_mb("VmHWM") or maxrss_mb()
    return {"peak_mb": peak, "step_mb": None if before is None else peak - before}


def measure_children(names: list[str], threads: int, steps: int) -> dict:
    result = {}
    for name in names:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--_child", name]
        cmd += ["--threads", str(threads), "--child-steps", str(steps)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
            result[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        except (subprocess.SubprocessError, OSError, ValueError, IndexError) as e:
            result[name] = {"peak_mb": None, "step_mb": None, "error": f"{type(e).__name__}"}
    return result


def time_rounds(steps: dict[str, Callable[[], Tensor]], rounds: int, warmup: int) -> tuple:
    reps: dict[str, int] = {}
    for name, step in steps.items():
        fastest = math.inf
        for _ in range(warmup):
            t0 = time.perf_counter()
            step()
            fastest = min(fastest, time.perf_counter() - t0)
        reps[name] = max(1, min(100, round(ROUND_TARGET_S / max(fastest, 1e-6))))
    times: dict[str, list[float]] = {n: [] for n in steps}
    order = list(steps)
    rng = random.Random(SEED)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            step, n = steps[name], reps[name]
            t0 = time.perf_counter()
            for _ in range(n):
                step()
            times[name].append((time.perf_counter() - t0) / n)
    return times, reps


def _load() -> tuple[float, float, float] | None:
    try:
        return tuple(round(x, 2) for x in os.getloadavg())  # type: ignore[return-value]
    except OSError:
        return None


def _fmt(x: float | None, spec: str = ".3g") -> str:
    return "—" if x is None else format(x, spec)


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10, help="timed rounds (default 10)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per variant (≥ 1)")
    ap.add_argument("--quick", action="store_true", help="2 rounds, 1 warm-up: a smoke test")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--json", type=Path, help="write the summary to this JSON file")
    ap.add_argument(
        "--memory",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="per-variant peak RSS in child processes (default: on, off with --quick)",
    )
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    ap.add_argument("--child-steps", type=int, default=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._child:
        print(json.dumps(child_peak(args._child, args.threads, args.child_steps)))
        return 0

    rounds = 2 if args.quick else args.rounds
    warmup = 1 if args.quick else max(1, args.warmup)
    torch.set_num_threads(args.threads)
    load_start = _load()
    images, phase0 = make_images(), design_phase()

    try:
        import torchoptics

        to_version: str | None = torchoptics.__version__
    except ImportError:
        to_version = None

    built: dict = {}
    skipped: dict[str, str] = {}
    for name in VARIANTS + PSF_VARIANTS:
        if name.startswith("torchoptics") and to_version is None:
            skipped[name] = "torchoptics is not installed (pip install torchoptics)"
            continue
        if name in QUICK_SKIP and args.quick:
            skipped[name] = "--quick"
            continue
        try:
            variant = build(name, images, phase0)
            sanity_check(name, variant)
        except Exception as e:  # noqa: BLE001 - a missing or broken variant must not stop the rest
            if name in ("mixsig", "fft_bound", "optics_mixsig", "mixsig_windows"):
                raise
            skipped[name] = f"{type(e).__name__}: {e}"
            continue
        built[name] = variant
    for name, why in skipped.items():
        print(f"[skipped] {name}: {why}")

    # -- correctness ------------------------------------------------------------------------
    check = check_agreement(images, phase0, built, info=not args.quick)
    print(
        f"\nsampling: λ = {WAVELENGTH_M * 1e9:g} nm, Δu = {DOE_PITCH_M * 1e6:g} µm, N = "
        f"{DOE_PIXELS}, Q = {OVERSAMPLE}, f = Q·N·Δu²/λ = {FOCAL_M * 1e3:.4g} mm → camera pitch "
        f"λf/(QNΔu) = {SAMPLING.sim_pitch_m * 1e6:.4g} µm = torchoptics' grid spacing, "
        f"{GRID}² samples; box {BOX}² (holds {check['box_light_fraction']:.4f} of the light)"
    )
    print(f"correctness (each PSF normalised to unit sum; tolerance rel. L2 ≤ {CHECK_TOL:g}):")
    print(f"  mixsig float32 vs float64 camera tiles     {check['mixsig_f32_vs_f64_camera']:.2e}")
    for name in ("torchoptics_f64", "torchoptics_f32"):
        if f"{name}_psf_window" not in check:
            continue
        print(
            f"  {name:<16} PSF {GRID}² {check[f'{name}_psf_window']:.2e}, box {BOX}² "
            f"{check[f'{name}_psf_box']:.2e}, camera tiles (64×8×28×28) "
            f"{check[f'{name}_camera']:.2e}"
        )
    if "torchoptics_f64_windows_camera" in check:
        print(
            f"  windows only (each channel its own {KERNEL}×{KERNEL} window, "
            f"{check['windows_light_fraction_of_box']:.3f} of the box's light): "
            f"torchoptics_f64 camera tiles {check['torchoptics_f64_windows_camera']:.2e}"
        )
    if "mixsig_layer_psf_window" in check:
        print(
            f"  mixsig_layer camera plane vs fraunhofer_psf  {check['mixsig_layer_psf_window']:.2e}"
        )
    if "torchoptics_f64_grad" in check:
        print(
            f"  dL/dφ, mixsig f64 given torchoptics' DOE illumination vs torchoptics f64: "
            f"rel. L2 {check['torchoptics_f64_grad']:.2e}, "
            f"cosine {check['torchoptics_f64_grad_cosine']:.6f}"
        )
        print(
            f"  (info) dL/dφ with mixsig's ideal flat illumination: rel. L2 "
            f"{check['info_torchoptics_f64_grad_flat']:.2e}, cosine "
            f"{check['info_torchoptics_f64_grad_flat_cosine']:.4f}: torchoptics' first lens "
            f"lights the DOE with {check['info_illumination_amplitude_rel_std']:.1%} rms amplitude"
            f" and {check['info_illumination_phase_std_rad']:.3f} rad rms phase ripple"
        )
    if "info_random_phase_psf_window" in check:
        print(
            f"  (info) uniform random-phase mask: PSF rel. L2 "
            f"{check['info_random_phase_psf_window']:.2e}, torchoptics throughput "
            f"{check['info_random_phase_throughput']:.3f} vs 1 (its lens apertures vignette)"
        )
    if "torchoptics_f64" not in built:
        print("  torchoptics not available: no peer to compare with")
    if check["passed"] is not None:
        print(f"  → {'PASS' if check['passed'] else 'FAIL'} ({', '.join(check['checked'])})")

    # -- timing -----------------------------------------------------------------------------
    steps = {name: variant.step for name, variant in built.items()}
    times, reps = time_rounds(steps, rounds, warmup)
    load_end = _load()
    memory = (not args.quick) if args.memory is None else args.memory
    children = measure_children(list(built), args.threads, 3) if memory else {}
    peak_rss = maxrss_mb()

    print(
        f"\ntorch {torch.__version__}, torchoptics {to_version or 'not installed'}, threads "
        f"{torch.get_num_threads()}, CPU {cpu_model()}; batch {BATCH}×1×{IMAGE}×{IMAGE}, mask "
        f"{DOE_PIXELS}², {CHANNELS} tiles; {rounds} rounds (interleaved, shuffled); load avg "
        f"{load_start} → {load_end}"
    )
    print(f"{'variant':<21}{'median ms':>11}{'min ms':>10}{'max ms':>10}{'reps':>6}"
          f"{'peak MB':>9}{'step MB':>9}")  # fmt: skip
    median_s: dict[str, float | None] = {}
    for name in VARIANTS + PSF_VARIANTS:
        if name not in times:
            median_s[name] = None
            print(f"{name:<21}{'skipped':>11}")
            continue
        ms = [t * 1e3 for t in times[name]]
        median_s[name] = statistics.median(times[name])
        mem = children.get(name, {})
        note = f"  (info: {INFO_ONLY[name]})" if name in INFO_ONLY else ""
        print(
            f"{name:<21}{statistics.median(ms):>11.2f}{min(ms):>10.2f}{max(ms):>10.2f}"
            f"{reps[name]:>6}{_fmt(mem.get('peak_mb'), '.0f'):>9}"
            f"{_fmt(mem.get('step_mb'), '.0f'):>9}{note}"
        )

    def ratio(num: str, den: str) -> tuple[float | None, float | None, float | None]:
        if num not in times or den not in times:
            return None, None, None
        per_round = [a / b for a, b in zip(times[num], times[den])]
        return median_s[num] / median_s[den], min(per_round), max(per_round)

    ratios = {}
    for me in ("mixsig", "mixsig_layer"):
        for peer in ("torchoptics_f64", "torchoptics_f32", "torchoptics_f64_pad"):
            ratios[f"speedup_{me}_vs_{peer}"] = ratio(peer, me)
        ratios[f"ratio_{me}_vs_fft_bound"] = ratio(me, "fft_bound")
    ratios["speedup_optics_mixsig_vs_torchoptics_f64"] = ratio(
        "optics_torchoptics_f64", "optics_mixsig"
    )
    for me in ("mixsig_windows", "mixsig_layer_windows"):
        ratios[f"speedup_{me}_vs_torchoptics_f64_windows"] = ratio("torchoptics_f64_windows", me)
        ratios[f"ratio_{me}_vs_fft_bound_windows"] = ratio(me, "fft_bound_windows")
    print()
    for key, (r, lo, hi) in ratios.items():
        if r is None:
            continue
        target = ""
        if key == "speedup_mixsig_vs_torchoptics_f64":
            target = f"  target ≥ {TARGET_SPEEDUP:g}×: {'met' if r >= TARGET_SPEEDUP else 'MISSED'}"
        if key == "speedup_mixsig_windows_vs_torchoptics_f64_windows":
            target = f"  target ≥ {TARGET_SPEEDUP:g}×: {'met' if r >= TARGET_SPEEDUP else 'MISSED'}"
        if key in ("ratio_mixsig_vs_fft_bound", "ratio_mixsig_windows_vs_fft_bound_windows"):
            ok = r <= TARGET_BOUND_RATIO
            target = f"  target ≤ {TARGET_BOUND_RATIO:g}×: {'met' if ok else 'MISSED'}"
        print(f"{key:<44}{r:>9.2f}×  (per round {lo:.2f}–{hi:.2f}){target}")
    psf_ratios = {}
    for kind, suffix in (("layer", ""), ("layer", "_box"), ("infer", "")):
        for model in list(PSF_MODELS)[1:]:
            key = f"ratio_{kind}_{model}{suffix}_vs_point"
            psf_ratios[key] = ratio(f"{kind}_{model}{suffix}", f"{kind}_point{suffix}")
    psf_target = TARGET_PSF_MODEL_RATIO
    print(f"\nthe PSF model's cost (OpticalConv2d, DOE space; target ≤ {psf_target:g}×):")
    for key, (r, lo, hi) in psf_ratios.items():
        if r is not None:
            ok = "met" if r <= psf_target else "MISSED"
            print(f"{key:<44}{r:>9.2f}×  (per round {lo:.2f}–{hi:.2f})  {ok}")
    print(f"peak RSS of this process (getrusage): {peak_rss:.0f} MB")

    if args.json:
        summary = {
            "speedup_vs_torchoptics": ratios["speedup_mixsig_vs_torchoptics_f64"][0],
            "ratio_vs_fft_bound": ratios["ratio_mixsig_vs_fft_bound"][0],
            "peak_rss_mb": peak_rss,
            "speedup_vs_torchoptics_f32": ratios["speedup_mixsig_vs_torchoptics_f32"][0],
            "speedup_vs_torchoptics_windows": ratios[
                "speedup_mixsig_windows_vs_torchoptics_f64_windows"
            ][0],
            "ratio_vs_fft_bound_windows": ratios["ratio_mixsig_windows_vs_fft_bound_windows"][0],
            "ratios": {k: {"median": v[0], "min": v[1], "max": v[2]} for k, v in ratios.items()},
            "psf_model_ratios": {
                k: {"median": v[0], "min": v[1], "max": v[2]} for k, v in psf_ratios.items()
            },
            "median_s": median_s,
            "min_s": {n: min(t) for n, t in times.items()},
            "max_s": {n: max(t) for n, t in times.items()},
            "times_s": times,
            "reps": reps,
            "memory_mb": children,
            "check": check,
            "skipped": skipped,
            "rounds": rounds,
            "torch": torch.__version__,
            "torchoptics": to_version,
            "threads": torch.get_num_threads(),
            "cpu": cpu_model(),
            "load_avg": {"start": load_start, "end": load_end},
            "config": {
                "wavelength_m": WAVELENGTH_M,
                "doe_pitch_m": DOE_PITCH_M,
                "doe_pixels": DOE_PIXELS,
                "oversample": OVERSAMPLE,
                "focal_length_m": FOCAL_M,
                "batch": BATCH,
                "image": IMAGE,
                "channels": CHANNELS,
                "kernel": KERNEL,
                "tile_pitch_px": PITCH,
                "box_px": BOX,
                "fft_size": FULL,
            },
        }
        write_json(args.json, summary)
        print(f"wrote {args.json}")
    return 0 if check["passed"] is not False else 1


if __name__ == "__main__":
    sys.exit(main())
