"""The analog chain of one mixed-signal layer, from the analog result to the digital value.

Owns `AnalogChain` (the order of operations of design §2, steps 4–6) and its assembly from a
`HardwareConfig` (`assemble_chain`, `build_dac`, `build_distortion`); the public entry that
checks a chain before building it is `mixsig.signal.build.build_chain`:

    s = g·x                      analog gain / exposure (optional, learned or fixed)
    s = D_k(…D_1(s))             deterministic distortions, relative to the ADC full scale,
                                 with the shot noise s + shot(s) between the optical ones
                                 and the first transfer curve (below)
    s = s + floor                fixed physical noise floor
    y = ADC(s + n·Δ) / g         Gaussian noise n in LSB, clip, round (STE); digital rescale

Shot noise belongs to the light (photo-electrons): it follows the distortions of the light
itself — misregistration, crosstalk/blur, PRNU/DSNU, in the order given — and precedes the
detector's *electronic* transfer curve (gamma, polynomial, soft saturation, LUT), so a
nonlinear camera shapes its own shot noise, var(f(x)) ≈ f′(x)²·x/k, as a photon transfer
curve measures it (`mixsig.calib.fits.fit_ptc` with ``transfer``). Without shot noise the
order of design §2 holds unchanged: all distortions, then noise.

``quantize_output = False`` (a training-time switch, not a hardware property) replaces the last
step by y = (s + n·Δ)/g: the noise of the calibrated ADC without its clipping and rounding, as the
baselines "standard QAT" (σ = 0) and "noise injection without ADC rounding" train.

While calibrating, the ADC observes the undistorted, noise-free signal g·x and the chain passes
its input through unchanged; on `finish_observing` the distortions' full scale is set to the
ADC's, so transfer curves are defined relative to the ADC range, as a camera's response is
measured relative to its full scale.

`build_chain` refuses, with a `ConfigError` naming the stage and its fields, a chain that does
not map its ADC input range to finite values (`mixsig.signal.build`): the schema's ranges keep
each number physical, the probe catches the combinations no single range can (several large
transfer curves in a row, strong shot noise before a steep curve).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from mixsig.config.hardware import HardwareConfig, QuantizerConfig
from mixsig.signal import distortion as dist
from mixsig.signal.gain import AnalogGain
from mixsig.signal.noise import GaussianNoise, NoiseFloor, ShotNoise
from mixsig.signal.quantizer import ADC, DAC

_TRANSFER_CURVES = (dist.Gamma, dist.Polynomial, dist.SoftSaturation, dist.MonotoneLUT)


class AnalogChain(nn.Module):
    def __init__(
        self,
        adc: ADC,
        *,
        gain: AnalogGain | None = None,
        distortions: Sequence[nn.Module] = (),
        shot: ShotNoise | None = None,
        floor: NoiseFloor | None = None,
        noise: GaussianNoise | None = None,
    ) -> None:
        super().__init__()
        self.gain = gain
        self.distortions = nn.ModuleList(distortions)
        self.shot = shot
        self.floor = floor
        self.noise = noise
        self.adc = adc
        self.quantize_output = True
        if bool(adc.calibrated):
            self._sync_full_scale()

    def _sync_full_scale(self) -> None:
        fs = self.adc.full_scale
        for d in self.distortions:
            if hasattr(d, "full_scale"):
                d.full_scale.fill_(fs)

    def start_observing(self) -> None:
        if self.adc.observer is not None:  # the noise-aware "mse" rule needs the noise
            self.adc.observer.noise_lsb = self.noise.sigma_lsb if self.noise is not None else 0.0
        self.adc.start_observing()

    def finish_observing(self) -> None:
        self.adc.finish_observing()
        self._sync_full_scale()

    def forward(self, x: Tensor) -> Tensor:
        g = self.gain.gain if self.gain is not None else None
        s = x * g if g is not None else x
        if self.adc.observing:
            self.adc(s)
            return x
        shot = self.shot
        for d in self.distortions:
            if shot is not None and isinstance(d, _TRANSFER_CURVES):
                s, shot = shot(s), None  # photo-electrons before the electronic response
            s = d(s)
        if shot is not None:
            s = shot(s)
        if self.floor is not None:
            s = self.floor(s)
        z = self.noise.draw_standard(s) if self.noise is not None else None
        if not self.quantize_output:
            y = s if z is None else s + z * (self.noise.sigma_lsb * self.adc.lsb_like(s))
        elif z is not None:
            y = self.adc(s, z, self.noise.sigma_lsb)
        else:
            y = self.adc(s)
        return y / g if g is not None else y


def _quantizer_kwargs(cfg: QuantizerConfig) -> dict:
    return dict(
        bits=cfg.bits,
        lo=cfg.lo,
        hi=cfg.hi,
        signed=cfg.signed,
        range=cfg.range,
        calibration=cfg.calibration,
        percentile=cfg.percentile,
    )


def build_dac(hw: HardwareConfig) -> DAC | None:
    """The input DAC of ``hw``, or None when inputs stay in float (``dac: null``)."""
    return None if hw.dac is None else DAC(**_quantizer_kwargs(hw.dac))


def build_distortion(cfg) -> nn.Module:
    """One distortion module from its config entry (see `mixsig.config.DistortionConfig`)."""
    common = dict(randomize=cfg.randomize, seed=cfg.seed)
    kind = cfg.kind
    if kind == "gamma":
        return dist.Gamma(cfg.gamma, **common)
    if kind == "polynomial":
        return dist.Polynomial(cfg.coeffs, **common)
    if kind == "soft_saturation":
        return dist.SoftSaturation(cfg.a, **common)
    if kind == "lut":
        return dist.MonotoneLUT(cfg.inputs, cfg.values, **common)
    if kind == "gain_offset":
        if cfg.maps is None:
            return dist.GainOffset(cfg.gain_std, cfg.offset_std, per=cfg.per, **common)
        maps = dist.read_maps(cfg.maps, ("gain", "offset"))
        g, o = maps["gain"], maps["offset"]
        if g.shape != o.shape:
            raise dist.MapFileError(
                f"{cfg.maps}: gain and offset maps differ in shape: {g.shape} and {o.shape}"
            )
        if g.ndim == 2:  # a camera's whole sensor: the optical layer crops its tiles
            return dist.GainOffset(per="pixel", **common).set_sensor_maps(g, o, cfg.sensor_axis_px)
        return dist.GainOffset(per="pixel", gain=g, offset=o, **common)
    if kind == "crosstalk":
        if cfg.maps is not None:
            k = dist.read_maps(cfg.maps, ("crosstalk_kernel",), ndim=(1, 2))["crosstalk_kernel"]
            return dist.Crosstalk(kernel=k, **common)
        return dist.Crosstalk(cfg.strength, **common)
    if kind == "misregistration":
        return dist.Misregistration(tuple(cfg.shift_px), cfg.scale, **common)
    raise ValueError(f"unknown distortion kind {kind!r}")


def assemble_chain(hw: HardwareConfig, signed: bool | None = None) -> AnalogChain:
    """The chain of ``hw`` as its config says, unchecked (`mixsig.signal.build.build_chain`
    checks it first: the public entry). ``signed`` overrides ``hw.adc.signed`` (a layer whose
    analog outputs are non-negative by construction, e.g. a differential half, passes False);
    otherwise ``adc.signed: null`` means signed for signed weights, unsigned for differential."""
    a = hw.adc
    kw = _quantizer_kwargs(a)
    if signed is not None:
        kw["signed"] = signed
    elif a.signed is None:
        kw["signed"] = hw.weights.realisation == "signed"
    n = hw.noise
    seed = n.seed
    sub = (lambda k: None) if seed is None else (lambda k: seed * 4 + k)
    return AnalogChain(
        ADC(**kw),
        gain=None if a.gain is None else AnalogGain(a.gain.init, learned=a.gain.learned),
        distortions=[build_distortion(d) for d in hw.distortion],
        shot=(
            None
            if n.shot_electrons_per_unit is None
            else ShotNoise(n.shot_electrons_per_unit, seed=sub(1))
        ),
        floor=None if n.floor_std == 0.0 else NoiseFloor(n.floor_std, seed=sub(2)),
        noise=GaussianNoise(n.sigma_lsb, seed=sub(3), source=n.source),
    )


__all__ = [
    "AnalogChain",
    "assemble_chain",
    "build_dac",
    "build_distortion",
    "chains",
    "set_adc_bits",
    "set_output_quantization",
]


def chains(model: nn.Module) -> list[AnalogChain]:
    """Every analog chain in ``model``, in module order."""
    return [m for m in model.modules() if isinstance(m, AnalogChain)]


def set_output_quantization(model: nn.Module, enabled: bool) -> nn.Module:
    """Switch the ADC clipping and rounding of every chain on or off (noise stays as set)."""
    for c in chains(model):
        c.quantize_output = bool(enabled)
    return model


def set_adc_bits(model: nn.Module, bits: int) -> nn.Module:
    """Change every chain's ADC resolution to ``bits``, keeping its range (see
    `UniformQuantizer.set_bits`): to evaluate a trained network at another bit depth."""
    found = chains(model)
    if not found:
        raise ValueError("model has no analog chain (was it converted with mixsig?)")
    for c in found:
        c.adc.set_bits(bits)
    return model
