"""Hardware description of one mixed-signal layer's analog chain (pydantic v2 models).

This module owns the *schema*: what a user may say about the input DAC, the weights, the
deterministic distortions, the noise and the ADC of a mixed-signal layer, and the size of its
analog arrays, with every field's allowed range. It builds nothing; `mixsig.signal` and
`mixsig.nn` turn a `HardwareConfig` into modules. All models refuse unknown keys
(`extra="forbid"`), so a typo in a YAML file is an error that names the field, never a silently
ignored setting. (About 440 lines: one schema, every field with its range and unit.)

Units: signal levels are in the layer's own (input) units unless named otherwise; noise
`sigma_lsb` is in LSB of the ADC it precedes; distortion offsets are fractions of the ADC's
full scale.

Ranges: every number has a physical range (in its field's description, with its units), chosen
so that a chain built from in-range values maps its whole ADC input range to finite values in
float32, forward and backward (`mixsig.signal.build.check_finite_chain` refuses the rare
combination that still does not, e.g. several large polynomials in a row). Integers are strict:
a boolean (``bits: true``), a float (``seed: 1.0e23``) or a string is refused, never converted;
a number given as a boolean is refused too.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    field_validator,
    model_serializer,
    model_validator,
)


def _not_bool(v: object) -> object:
    """Refuse a boolean where a number is expected (pydantic would read ``true`` as 1.0)."""
    if isinstance(v, bool):
        raise ValueError(f"expected a number, got the boolean {str(v).lower()}")
    return v


#: an integer and nothing else: booleans, floats (``1.0e23``) and strings are refused
Int = Annotated[int, Strict()]
#: a real number (an int or a float; a numeric string as YAML reads ``1e3``), never a boolean
Real = Annotated[float, BeforeValidator(_not_bool)]

# -- the physical ranges (each field's description repeats its own, with units) ---------------

#: the largest seed: the chain derives the seed·4 + k of each noise source from it and torch's
#: generators take seeds below 2^64 (2^63 − 1 would overflow them)
SEED_MAX = 2**62 - 1
#: the largest magnitude of a signal level (fixed ranges, noise floor), in the signal's units:
#: far beyond any physical full scale, and small enough that gain (≤ 1e6) × level stays finite
#: in float32 through every stage
LEVEL_MAX = 1e6
#: the narrowest fixed quantizer range (hi − lo, input units): keeps the step a normal float32
RANGE_MIN_SPAN = 1e-6
#: the analog gain, ADC input units per layer unit
GAIN_MIN, GAIN_MAX = 1e-6, 1e6
#: shot noise, photo-electrons per unit of signal: at the largest level (1e6) the Poisson rate
#: stays ≤ 1e15, far below the 2^63 ≈ 9.2e18 beyond which torch.poisson returns garbage
#: (measured: a rate of 1e19 gives −9.2e18), and sqrt(level/k) stays finite in float32
SHOT_MIN, SHOT_MAX = 1e-3, 1e9
#: the largest magnitude of a dimensionless transfer-curve parameter (polynomial coefficients,
#: LUT knots, soft saturation)
CURVE_MAX = 1e3
#: the smallest spacing of a LUT's input knots (fraction of full scale): keeps its slopes finite
LUT_MIN_SPACING = 1e-6
#: the most rows an analog array may be given (inputs summed on one column): far beyond any
#: fabricated crossbar (256-4096 rows), the bound only keeps the number physical
ROWS_MAX = 1 << 20

Bits = Annotated[Int, Field(ge=1, le=16, description="resolution in bits, 1-16")]
Fraction = Annotated[Real, Field(ge=0.0, lt=1.0, description="fraction in [0, 1)")]
Seed = Annotated[
    Int, Field(ge=0, le=SEED_MAX, description=f"seed, an integer in [0, 2^62 − 1 = {SEED_MAX}]")
]
Level = Annotated[
    Real,
    Field(
        ge=-LEVEL_MAX,
        le=LEVEL_MAX,
        description="signal level in the quantizer's input units, in [-1e6, 1e6]",
    ),
]
CurveValue = Annotated[
    Real, Field(ge=-CURVE_MAX, le=CURVE_MAX, description="dimensionless, in [-1e3, 1e3]")
]
Pixel = Annotated[Int, Field(ge=0, le=1_000_000, description="pixel index, 0-1e6")]
Shift = Annotated[Real, Field(ge=-1000.0, le=1000.0, description="pixels, in [-1000, 1000]")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    @field_validator("*", mode="after")
    @classmethod
    def _finite(cls, v, info):
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{info.field_name} must be a finite number, got {v}")
        return v


class QuantizerConfig(_Strict):
    """A uniform quantizer of 2^bits levels over [lo, hi] (used for the input DAC and the ADC).

    range: ``fixed`` (lo/hi given: the physical full scale), ``calibrated`` (set from data by
    ``mixsig.calibrate``: the given percentile of the signal, or its running maximum) or
    ``learned`` (step size trained with the LSQ gradient after calibration initialises it;
    Adam moves Δ by about the learning rate per step in the signal's units, so a small signal
    — a camera's ~1e-4 per step — wants ``calibrated``, with a learned ``gain`` if the range
    should train: training warns, `mixsig.train.step_guard`).
    calibration: ``percentile``, ``max`` or ``mse`` (the noise-aware minimum squared error
    range, see `mixsig.signal.observer`).
    signed: False → codes 0..2^b−1 over [0, hi] (intensities); True → two's-complement codes
    −2^(b−1)..2^(b−1)−1, so zero is a level. For ``fixed``, any lo < hi within [-1e6, 1e6]
    spanning at least 1e-6 is allowed.
    """

    bits: Bits = 4
    signed: bool = False
    range: Literal["fixed", "calibrated", "learned"] = "calibrated"
    lo: Level | None = Field(
        None, description="lower end of the range (range=fixed), input units, in [-1e6, 1e6]"
    )
    hi: Level | None = Field(
        None, description="upper end of the range (range=fixed), input units, in [-1e6, 1e6]"
    )
    calibration: Literal["percentile", "max", "mse"] = "mse"
    percentile: Real = Field(99.99, gt=50.0, le=100.0, description="percentile in (50, 100]")

    @model_validator(mode="after")
    def _range(self):
        if self.range == "fixed":
            if self.lo is None or self.hi is None:
                raise ValueError("range='fixed' needs both lo and hi")
            if not self.lo < self.hi:
                raise ValueError(f"lo must be < hi, got lo={self.lo}, hi={self.hi}")
            if self.hi - self.lo < RANGE_MIN_SPAN:
                raise ValueError(
                    f"the range must span at least {RANGE_MIN_SPAN:g} input units, got "
                    f"hi − lo = {self.hi - self.lo:g}"
                )
        elif self.lo is not None or self.hi is not None:
            raise ValueError(f"lo/hi are only allowed with range='fixed' (range={self.range!r})")
        return self


class GainConfig(_Strict):
    """Analog gain (exposure) before the ADC; learned when ``learned`` is true."""

    init: Real = Field(
        1.0,
        ge=GAIN_MIN,
        le=GAIN_MAX,
        description="initial gain, ADC input units per layer unit, 1e-6-1e6",
    )
    learned: bool = True


class ADCConfig(QuantizerConfig):
    """The ADC (or camera) that digitises the analog result, with an optional analog gain.

    signed: null (default) chooses from the weights: signed for signed weights (the analog sum
    is signed), unsigned for differential pairs (each half is a non-negative intensity).
    """

    signed: bool | None = None  # type: ignore[assignment]
    gain: GainConfig | None = None


class WeightConfig(_Strict):
    """Weight quantization and how signed weights are realised.

    realisation: ``signed`` (the hardware realises signed weights) or ``differential``
    (non-negative hardware: W = W⁺ − W⁻ on two analog channels, each through its own ADC,
    subtracted digitally: "pseudo-negative" kernels).
    granularity: one scale per tensor or per output channel.
    """

    bits: Bits | None = Field(4, description="1-16, or null for float weights")
    granularity: Literal["per_tensor", "per_channel"] = "per_tensor"
    realisation: Literal["signed", "differential"] = "signed"
    mismatch_rel_std: Real = Field(0.0, ge=0.0, le=1.0, description="ε std in W(1+ε)+δ, 0-1")
    mismatch_abs_std: Real = Field(
        0.0, ge=0.0, le=1.0, description="δ std in W(1+ε)+δ, fraction of max|W|, 0-1"
    )


class NoiseConfig(_Strict):
    """Random noise added before the ADC.

    sigma_lsb: Gaussian noise std in LSB of the ADC (the paper's parameterisation).
    shot_electrons_per_unit: if set, signal-dependent shot noise: a signal x holds
    x·k electrons (k = this value), Poisson in evaluation, N(μ, μ) reparameterised in training.
    floor_std: a fixed physical noise floor (std, in the ADC's input units, not scaled by the
    analog gain or the ADC step).
    source: how training draws the Gaussian noise (see `mixsig.signal.noise`).
    """

    sigma_lsb: Real = Field(0.5, ge=0.0, le=64.0, description="std in LSB, 0-64")
    shot_electrons_per_unit: Real | None = Field(
        None,
        ge=SHOT_MIN,
        le=SHOT_MAX,
        description="photo-electrons per unit of signal (ADC input units), 1e-3-1e9",
    )
    floor_std: Real = Field(0.0, ge=0.0, le=LEVEL_MAX, description="std in ADC input units, 0-1e6")
    source: Literal["pool", "exact"] = Field(
        "pool", description="training noise: 'pool' (fast) or 'exact'; evaluation is exact"
    )
    seed: Seed | None = Field(
        None, description="seed of the layer's noise generators, an integer in [0, 2^62 − 1]"
    )


class _DistortionBase(_Strict):
    randomize: Fraction = Field(0.0, description="per-batch randomisation ±fraction, in [0, 1)")
    seed: Seed | None = Field(
        None, description="seed of the distortion's draws, an integer in [0, 2^62 − 1]"
    )


class GammaConfig(_DistortionBase):
    kind: Literal["gamma"] = "gamma"
    gamma: Real = Field(1.0, ge=0.01, le=10.0, description="exponent, dimensionless, 0.01-10")


class PolynomialConfig(_DistortionBase):
    kind: Literal["polynomial"] = "polynomial"
    coeffs: list[CurveValue] = Field(
        description="c_0, c_1, ... of f(u) = Σ c_k u^k (u: fraction of full scale), 1-16 "
        "coefficients, each dimensionless in [-1e3, 1e3]",
        min_length=1,
        max_length=16,
    )


class SoftSaturationConfig(_DistortionBase):
    kind: Literal["soft_saturation"] = "soft_saturation"
    a: Real = Field(
        ge=0.0, le=CURVE_MAX, description="f(u) = u/(1+a|u|), dimensionless, in [0, 1e3]"
    )


class LUTConfig(_DistortionBase):
    kind: Literal["lut"] = "lut"
    inputs: list[CurveValue] = Field(
        min_length=2,
        max_length=4096,
        description="knots u_k, fractions of full scale in [-1e3, 1e3], strictly increasing, "
        "at least 1e-6 apart; 2-4096 knots",
    )
    values: list[CurveValue] = Field(
        min_length=2,
        max_length=4096,
        description="f(u_k), fractions of full scale in [-1e3, 1e3], non-decreasing",
    )

    @model_validator(mode="after")
    def _monotone(self):
        if len(self.inputs) != len(self.values):
            raise ValueError(
                f"inputs and values must have the same length, got {len(self.inputs)} and "
                f"{len(self.values)}"
            )
        for i in range(1, len(self.inputs)):
            if not self.inputs[i] > self.inputs[i - 1]:
                raise ValueError(f"inputs must be strictly increasing (inputs[{i}])")
            if self.inputs[i] - self.inputs[i - 1] < LUT_MIN_SPACING:
                raise ValueError(
                    f"inputs must be at least {LUT_MIN_SPACING:g} apart, so that the slopes "
                    f"stay finite (inputs[{i}] − inputs[{i - 1}] = "
                    f"{self.inputs[i] - self.inputs[i - 1]:g})"
                )
            if self.values[i] < self.values[i - 1]:
                raise ValueError(f"values must be non-decreasing (values[{i}])")
        return self


class GainOffsetConfig(_DistortionBase):
    """PRNU/DSNU: y = x·(1 + g) + o·full_scale. Either drawn once from ``gain_std`` /
    ``offset_std`` (a statistically equal device), or the measured maps of ``maps``: an
    ``.npz`` with arrays ``gain`` and ``offset`` (as `mixsig calibrate` writes them; a relative
    path is relative to the YAML file that names it). Maps of one sample's shape ((C, H, W) or
    (F,)) are used as they are; sensor maps (H_s, W_s) are cropped to each optical channel's
    camera tile by `mixsig.nn.OpticalConv2d`, with the optical axis on sensor pixel
    ``sensor_axis_px`` (row, col; default the sensor's centre (H_s//2, W_s//2))."""

    kind: Literal["gain_offset"] = "gain_offset"
    gain_std: Real = Field(0.0, ge=0.0, le=1.0, description="PRNU std, dimensionless, 0-1")
    offset_std: Real = Field(
        0.0, ge=0.0, le=1.0, description="DSNU std, fraction of full scale, 0-1"
    )
    per: Literal["pixel", "channel"] = "pixel"
    maps: str | None = Field(None, min_length=1, description=".npz with gain and offset maps")
    sensor_axis_px: tuple[Pixel, Pixel] | None = Field(
        None, description="sensor pixel (row, col) on the optical axis, for sensor maps"
    )

    @model_validator(mode="after")
    def _maps_or_stds(self):
        if self.maps is not None and (self.gain_std or self.offset_std):
            raise ValueError(
                "give either measured maps or gain_std/offset_std, not both (got maps="
                f"{self.maps!r}, gain_std={self.gain_std:g}, offset_std={self.offset_std:g})"
            )
        if self.maps is not None and self.per != "pixel":
            raise ValueError(f"measured maps are per pixel: per must be 'pixel', got {self.per!r}")
        if self.sensor_axis_px is not None and self.maps is None:
            raise ValueError("sensor_axis_px places measured sensor maps: it needs maps")
        return self


class CrosstalkConfig(_DistortionBase):
    """Crosstalk as a convolution: the default 3×3 kernel of ``strength``, or the measured
    kernel of ``maps`` (an ``.npz`` with an array ``crosstalk_kernel``, as `mixsig calibrate`
    writes it; a relative path is relative to the YAML file that names it)."""

    kind: Literal["crosstalk"] = "crosstalk"
    strength: Fraction = Field(0.0, description="fraction leaked to neighbours, in [0, 1)")
    maps: str | None = Field(None, min_length=1, description=".npz with a crosstalk_kernel")

    @model_validator(mode="after")
    def _maps_or_strength(self):
        if self.maps is not None and self.strength:
            raise ValueError(
                f"give either measured maps or strength, not both (got maps={self.maps!r}, "
                f"strength={self.strength:g})"
            )
        return self


class MisregistrationConfig(_DistortionBase):
    kind: Literal["misregistration"] = "misregistration"
    shift_px: tuple[Shift, Shift] = Field(
        (0.0, 0.0), description="(dy, dx) in pixels, each in [-1000, 1000]"
    )
    scale: Real = Field(1.0, gt=0.5, lt=2.0, description="magnification, in (0.5, 2)")


DistortionConfig = Annotated[
    GammaConfig
    | PolynomialConfig
    | SoftSaturationConfig
    | LUTConfig
    | GainOffsetConfig
    | CrosstalkConfig
    | MisregistrationConfig,
    Field(discriminator="kind"),
]


class ArrayConfig(_Strict):
    """The size of one analog array (crossbar), the unit that holds a part of a layer.

    rows: the inputs one array sums on a column (aihwkit's ``max_input_size``, 512 in its
    standard mapping). A mixed-signal layer with more inputs per output is split along its
    inputs into tiles, one array each, each read out by its own chain, the digital results
    summed (`mixsig.nn.tiling`). ``null``: unlimited, one array per layer. Optical layers are
    not arrays: they ignore it.
    """

    rows: Int | None = Field(
        None,
        ge=1,
        le=ROWS_MAX,
        description="inputs summed per array column (rows of one analog array), an integer in "
        "[1, 2^20 = 1048576], or null for unlimited; mixed-signal layers with more inputs per "
        "output are split into tiles, optical layers ignore it",
    )


class HardwareConfig(_Strict):
    """The analog chain of one mixed-signal layer, in the order the signal meets it:
    input DAC → weights → analog MAC → distortion → noise → ADC → digital (bias, BN, ...);
    shot noise comes before the transfer curves (see `mixsig.signal.chain`).

    ``HardwareConfig()`` is a valid default: 4-bit DAC, 4-bit weights, 4-bit ADC, 0.5 LSB noise,
    arrays of unlimited size (``array.rows: null``, left out of the dump while unlimited).
    ``dac: null`` or ``weights.bits: null`` leave that stage in float.
    """

    dac: QuantizerConfig | None = Field(default_factory=QuantizerConfig)
    weights: WeightConfig = Field(default_factory=WeightConfig)
    distortion: list[DistortionConfig] = Field(default_factory=list)
    noise: NoiseConfig = Field(default_factory=NoiseConfig)
    adc: ADCConfig = Field(default_factory=ADCConfig)
    array: ArrayConfig = Field(default_factory=ArrayConfig)

    @model_serializer(mode="wrap")
    def _omit_unlimited_array(self, handler):
        # an unlimited array is what every config meant before the field existed: leaving it
        # out keeps their dumps, and so the run keys and caches hashed from them, unchanged
        data = handler(self)
        if isinstance(data, dict) and self.array.rows is None:
            data.pop("array", None)
        return data


def _with_maps_updated(hw: HardwareConfig, update) -> HardwareConfig:
    """``hw`` with every distortion that names a ``maps`` file replaced by
    ``d.model_copy(update=update(d))`` (no change where ``update`` returns None); ``hw``
    itself when nothing changes."""
    changed = False
    entries = []
    for d in hw.distortion:
        fields = update(d) if getattr(d, "maps", None) is not None else None
        entries.append(d if fields is None else d.model_copy(update=fields))
        changed |= fields is not None
    return hw.model_copy(update={"distortion": entries}) if changed else hw


def with_absolute_paths(hw: HardwareConfig, base: str | os.PathLike | None) -> HardwareConfig:
    """``hw`` with every relative ``maps`` path made absolute against ``base`` (the folder of
    the YAML that names it); ``hw`` itself when nothing changes."""
    if base is None:
        return hw
    return _with_maps_updated(
        hw,
        lambda d: (
            None if Path(d.maps).is_absolute() else {"maps": str((Path(base) / d.maps).resolve())}
        ),
    )


def without_maps(hw: HardwareConfig) -> HardwareConfig:
    """``hw`` with every ``maps`` file dropped (and ``sensor_axis_px`` with it): the chain
    to rebuild a model whose measured maps come from a checkpoint's state dict instead."""
    return _with_maps_updated(
        hw,
        lambda d: (
            {"maps": None, "sensor_axis_px": None}
            if hasattr(d, "sensor_axis_px")
            else {"maps": None}
        ),
    )
