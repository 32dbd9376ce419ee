"""`OpticalConv2d`: a convolution computed by an incoherent 4f system with a DOE, read by a camera.

Owns the optical convolution layer of design §3 (after Chang et al., Sci. Rep. 8, 12324, 2018):
one intensity image enters a 4f system whose Fourier-plane DOE makes a camera-plane PSF holding
K sub-PSFs tiled side by side (`mixsig.optics.synthesis.TileLayout`); the camera image is
cropped into K channels, digitised by the analog chain of `mixsig.signal` (distortion, shot and
read noise, unsigned ADC) and only then gets the digital bias.

Conventions (the physics of `mixsig.optics`, camera pixels = input pixels, magnification 1):

* Output channel t equals ``conv2d(x, weight=h_t)`` — a cross-correlation, like `nn.Conv2d` —
  where h_t is the k × k window of the camera-plane PSF around tile centre d_t (window index
  k//2 on the tile centre), and the padding is k//2 before and k − 1 − k//2 after each axis
  ('same' size H × W; for even k this is one pixel different from torch's ``padding="same"``).
  Physically: the 4f system images the input point-reflected, and each channel's camera crop is
  read out point-reflected, the two flips cancelling (`mixsig.optics.propagation`). Computed by
  `fft_convolve_otf` with the point-reflected PSF, "full" mode, then cropped.
* ``signed``: pseudo-negative kernels. Optical channel 2i carries W⁺_i = relu(W_i), 2i + 1
  carries W⁻_i = relu(−W_i); both pass the camera (unsigned ADC) and are subtracted digitally.
* ``model_crosstalk=False``: each channel is convolved with its own k × k window only; light the
  PSF puts anywhere else is ignored (exact for ideal kernels at pitch ≥ H + k − 1, an
  idealisation for a realised or trained DOE, whose stray light does reach the camera).
  ``True``: the whole visible camera plane (tile centres ± (H − 1)) is convolved with the input
  and cropped, so leakage between tiles and stray light inside the crops are included; the PSF
  is zero outside the simulated window λf/Δu.
* ``coherent=True``: output = |√x ∗ h_c|² with the input amplitude √intensity and h_c the
  camera-plane field (kernel mode: real amplitude kernels, any sign); needs camera pitch =
  simulation pitch (pool 1), so the field resolves only 2Q-pixel periods: keep kernels smooth.
* Sampling: by default (`default_sampling`) Chang et al.'s 532 nm, f = 200 mm, 6 µm DOE pixels,
  Q = 2 and one camera pixel per diffraction-limited spot λf/(N·Δu) (pool 2), with the
  smallest N whose window holds the tiled extent (N = 128 for 16 tiles of 28×28 images, 5×5
  kernels). More DOE pixels per camera pixel (a finer DOE, pool 4) realise kernels better.
* Chain: input DAC (SLM levels) → optics → camera chain (``build_chain(hardware,
  signed=False)``) → pair subtraction → digital bias. FFT round-off below 0 is clipped in the
  forward value only (intensities are ≥ 0; the gradient is unchanged).

Parameterisations:

* ``"kernel"`` (ideal optics): a trainable `weight` (K, 1, k, k) as in `nn.Conv2d` (signed: split
  into W⁺/W⁻; unsigned: |W|; coherent: (C, 1, k, k) amplitudes, C optical channels). The
  non-negative optical kernel bank is normalised to Σ = 1 (coherent: Σ|a|² = 1): all the light
  of a lossless DOE in the windows, so outputs are fractions of the input light per pixel.
  `synthesize_doe` fits a phase mask to the tiled bank (`mixsig.optics.synthesis`), quantizes
  it to ``doe_levels`` and switches the layer to the *realised* PSF of that mask (computed
  through `camera_psf`), freezing the optics; recalibrate the ADC afterwards
  (`mixsig.calibrate`), since the realised PSF carries less light (see the throughput).
* ``"doe"``: a trainable phase mask `phase_rad` (N × N); the PSF is computed from it (through
  the STE quantizer when ``doe_levels`` is set) once per forward. Initialised by synthesising
  tiled Gabor-like kernels (``doe_init="gabor"``), never from a flat or random mask, which is
  what lets training collapse to a single point PSF (Chang et al.); `optical_regularizer`
  (light outside the windows + imbalance between windows, each in [0, 1]) keeps it spread: add
  λ·regulariser to the loss, λ comparable to the task loss's reward for concentrating light
  (a toy loss −share of window 0 with λ = 1 settles at 17/32 for that window, 5/32 for each
  of three others; λ = 0 collapses). It evaluates the PSF itself (one more PSF per step).

Fabrication (design §3):

* ``etch_scale`` α: an etch-depth or wavelength error scales the fabricated phase,
  φ → α·φ_fab (`mixsig.optics.doe.phase_scale`), with
  α = (n(λ) − 1)·h_real / ((n(λ₀) − 1)·h_design) · λ₀/λ
  (λ₀, h_design the design wavelength and etch depth): an etch depth off by x (relative) gives
  α = 1 + x. φ_fab is the phase the optics use at α = 1 (`_phase`: the STE-quantized phase,
  on the L levels in [0, 2π); wrapped to [0, 2π) first when ``doe_levels`` is None, since
  the etched heights are the wrapped ones). It applies in the "doe" and "realised" modes; the
  ideal kernels of "kernel" mode have no DOE, so α has no effect there (it takes effect once
  `synthesize_doe` switches to the realised PSF). A blazed profile then puts sinc²(m − α) of
  the light into order m: the shortfall from α = 1 leaks into the zero order on the optical
  axis. A plain float attribute (not in the state dict: checkpoints are unchanged), part of
  the OTF cache key; α = 1 computes exactly what a layer without it computes.
* ``avoid_zero_order``: the tile layout leaves the optical axis free (`TileLayout.build` with
  ``avoid_axis``): an odd × odd grid with an empty centre slot on the axis, so the zero-order
  spot's image of the input (H × W around the axis) reaches no channel's crop — for any
  pitch ≥ H, in particular the default H + k − 1; with ``model_crosstalk`` this is exact.

The PSF and its OTF are computed once per forward; with no optical tensor needing a gradient
(`freeze_optics`, realised mode, or ``torch.no_grad``) the OTF is cached, keyed on the optical
tensors' ``_version`` counters (an in-place update, an optimiser step or `load_state_dict`
invalidates it).
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor, nn

from mixsig.config.hardware import HardwareConfig
from mixsig.config.io import ConfigError
from mixsig.optics.doe import phase_scale, quantize_phase, wrap_phase
from mixsig.optics.fftconv import OTF, fft_convolve_otf, otf
from mixsig.optics.sampling import FourierSampling
from mixsig.optics.synthesis import SynthesisResult, TileLayout, realised_psf, synthesize_doe
from mixsig.signal import build_chain, build_dac

PARAMETERISATIONS = ("kernel", "doe")
DOE_INITS = ("gabor", "random_kernels", "random_phase")
# Chang et al. 2018: 532 nm, f = 200 mm, 6 µm DOE pixels
DEFAULT_WAVELENGTH_M = 532e-9
DEFAULT_FOCAL_LENGTH_M = 0.2
DEFAULT_DOE_PITCH_M = 6e-6


def default_sampling(extent_px: int, pool: int = 2) -> FourierSampling:
    """Chang et al.'s optics (532 nm, f = 200 mm, 6 µm DOE pixels), Q = 2, and camera pixels of
    ``pool`` simulation samples (pool = Q: one camera pixel per diffraction-limited spot
    λf/(N·Δu)), with the smallest even N whose J = 2N/pool camera pixels hold ``extent_px``."""
    n = 2 * math.ceil(extent_px * pool / 4)
    sim_pitch_m = DEFAULT_WAVELENGTH_M * DEFAULT_FOCAL_LENGTH_M / (2 * n * DEFAULT_DOE_PITCH_M)
    return FourierSampling(
        DEFAULT_WAVELENGTH_M,
        DEFAULT_FOCAL_LENGTH_M,
        DEFAULT_DOE_PITCH_M,
        n,
        2,
        camera_pitch_m=None if pool == 1 else pool * sim_pitch_m,
    )


def _take_box(plane: Tensor, box: tuple[tuple[int, int], tuple[int, int]]) -> Tensor:
    """The offsets [y0, y1] × [x0, x1] (inclusive, from the axis J//2) of a plane; zero outside."""
    (y0, y1), (x0, x1) = box
    j1, j2 = plane.shape[-2:]
    top, left = j1 // 2 + y0, j2 // 2 + x0
    bottom, right = j1 // 2 + y1 + 1, j2 // 2 + x1 + 1
    pads = (max(0, -left), max(0, right - j2), max(0, -top), max(0, bottom - j1))
    if any(pads):
        plane = torch.nn.functional.pad(plane, pads)
        top, left = top + pads[2], left + pads[0]
        bottom, right = bottom + pads[2], right + pads[0]
    return plane[..., top:bottom, left:right]


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


class OpticalConv2d(nn.Module):
    """A K-channel convolution of one intensity image on a 4f system with a DOE (module docs).

    Args:
        out_channels: K, the digital output channels.
        kernel_size: k (square kernels).
        image_size: H or (H, W) of the input images; the output is H × W ('same').
        in_channels: must be 1: a 4f system convolves one optical input image.
        sampling: the DOE and camera grids (default: `default_sampling` of the tiled extent).
        hardware: the camera chain (DAC = SLM levels, distortion, noise, ADC); ``weights`` is
            unused (the DOE realises the kernels, quantized by ``doe_levels``).
        parameterisation: ``"kernel"`` or ``"doe"``.
        signed: pseudo-negative pairs (2K optical channels).
        tile_pitch_px: tile pitch P in camera pixels (default H + k − 1, the smallest without
            overlap); smaller needs ``model_crosstalk``.
        model_crosstalk: convolve the whole visible camera plane (leakage, stray light).
        coherent: |√x ∗ h_c|² instead of x ∗ h_I.
        doe_levels: L fabricated phase levels (None: continuous phase).
        bias: a digital bias after the ADC.
        psf_method: ``"exact"`` or ``"sum"`` camera-pixel integration (`camera_psf`).
        doe_init: ``"gabor"``, ``"random_kernels"``, ``"random_phase"`` or an N × N tensor.
        dtype: float32 (default) or float64.
        etch_scale: α ∈ (0, 2], the fabrication phase scale: the optics use α·φ_fab
            (etch-depth / wavelength error; α = 1 + x for an etch depth off by x). "doe" and
            "realised" modes only; change it with `set_etch_scale` (module docstring).
        avoid_zero_order: an odd × odd tile grid with its centre slot, on the optical axis,
            left empty, so the undiffracted zero-order light reaches no channel (module
            docstring; `TileLayout.build` ``avoid_axis``).
    """

    def __init__(
        self,
        out_channels: int,
        kernel_size: int,
        *,
        image_size: int | tuple[int, int],
        in_channels: int = 1,
        sampling: FourierSampling | None = None,
        hardware: HardwareConfig | dict | None = None,
        parameterisation: str = "kernel",
        signed: bool = True,
        tile_pitch_px: int | tuple[int, int] | None = None,
        model_crosstalk: bool = False,
        coherent: bool = False,
        doe_levels: int | None = 16,
        bias: bool = True,
        psf_method: str = "exact",
        doe_init: str | Tensor = "gabor",
        dtype: torch.dtype = torch.float32,
        etch_scale: float = 1.0,
        avoid_zero_order: bool = False,
    ) -> None:
        super().__init__()
        _check_arguments(in_channels, out_channels, parameterisation, doe_levels, dtype)
        if psf_method not in ("exact", "sum"):
            raise ValueError(f"psf_method must be 'exact' or 'sum', got {psf_method!r}")
        self.out_channels = out_channels
        self.parameterisation = parameterisation
        self.signed = bool(signed)
        self.coherent = bool(coherent)
        self.doe_levels = doe_levels
        self.psf_method = psf_method
        self.etch_scale = etch_scale  # validates
        self.avoid_zero_order = bool(avoid_zero_order)
        self.layout = TileLayout.build(
            self.optical_channels,
            kernel_size,
            image_size,
            tile_pitch_px,
            avoid_axis=self.avoid_zero_order,
        )
        self.kernel_size = self.layout.kernel_size  # an int (square kernels)
        self._model_crosstalk = False
        self.model_crosstalk = model_crosstalk  # validates the pitch
        self.sampling = (
            sampling
            if sampling is not None
            else default_sampling(max(self.layout.extent_px), pool=1 if coherent else 2)
        )
        self._check_window()
        hw = HardwareConfig() if hardware is None else HardwareConfig.model_validate(hardware)
        self.hardware = hw
        self.dac = build_dac(hw)
        self.chain = build_chain(hw, signed=False)  # camera pixels: intensities
        self._place_sensor_maps()
        self.bias = nn.Parameter(torch.zeros(out_channels, dtype=dtype)) if bias else None
        if parameterisation == "kernel":
            self._init_kernel(dtype)
        else:
            self._init_doe(doe_init, dtype)
        self._cache: tuple[tuple, _Transfer] | None = None

    # -- construction -----------------------------------------------------------------------
    @property
    def optical_channels(self) -> int:
        """2K with pseudo-negative pairs, else K."""
        return 2 * self.out_channels if self.signed else self.out_channels

    @property
    def image_size(self) -> tuple[int, int]:
        return self.layout.image_size

    @property
    def etch_scale(self) -> float:
        """α: the optics use α·φ_fab ("doe" and "realised" modes; module docstring)."""
        return self._etch_scale

    @etch_scale.setter
    def etch_scale(self, alpha: float) -> None:
        self._etch_scale = _check_etch_scale(alpha)

    def set_etch_scale(self, alpha: float) -> OpticalConv2d:
        """Set the fabrication phase scale α ∈ (0, 2] (the cached OTF follows); returns self."""
        self.etch_scale = alpha
        return self

    @property
    def model_crosstalk(self) -> bool:
        return self._model_crosstalk

    @model_crosstalk.setter
    def model_crosstalk(self, value: bool) -> None:
        if not value and self.layout.overlaps:
            raise ValueError(_overlap_message(self.layout))
        self._model_crosstalk = bool(value)

    def _check_window(self) -> None:
        extent = max(self.layout.extent_px)
        s = self.sampling
        if extent > s.camera_pixels:  # integers: exact (E ≤ J means E·pool ≤ M: it fits)
            try:
                s.check_window(extent)
            except ValueError as err:
                raise ValueError(f"{self._tiles_text()}: {err}") from None
            raise ValueError(
                f"{self._tiles_text()}: the tiled extent {extent} px exceeds the "
                f"{s.camera_pixels} whole camera pixels of the window; use more DOE pixels "
                f"(N ≥ {math.ceil(extent * s.pool / s.oversample)}) or a smaller pitch"
            )
        if self.coherent and s.pool != 1:
            raise ValueError(
                f"coherent mode samples the field at the camera pixels: it needs camera pitch = "
                f"simulation pitch (pool 1), got pool {s.pool}; use camera_pitch_m=None"
            )

    def sensor_index(
        self, sensor_shape: tuple[int, int], axis_px: tuple[int, int] | None = None
    ) -> tuple[Tensor, Tensor]:
        """Where each analog output pixel lies on a camera sensor of ``sensor_shape`` pixels:
        index tensors (rows, cols), each (optical channels, H, W), such that output pixel
        (t, i, j) is read from sensor pixel (rows[t, i, j], cols[t, i, j]).

        The 4f system images input pixel m to the camera offset (H//2, W//2) − m from the
        optical axis (point reflection), so output pixel (i, j) of the tile centred at d_t is
        the camera pixel at offset d_t + (H//2 − i, W//2 − j): each channel's crop is read
        point-reflected (module docstring). ``axis_px``: the sensor pixel (row, col) on the
        optical axis; None puts it at the centre (H_s//2, W_s//2). Raises `ConfigError` (the
        hardware's maps do not fit the layer) when a tile falls outside the sensor."""
        hs, ws = (int(v) for v in sensor_shape)
        ay, ax = (hs // 2, ws // 2) if axis_px is None else (int(v) for v in axis_px)
        h, w = self.image_size
        d = torch.tensor(self.layout.offsets_px)  # (C, 2)
        rows = ay + d[:, 0, None, None] + h // 2 - torch.arange(h)[None, :, None]
        cols = ax + d[:, 1, None, None] + w // 2 - torch.arange(w)[None, None, :]
        rows, cols = rows.expand(-1, h, w), cols.expand(-1, h, w)
        r0, r1, c0, c1 = int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())
        if r0 < 0 or c0 < 0 or r1 >= hs or c1 >= ws:
            raise ConfigError(
                f"{self._tiles_text()}: the camera tiles cover sensor rows {r0}…{r1} and "
                f"columns {c0}…{c1} with the optical axis at sensor pixel {(ay, ax)}, outside "
                f"the measured {hs}×{ws} sensor maps; move the axis (sensor_axis_px) or measure "
                f"a larger sensor region (≥ {r1 - r0 + 1}×{c1 - c0 + 1} px around the tiles)"
            )
        return rows, cols

    def _place_sensor_maps(self) -> None:
        """Crop measured sensor PRNU/DSNU maps (hardware ``gain_offset`` ``maps:``) to the
        optical channels' camera tiles (`sensor_index`)."""
        for d in self.chain.distortions:
            maps = getattr(d, "sensor_maps", None)
            if maps is not None:
                d.place_sensor_maps(*self.sensor_index(tuple(maps[0].shape), maps[2]))

    def _tiles_text(self) -> str:
        (r, c), (py, px) = self.layout.grid, self.layout.pitch_px
        return f"{self.optical_channels} tiles ({r}×{c} grid, pitch {py}×{px} px)"

    def _init_kernel(self, dtype: torch.dtype) -> None:
        k = self.kernel_size
        rows = self.optical_channels if self.coherent else self.out_channels
        bound = 1 / k  # nn.Conv2d's kaiming-uniform bound for one input channel
        self.weight = nn.Parameter(torch.empty(rows, 1, k, k, dtype=dtype).uniform_(-bound, bound))
        n = self.sampling.doe_pixels
        self.register_buffer("fitted_phase_rad", torch.zeros(n, n, dtype=torch.float64))
        self.register_buffer("realised", torch.tensor(False))

    def _init_doe(self, doe_init: str | Tensor, dtype: torch.dtype) -> None:
        n = self.sampling.doe_pixels
        if isinstance(doe_init, Tensor):
            if tuple(doe_init.shape) != (n, n):
                raise ValueError(f"doe_init is {tuple(doe_init.shape)}, the DOE is {n}×{n}")
            phase = doe_init.detach().to(torch.float64)
        elif doe_init == "random_phase":
            phase = 2 * math.pi * torch.rand(n, n, dtype=torch.float64)
        elif doe_init in DOE_INITS:
            phase = self._synthesised_init(doe_init)
        else:
            raise ValueError(f"doe_init must be one of {DOE_INITS} or an N×N tensor")
        self.phase_rad = nn.Parameter(phase.to(dtype))

    def _synthesised_init(self, kind: str, steps: int = 150) -> Tensor:
        """A phase whose PSF holds a tiled Gabor-like (or random) non-collapsed kernel bank."""
        c, k = self.optical_channels, self.kernel_size
        if kind == "random_kernels":
            bank = torch.rand(c, k, k, dtype=torch.float64)
        elif self.signed and not self.coherent:
            g = gabor_bank(self.out_channels, k, signed=True)
            bank = torch.stack([torch.relu(g), torch.relu(-g)], dim=1).reshape(c, k, k)
        else:
            # non-negative amplitudes; a coherent field has half the intensity's bandwidth
            period = 2.0 * self.sampling.oversample if self.coherent else 2.0
            bank = gabor_bank(c, k, signed=False, min_period_px=period)
        bank = bank / (bank.pow(2).sum().sqrt() if self.coherent else bank.sum())
        fit = self._fit(bank, levels=None, steps=steps, quantized_steps=0, efficiency_weight=0.03)
        return fit.phase_rad

    # -- the optical kernels ----------------------------------------------------------------
    @property
    def mode(self) -> str:
        """``"kernel"`` (ideal kernels), ``"realised"`` (the synthesised DOE) or ``"doe"``."""
        if self.parameterisation == "doe":
            return "doe"
        return "realised" if bool(self.realised) else "kernel"

    def optical_kernels(self) -> Tensor:
        """The ideal kernel bank (C, k, k) of kernel mode: non-negative, Σ = 1 (coherent:
        real amplitudes, Σa² = 1), pairs (W⁺_i, W⁻_i) interleaved when ``signed``."""
        if self.parameterisation != "kernel":
            raise RuntimeError("optical_kernels() belongs to the 'kernel' parameterisation")
        w = self.weight[:, 0]
        if self.coherent:
            return w / torch.sum(w**2).clamp_min(1e-300).sqrt()
        if self.signed:
            w = torch.stack([torch.relu(w), torch.relu(-w)], dim=1).reshape(-1, *w.shape[-2:])
        else:
            w = w.abs()
        return w / w.sum().clamp_min(1e-300)

    def _phase(self) -> Tensor:
        """The DOE phase the optics use (STE-quantized to ``doe_levels``), in the layer dtype."""
        if self.parameterisation == "doe":
            phi = self.phase_rad
        else:
            phi = self.fitted_phase_rad.to(self.weight.dtype)
        return quantize_phase(phi, self.doe_levels) if self.doe_levels else phi

    def _fabricated_phase(self) -> Tensor:
        """α·φ_fab: `_phase` scaled by ``etch_scale`` (continuous phases wrapped first, as
        etched); at α = 1 exactly `_phase`."""
        phi = self._phase()
        if self.etch_scale == 1.0:
            return phi
        if not self.doe_levels:
            phi = wrap_phase(phi)
        return phase_scale(phi, self.etch_scale)

    def camera_plane_psf(self) -> Tensor:
        """The camera-plane PSF (J × J; complex field when coherent), axis at J//2; the DOE
        phase is α·φ_fab (``etch_scale``) in the "doe" and "realised" modes."""
        j = self.sampling.camera_pixels
        if self.mode == "kernel":
            return self.layout.place(self.optical_kernels(), (j, j))
        return realised_psf(
            self._fabricated_phase(),
            self.sampling,
            coherent=self.coherent,
            method=self.psf_method,
        )

    def tile_kernels(self) -> Tensor:
        """The k × k sub-PSF windows (C, k, k) the channels see (conv2d weights h_t)."""
        if self.mode == "kernel":
            return self.optical_kernels()
        return self.layout.extract(self.camera_plane_psf())

    def psf(self) -> Tensor:
        """What one forward convolves with: the tile windows (C, k, k), or with
        ``model_crosstalk`` the visible box of the camera plane. Computed once per forward."""
        if not self.model_crosstalk:
            return self.tile_kernels()
        return _take_box(self.camera_plane_psf(), self.layout.visible_box())

    # -- the OTF and its cache --------------------------------------------------------------
    def _optical_tensors(self) -> list[Tensor]:
        if self.parameterisation == "doe":
            return [self.phase_rad]
        return [self.weight, self.fitted_phase_rad, self.realised]

    def _transfer(self, image_shape: tuple[int, int]) -> _Transfer:
        tensors = self._optical_tensors()
        key = (self.mode, self.model_crosstalk, self.etch_scale, image_shape) + tuple(
            (t.data_ptr(), t._version, t.dtype, t.device) for t in tensors
        )
        needs_graph = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
        if not needs_graph and self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        transfer = self._make_transfer(self.psf(), image_shape)
        self._cache = None if needs_graph else (key, transfer)
        return transfer

    def _make_transfer(self, psf: Tensor, image_shape: tuple[int, int]) -> _Transfer:
        reflected = torch.flip(psf, dims=(-2, -1))  # point reflection of the window / box
        if reflected.dim() == 2:  # the visible box: one plane
            reflected = reflected[None]
        parts = 1
        if reflected.is_complex():  # a complex field: real and imaginary parts stacked
            reflected, parts = torch.cat([reflected.real, reflected.imag], dim=0), 2
        if not self.model_crosstalk:
            k = self.kernel_size
            return _Transfer(otf(reflected, image_shape), ((k - 1 - k // 2,) * 2,), parts)
        (_, y1), (_, x1) = self.layout.visible_box()
        crops = tuple((y1 - dy, x1 - dx) for dy, dx in self.layout.offsets_px)
        return _Transfer(otf(reflected, image_shape), crops, parts)

    def invalidate_cache(self) -> None:
        """Drop the cached OTF (not needed after in-place updates: versions are tracked)."""
        self._cache = None

    # -- forward ----------------------------------------------------------------------------
    def optical_forward(self, x: Tensor) -> Tensor:
        """The camera's analog channels (B, C, H, W) for intensities x (B, 1, H, W): the optics
        only, before the camera chain."""
        h, w = x.shape[-2:]
        transfer = self._transfer((h, w))
        amp = torch.sqrt(x.clamp_min(0)) if self.coherent else x
        full = fft_convolve_otf(amp.to(self._dtype), transfer.otf, mode="full")
        if self.coherent:  # |field|²
            full = sum(part**2 for part in full.chunk(transfer.parts, dim=1))
        else:  # intensities: FFT round-off (~1e-7 of the peak in float32) must not go below 0
            full = full + (full.clamp_min(0) - full).detach()
        if not self.model_crosstalk:
            ((r, c),) = transfer.crops
            return full[..., r : r + h, c : c + w]
        plane = full[:, 0]
        return torch.stack([plane[:, r : r + h, c : c + w] for r, c in transfer.crops], dim=1)

    @property
    def _dtype(self) -> torch.dtype:
        return (self.phase_rad if self.parameterisation == "doe" else self.weight).dtype

    # The forward in two halves, the protocol `mixsig.eval` uses to evaluate Monte-Carlo draws
    # without recomputing the optics for each draw: `analog_result` is deterministic in eval
    # mode, `readout` holds every random part (the camera).
    def analog_result(self, x: Tensor) -> Tensor:
        """The camera's ideal analog image: input DAC and the optics, no camera yet."""
        self._check_input(x)
        if self.dac is not None:
            x = self.dac(x)
        return self.optical_forward(x)

    def readout(self, a: Tensor) -> Tensor:
        """The camera chain (distortion, noise, ADC), pseudo-negative pairs subtracted, bias."""
        y = self.chain(a)
        if self.signed:
            y = y[:, 0::2] - y[:, 1::2]
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1, 1)
        return y

    #: Monte-Carlo draws in the order of the plain batched forward (`mixsig.eval.evaluate`), so
    #: the fast path gives bitwise the accuracies the full forward gives
    monte_carlo_order = "batched"

    def forward(self, x: Tensor) -> Tensor:
        return self.readout(self.analog_result(x))

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(
                f"OpticalConv2d takes one intensity image per sample, (B, 1, H, W); got shape "
                f"{tuple(x.shape)}: a 4f system convolves a single optical input image "
                "(in_channels = 1)"
            )
        if tuple(x.shape[-2:]) != self.image_size:
            raise ValueError(
                f"input images are {tuple(x.shape[-2:])}, the layer was built for "
                f"{self.image_size} (the tile layout depends on the image size)"
            )

    # -- kernel space → DOE -----------------------------------------------------------------
    def _fit(self, bank: Tensor, **kwargs) -> SynthesisResult:
        j = self.sampling.camera_pixels
        target = self.layout.place(bank.detach().to(torch.float64), (j, j))
        windows = self.layout.window_mask((j, j))
        mask = self.layout.box_mask((j, j)) if self.model_crosstalk else windows
        return synthesize_doe(
            target,
            self.sampling,
            mask=mask,
            throughput_mask=windows,
            coherent=self.coherent,
            method=self.psf_method,
            **kwargs,
        )

    def synthesize_doe(self, **kwargs) -> SynthesisResult:
        """Fit a DOE to the current kernel bank, switch to its realised PSF, freeze the optics.

        The fit is over the kernel windows (with ``model_crosstalk``: the whole visible box,
        dark between the tiles), quantized to ``doe_levels``; keyword arguments go to
        `mixsig.optics.synthesis.synthesize_doe` (steps, lr, efficiency_weight, seed, ...).
        Returns its result (``fit_error``, ``throughput``, ``scale``).
        """
        if self.parameterisation != "kernel":
            raise RuntimeError("synthesize_doe() needs parameterisation='kernel'")
        result = self._fit(self.optical_kernels(), levels=self.doe_levels, **kwargs)
        with torch.no_grad():
            self.fitted_phase_rad.copy_(result.phase_rad)
            self.realised.fill_(True)
        self.freeze_optics()
        return result

    def freeze_optics(self) -> OpticalConv2d:
        """Stop training the optics (kernels or phase): later layers and the bias still train."""
        for p in (self.phase_rad,) if self.parameterisation == "doe" else (self.weight,):
            p.requires_grad_(False)
        return self

    def doe_phase(self) -> Tensor:
        """The DOE to fabricate: wrapped phase in [0, 2π) (on the L levels), N × N, float64."""
        if self.mode == "kernel":
            raise RuntimeError("no DOE yet: call synthesize_doe() on a kernel-space layer")
        if self.mode == "realised":
            return self.fitted_phase_rad.detach().clone()
        phi = self.phase_rad.detach().to(torch.float64)
        return (
            quantize_phase(phi, self.doe_levels, ste=False) if self.doe_levels else wrap_phase(phi)
        )

    # -- DOE-space regulariser --------------------------------------------------------------
    def window_energy(self) -> tuple[Tensor, Tensor]:
        """(E_t per tile window (C,), total light Σh on the camera plane) of the current PSF."""
        plane = self.camera_plane_psf()
        intensity = plane.abs() ** 2 if self.coherent else plane
        return self.layout.extract(intensity).sum(dim=(-2, -1)), intensity.sum()

    def optical_regularizer(self) -> Tensor:
        """stray + imbalance ∈ [0, 2]: the fraction of the camera light outside the kernel
        windows, plus (C·Σp_t² − 1)/(C − 1) with p_t = E_t/ΣE the windows' shares (0 when
        equal, 1 when one window takes all: the collapse to one point PSF)."""
        energy, total = self.window_energy()
        inside = energy.sum()
        stray = 1 - inside / total.clamp_min(1e-300)
        c = energy.numel()
        if c == 1:
            return stray
        p = energy / inside.clamp_min(1e-300)
        return stray + (c * torch.sum(p**2) - 1) / (c - 1)

    def extra_repr(self) -> str:
        (r, c), pitch = self.layout.grid, self.layout.pitch_px
        return (
            f"out_channels={self.out_channels}, kernel_size={self.kernel_size}, "
            f"image_size={self.image_size}, mode={self.mode}, signed={self.signed}, "
            f"tiles={r}x{c} pitch={pitch}, crosstalk={self.model_crosstalk}, "
            f"coherent={self.coherent}, doe={self.sampling.doe_pixels}², "
            f"levels={self.doe_levels}, etch_scale={self.etch_scale:g}, "
            f"avoid_zero_order={self.avoid_zero_order}"
        )


class _Transfer:
    """An OTF, the crop offsets of the output channels in the 'full' convolution, and the
    number of stacked field parts (2: real and imaginary, 1: a real PSF or real field)."""

    __slots__ = ("otf", "crops", "parts")

    def __init__(self, transfer: OTF, crops: tuple[tuple[int, int], ...], parts: int) -> None:
        self.otf = transfer
        self.crops = crops
        self.parts = parts


def _overlap_message(layout: TileLayout) -> str:
    h, w = layout.image_size
    k = layout.kernel_size
    py, px = layout.pitch_px
    my, mx = layout.min_pitch_px
    if py < my and layout.grid[0] > 1:
        return (
            f"tile pitch {py} px < image {h} + kernel {k} − 1 = {my} px: use tile_pitch_px ≥ "
            f"{my} or model_crosstalk=True"
        )
    return (
        f"tile pitch {px} px < image {w} + kernel {k} − 1 = {mx} px: use tile_pitch_px ≥ "
        f"{mx} or model_crosstalk=True"
    )


def _check_etch_scale(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise ValueError(f"etch_scale must be a real number in (0, 2], got {alpha!r}")
    value = float(alpha)
    if not 0 < value <= 2:  # also refuses NaN
        raise ValueError(
            f"etch_scale must be in (0, 2] (α = 1: the design etch depth and wavelength; "
            f"1 + x for an etch depth off by x), got {alpha!r}"
        )
    return value


def _check_arguments(
    in_channels: int,
    out_channels: int,
    parameterisation: str,
    doe_levels: int | None,
    dtype: torch.dtype,
) -> None:
    if in_channels != 1:
        raise ValueError(
            f"in_channels = {in_channels}: an OpticalConv2d convolves one optical input image "
            "(one intensity on the SLM); use in_channels=1 (e.g. greyscale, or one layer per "
            "colour channel)"
        )
    if isinstance(out_channels, bool) or not isinstance(out_channels, int) or out_channels < 1:
        raise ValueError(f"out_channels must be an integer ≥ 1, got {out_channels!r}")
    if parameterisation not in PARAMETERISATIONS:
        raise ValueError(
            f"parameterisation must be one of {PARAMETERISATIONS}, got {parameterisation!r}"
        )
    if doe_levels is not None and (
        isinstance(doe_levels, bool) or not isinstance(doe_levels, int) or doe_levels < 2
    ):
        raise ValueError(f"doe_levels must be an integer ≥ 2 or None, got {doe_levels!r}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")


__all__ = ["OpticalConv2d", "default_sampling", "gabor_bank"]
