"""`OpticalConv2d`: a convolution computed by an incoherent 4f system with a DOE, read by a camera.

Owns the optical convolution layer of design §3 (after Chang et al., Sci. Rep. 8, 12324, 2018),
a module over the functional core `mixsig.optics.functional` as ``nn.Conv2d`` is over
``F.conv2d``: one intensity image enters a 4f system whose Fourier-plane DOE makes a
camera-plane PSF holding K sub-PSFs tiled side by side (`mixsig.optics.tiles`); the camera
image is cropped into K channels, digitised by the analog chain of `mixsig.signal` (distortion,
shot and read noise, unsigned ADC) and only then gets the digital bias. The layer holds the
parameters, the OTF cache and the camera; the convolution conventions (cross-correlation,
'same' padding k//2 before, the two point reflections, windows vs. the crosstalk box, the
coherent |√x ∗ h_c|²) are those of `mixsig.optics.functional`, the geometry that of
`mixsig.optics.tiles`; `optical_regularizer` reaches the regulariser of every layer of a model.

* ``signed``: pseudo-negative kernels in the pair layout of `mixsig.nn.pairs` with one group
  per output channel: optical channel 2i carries W⁺_i = relu(W_i), 2i + 1 carries
  W⁻_i = relu(−W_i) (the order trained DOEs and per-tile camera maps are made with); both pass
  the camera (unsigned ADC) and are subtracted digitally.
* ``model_crosstalk``: convolve the whole visible camera plane (leakage, stray light) instead
  of each tile's own window (exact for ideal kernels at pitch ≥ H + k − 1).
* ``coherent=True``: kernel mode has real amplitude kernels, any sign; needs camera pitch =
  simulation pitch (pool 1), so the field resolves only 2Q-pixel periods: keep kernels smooth.
* Sampling: by default (`default_sampling`) Chang et al.'s 532 nm, f = 200 mm, 6 µm DOE pixels,
  Q = 2 and one camera pixel per diffraction-limited spot λf/(N·Δu) (pool 2), with the
  smallest N whose window holds the tiled extent (N = 128 for 16 tiles of 28×28 images, 5×5
  kernels). More DOE pixels per camera pixel (a finer DOE, pool 4) realise kernels better.
* Chain: input DAC (SLM levels) → optics → camera chain (``build_chain(hardware,
  signed=False)``) → pair subtraction → digital bias.

Parameterisations:

* ``"kernel"`` (ideal optics): a trainable `weight` (K, 1, k, k) as in `nn.Conv2d` (signed: split
  into W⁺/W⁻; unsigned: |W|; coherent: (C, 1, k, k) amplitudes, C optical channels). The
  non-negative optical kernel bank is normalised to Σ = 1 (coherent: Σ|a|² = 1): all the light
  of a lossless DOE in the windows, so outputs are fractions of the input light per pixel.
  `synthesize_doe` fits a phase mask to the tiled bank (`synthesize_tiles`), quantizes it to
  ``doe_levels`` and switches the layer to the *realised* PSF of that mask (computed through
  `camera_psf`), freezing the optics; recalibrate the ADC afterwards (`mixsig.calibrate`),
  since the realised PSF carries less light (see the throughput).
* ``"doe"``: a trainable phase mask `phase_rad` (N × N); the PSF is computed from it (through
  the STE quantizer when ``doe_levels`` is set) once per forward. Initialised by synthesising
  tiled Gabor-like kernels (``doe_init="gabor"``), never from a flat or random mask, which is
  what lets training collapse to a single point PSF (Chang et al.); the regulariser
  (`OpticalConv2d.optical_regularizer`, `spread_regularizer`: light outside the windows +
  imbalance between windows, each in [0, 1]) keeps it spread: add λ·`optical_regularizer`
  (model) to the loss, λ comparable to the task loss's reward for concentrating light (a toy
  loss −share of window 0 with λ = 1 settles at 17/32 for that window, 5/32 for each of three
  others; λ = 0 collapses). It evaluates the PSF itself (one more PSF per step).

Fabrication (design §3):

* ``etch_scale`` α: an etch-depth or wavelength error scales the fabricated phase,
  φ → α·φ_fab (`fabricated_phase`, `mixsig.optics.doe.phase_scale`), with
  α = (n(λ) − 1)·h_real / ((n(λ₀) − 1)·h_design) · λ₀/λ
  (λ₀, h_design the design wavelength and etch depth): an etch depth off by x (relative) gives
  α = 1 + x. φ_fab is the phase the optics use at α = 1 (the STE-quantized phase, on the L
  levels in [0, 2π); wrapped to [0, 2π) first when ``doe_levels`` is None, since the etched
  heights are the wrapped ones). It applies in the "doe" and "realised" modes; the ideal
  kernels of "kernel" mode have no DOE, so α has no effect there (it takes effect once
  `synthesize_doe` switches to the realised PSF). A blazed profile then puts sinc²(m − α) of
  the light into order m: the shortfall from α = 1 leaks into the zero order on the optical
  axis. A plain float attribute (not in the state dict: checkpoints are unchanged), part of
  the OTF cache key; α = 1 computes exactly what a layer without it computes.
* ``avoid_zero_order``: the tile layout leaves the optical axis free (`TileLayout.build` with
  ``avoid_axis``): an odd × odd grid with an empty centre slot on the axis, so the zero-order
  spot's image of the input (H × W around the axis) reaches no channel's crop — for any
  pitch ≥ H, in particular the default H + k − 1; with ``model_crosstalk`` this is exact.

PSF model ("doe" and "realised" modes; `mixsig.optics.psf_model`, `mixsig.optics.broadband`):
the DOE pixel envelope (``pixel_envelope``, on by default, ``fill_factor``) and a broadband
``spectrum`` (the PSF summed over its lines, the ``material``'s dispersion scaling the phase),
one convolution with the summed PSF; a layout where a higher order the model leaves out reaches
a channel is refused (`check_layout_orders`). The model is in the state dict (``_extra_state``);
a state without it (written before it existed) loads as the point-sampled monochromatic layer.

The PSF and its OTF are computed once per forward; with no optical tensor needing a gradient
(`freeze_optics`, realised mode, or ``torch.no_grad``) the OTF is cached, keyed on the optical
tensors' ``_version`` counters (an in-place update, an optimiser step or `load_state_dict`
invalidates it). The layer calls `otf` and `realised_psf` through this module's names (the
tests count those calls to check the cache), composing `psf_operand`, `otf` and `output_crops`
as `optical_transfer` does.

Size: this module is over 600 lines because it is one class, `OpticalConv2d`, whose public
surface (two parameterisations, three modes, synthesis, fabrication, regulariser, camera
geometry, the PSF model and its checkpoint state) is the layer's contract and whose methods
each delegate to `mixsig.optics` in a few lines; the physics and geometry live in
`mixsig.optics.functional` and `mixsig.optics.tiles`, the pair layout in `mixsig.nn.pairs`,
the defaults in `mixsig.optics.defaults`.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor, nn

from mixsig.config.hardware import HardwareConfig
from mixsig.nn.pairs import stack_pairs, subtract_pairs
from mixsig.optics.broadband import check_layout_orders, layout_orders_clear
from mixsig.optics.defaults import default_sampling, gabor_bank
from mixsig.optics.dispersion import Material
from mixsig.optics.doe import quantize_phase, wrap_phase
from mixsig.optics.fftconv import otf
from mixsig.optics.functional import (
    OpticalTransfer,
    fabricated_phase,
    optical_conv,
    psf_operand,
    spread_regularizer,
    synthesize_tiles,
    window_energy,
)
from mixsig.optics.psf_model import POINT_SAMPLED, PSFModel, decode_state, encode_state
from mixsig.optics.sampling import FourierSampling
from mixsig.optics.spectrum import Spectrum
from mixsig.optics.synthesis import SynthesisResult, TileLayout, realised_psf
from mixsig.optics.tiles import (
    check_fits,
    output_crops,
    overlap_message,
    sensor_index,
    tile_psf,
)
from mixsig.signal import build_chain, build_dac

PARAMETERISATIONS = ("kernel", "doe")
DOE_INITS = ("gabor", "random_kernels", "random_phase")


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
        pixel_envelope, fill_factor, spectrum, material: the `PSFModel`: the pixel envelope
            (fill factor ∈ (0, 1]), the spectrum (None: monochromatic at the sampling's
            wavelength) and the DOE material (a name, model or mapping; `material_from_spec`).
    """

    #: state-dict keys an older checkpoint may lack, whose shape is the stored one
    _optional_state = ("_extra_state",)

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
        pixel_envelope: bool = True,
        fill_factor: float = 1.0,
        spectrum: Spectrum | dict | None = None,
        material: Material | str | dict = "fused_silica",
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
        self.psf_model = PSFModel(
            pixel_envelope=pixel_envelope, fill_factor=fill_factor, spectrum=spectrum,
            material=material,
        )  # fmt: skip
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
            else default_sampling(
                max(self.layout.extent_px), pool=1 if coherent else 2, accept=self._orders_clear
            )
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
        self._cache: tuple[tuple, OpticalTransfer] | None = None

    # -- construction -----------------------------------------------------------------------
    @property
    def optical_channels(self) -> int:
        """2K with pseudo-negative pairs, else K."""
        return 2 * self.out_channels if self.signed else self.out_channels

    @property
    def pair_groups(self) -> int:
        """The groups of the pseudo-negative pair layout (`mixsig.nn.pairs`): K, one per output
        channel, i.e. the optical channels interleave W⁺_0, W⁻_0, W⁺_1, …"""
        return self.out_channels

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
            raise ValueError(overlap_message(self.layout))
        if hasattr(self, "sampling"):
            check_layout_orders(self.layout, self.sampling, self.psf_model, crosstalk=bool(value))
        self._model_crosstalk = bool(value)

    def _orders_clear(self, sampling: FourierSampling) -> bool:
        crosstalk = self.model_crosstalk
        return layout_orders_clear(self.layout, sampling, self.psf_model, crosstalk=crosstalk)

    def _check_window(self) -> None:
        check_fits(self.layout, self.sampling)
        check_layout_orders(
            self.layout, self.sampling, self.psf_model, crosstalk=self.model_crosstalk
        )
        if self.coherent and self.sampling.pool != 1:
            raise ValueError(
                f"coherent mode samples the field at the camera pixels: it needs camera pitch = "
                f"simulation pitch (pool 1), got pool {self.sampling.pool}; use "
                "camera_pitch_m=None"
            )

    def sensor_index(
        self, sensor_shape: tuple[int, int], axis_px: tuple[int, int] | None = None
    ) -> tuple[Tensor, Tensor]:
        """Where each analog output pixel lies on a camera sensor of ``sensor_shape`` pixels:
        index tensors (rows, cols), each (optical channels, H, W), such that output pixel
        (t, i, j) is read from sensor pixel (rows[t, i, j], cols[t, i, j])
        (`mixsig.optics.tiles.sensor_index`; ``axis_px`` the sensor pixel on the optical
        axis, None: the centre). Raises `ConfigError` when a tile falls outside the sensor."""
        return sensor_index(self.layout, sensor_shape, axis_px)

    def _place_sensor_maps(self) -> None:
        """Crop measured sensor PRNU/DSNU maps (hardware ``gain_offset`` ``maps:``) to the
        optical channels' camera tiles (`sensor_index`)."""
        for d in self.chain.distortions:
            maps = getattr(d, "sensor_maps", None)
            if maps is not None:
                d.place_sensor_maps(*self.sensor_index(tuple(maps[0].shape), maps[2]))

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
            bank = stack_pairs(torch.relu(g), torch.relu(-g), self.pair_groups)
        else:
            # non-negative amplitudes; a coherent field has half the intensity's bandwidth
            period = 2.0 * self.sampling.oversample if self.coherent else 2.0
            bank = gabor_bank(c, k, signed=False, min_period_px=period)
        bank = bank / (bank.pow(2).sum().sqrt() if self.coherent else bank.sum())
        fit = self._fit(  # an initialisation: at the design wavelength alone
            bank, levels=None, steps=steps, quantized_steps=0, efficiency_weight=0.03,
            model=self.psf_model.at_design_wavelength(),
        )  # fmt: skip
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
            w = stack_pairs(torch.relu(w), torch.relu(-w), self.pair_groups)
        else:
            w = w.abs()
        return w / w.sum().clamp_min(1e-300)

    def _fabricated_phase(self) -> Tensor:
        """α·φ_fab in the layer dtype (`fabricated_phase` of the trained or fitted phase)."""
        if self.parameterisation == "doe":
            phi = self.phase_rad
        else:
            phi = self.fitted_phase_rad.to(self.weight.dtype)
        broadband = not self.psf_model.monochromatic(self.sampling.wavelength_m)
        return fabricated_phase(phi, self.doe_levels, self.etch_scale, wrap=broadband)

    def camera_plane_psf(self, box: tuple | None = None, windows: bool = False) -> Tensor:
        """The camera-plane PSF (J × J; complex field when coherent), axis at J//2; the DOE
        phase is α·φ_fab (``etch_scale``) in the "doe" and "realised" modes, the PSF that of
        the layer's `PSFModel`; ``box``: those offsets instead, ``windows``: the tile windows
        alone (`realised_psf`)."""
        j = self.sampling.camera_pixels
        if self.mode == "kernel":
            return self.layout.place(self.optical_kernels(), (j, j))
        return realised_psf(
            self._fabricated_phase(),
            self.sampling,
            coherent=self.coherent,
            method=self.psf_method,
            model=self.psf_model,
            box=box,
            windows=self.layout if windows else None,
        )

    def tile_kernels(self) -> Tensor:
        """The k × k sub-PSF windows (C, k, k) the channels see (conv2d weights h_t)."""
        if self.mode == "kernel":
            return self.optical_kernels()
        return self.camera_plane_psf(windows=True)

    def psf(self) -> Tensor:
        """What one forward convolves with (`tile_psf`): the tile windows (C, k, k), or with
        ``model_crosstalk`` the visible box of the camera plane. Computed once per forward."""
        if not self.model_crosstalk:
            return self.tile_kernels()
        if self.mode != "kernel" and self.psf_model.pixel_envelope:  # the orders past the window
            return self.camera_plane_psf(box=self.layout.visible_box())
        return tile_psf(self.camera_plane_psf(), self.layout, crosstalk=True)

    # -- the OTF and its cache --------------------------------------------------------------
    def _optical_tensors(self) -> list[Tensor]:
        if self.parameterisation == "doe":
            return [self.phase_rad]
        return [self.weight, self.fitted_phase_rad, self.realised]

    def _transfer(self, image_shape: tuple[int, int]) -> OpticalTransfer:
        tensors = self._optical_tensors()
        versions = tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in tensors)
        key = (self.mode, self.model_crosstalk, self.etch_scale, self.psf_model, image_shape)
        key = key + versions
        needs_graph = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
        if not needs_graph and self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        operand, parts = psf_operand(self.psf())  # as `optical_transfer`, `otf` by this name
        crops = output_crops(self.layout, crosstalk=self.model_crosstalk)
        transfer = OpticalTransfer(otf(operand, image_shape), crops, parts, self.model_crosstalk)
        self._cache = None if needs_graph else (key, transfer)
        return transfer

    def get_extra_state(self) -> Tensor:
        """The `PSFModel` as JSON bytes (`encode_state`): checkpoints carry it."""
        return encode_state(self.psf_model)

    def set_extra_state(self, state: Tensor) -> None:
        self.psf_model = decode_state(state)
        self._check_window()

    def _load_from_state_dict(self, state_dict, prefix, metadata, strict, missing, *args) -> None:
        super()._load_from_state_dict(state_dict, prefix, metadata, strict, missing, *args)
        key = prefix + "_extra_state"
        mine = any(k.startswith(prefix) for k in state_dict)  # this layer's state, not a part
        if mine and key not in state_dict:  # written before the PSF model existed
            self.psf_model = POINT_SAMPLED  # what it computed then
            if key in missing:
                missing.remove(key)

    def invalidate_cache(self) -> None:
        """Drop the cached OTF (not needed after in-place updates: versions are tracked)."""
        self._cache = None

    # -- forward ----------------------------------------------------------------------------
    def optical_forward(self, x: Tensor) -> Tensor:
        """The camera's analog channels (B, C, H, W) for intensities x (B, 1, H, W): the optics
        only, before the camera chain (`optical_conv` with the cached transfer)."""
        transfer = self._transfer(tuple(x.shape[-2:]))
        return optical_conv(x, transfer, coherent=self.coherent, dtype=self._dtype)

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
            y = subtract_pairs(y, self.pair_groups)
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
        kwargs.setdefault("model", self.psf_model)  # the PSF the layer will realise
        return synthesize_tiles(
            bank,
            self.layout,
            self.sampling,
            crosstalk=self.model_crosstalk,
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
        return window_energy(self.camera_plane_psf(), self.layout, coherent=self.coherent)

    def optical_regularizer(self) -> Tensor:
        """stray + imbalance ∈ [0, 2] of the current PSF (`spread_regularizer`): the fraction of
        the camera light outside the kernel windows, plus (C·Σp_t² − 1)/(C − 1) with p_t the
        windows' shares (0 when equal, 1 when one window takes all). Of a whole model:
        `mixsig.nn.optical_regularizer`."""
        return spread_regularizer(*self.window_energy())

    def extra_repr(self) -> str:
        (r, c), pitch = self.layout.grid, self.layout.pitch_px
        return (
            f"out_channels={self.out_channels}, kernel_size={self.kernel_size}, "
            f"image_size={self.image_size}, mode={self.mode}, signed={self.signed}, "
            f"tiles={r}x{c} pitch={pitch}, crosstalk={self.model_crosstalk}, "
            f"coherent={self.coherent}, doe={self.sampling.doe_pixels}², "
            f"levels={self.doe_levels}, etch_scale={self.etch_scale:g}, "
            f"avoid_zero_order={self.avoid_zero_order}, psf={self.psf_model.describe()}"
        )


def optical_regularizer(model: nn.Module) -> Tensor:
    """λ-free DOE-space regulariser of a model: the sum of `OpticalConv2d.optical_regularizer`
    over every optical layer in ``model`` (``model`` itself included, so a layer works too);
    with one optical layer exactly its regulariser, with none a zero scalar (add λ· it to the
    loss)."""
    total: Tensor | None = None
    for m in model.modules():
        if isinstance(m, OpticalConv2d):
            reg = m.optical_regularizer()
            total = reg if total is None else total + reg
    if total is not None:
        return total
    p = next(model.parameters(), None)
    if p is None or not p.is_floating_point():
        return torch.zeros(())
    return torch.zeros((), dtype=p.dtype, device=p.device)


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


__all__ = ["OpticalConv2d", "default_sampling", "gabor_bank", "optical_regularizer"]
