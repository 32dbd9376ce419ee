"""The analog chain of one mixed-signal layer, from the analog result to the digital value.

Owns `AnalogChain` (the order of operations of design §2, steps 4–6) and `build_chain` /
`build_dac` (a `HardwareConfig` turned into modules):

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
not map its ADC input range to finite values (`check_finite_chain`): the schema's ranges keep
each number physical, the probe catches the combinations no single range can (several large
transfer curves in a row, strong shot noise before a steep curve).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from mixsig.config.hardware import HardwareConfig, QuantizerConfig, without_maps
from mixsig.config.io import ConfigError
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
            y = s if z is None else s + z * (self.noise.sigma_lsb * float(self.adc.lsb.detach()))
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


def build_chain(hw: HardwareConfig, *, signed: bool | None = None) -> AnalogChain:
    """The analog chain of ``hw``. ``signed`` overrides ``hw.adc.signed`` (a layer whose
    analog outputs are non-negative by construction, e.g. a differential half, passes False);
    otherwise ``adc.signed: null`` means signed for signed weights, unsigned for differential.

    Raises `ConfigError` when the chain does not map its ADC input range to finite values
    (`check_finite_chain`; checked once per distinct config)."""
    check_finite_chain(hw, signed=signed)
    return _build_chain(hw, signed)


def _build_chain(hw: HardwareConfig, signed: bool | None) -> AnalogChain:
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


# -- the build-time finiteness check ---------------------------------------------------------

#: full scales (ADC input units) at which a calibrated or learned range is probed: the chain
#: must be finite for data of any of these scales (transfer curves are relative to the full
#: scale, but shot noise is not)
PROBE_FULL_SCALES = (1e-3, 1.0, 1e3)
_PROBE_SHAPE = (4, 1, 8, 8)  # 256 probe values as images: every distortion accepts (N, C, H, W)


def check_finite_chain(hw: HardwareConfig, *, signed: bool | None = None) -> None:
    """Refuse ``hw`` (`ConfigError` naming the stage and its fields) unless its chain maps the
    ADC's input range to finite values, forward (evaluation, training, training without output
    quantization) and backward (input and parameter gradients), in float32.

    The probe: the ADC range's endpoints and a grid of 256 levels across it (a fixed range as
    given; a calibrated or learned one calibrated first, see below), divided by the analog
    gain, through a separately built chain; measured maps files are not read (their values are
    checked when they are loaded). A calibrated or learned range is calibrated to each of
    `PROBE_FULL_SCALES` when the chain has shot noise or a noise floor (the rest of the chain
    is relative to the full scale: one scale, 1, is enough then). torch's random state is left
    as it was; the result is cached per distinct ``(hw, signed)``."""
    problem = _probe_cached(hw.model_dump_json(), signed)
    if problem is not None:
        raise ConfigError(
            "invalid hardware: the chain does not map its ADC input range to finite values:\n"
            + problem
        )


@functools.lru_cache(maxsize=256)
def _probe_cached(hw_json: str, signed: bool | None) -> str | None:
    return _probe(without_maps(HardwareConfig.model_validate_json(hw_json)), signed)


@contextmanager
def _probing() -> Iterator[None]:
    """Autograd on (even under no_grad or inference mode), torch's CPU random state restored."""
    with torch.random.fork_rng(devices=[]), torch.inference_mode(False), torch.enable_grad():
        yield


def _probe(hw: HardwareConfig, signed: bool | None) -> str | None:
    """The first problem of ``hw``'s chain (one line per field named), or None."""
    scales: tuple[float | None, ...] = (None,)
    if hw.adc.range != "fixed":  # without absolute noise the chain is scale-free: one will do
        absolute = hw.noise.shot_electrons_per_unit is not None or hw.noise.floor_std > 0
        scales = PROBE_FULL_SCALES if absolute else (1.0,)
    with _probing():
        for fs in scales:
            chain = _build_chain(hw, signed)
            if chain.noise is not None:
                chain.noise.source = "exact"  # the same N(0, 1) draws, without the 2^20 pool
            problem = _probe_one(chain, hw, fs)
            if problem is not None:
                return problem
    return None


def _gain(chain: AnalogChain) -> float:
    return float(chain.gain.gain.detach()) if chain.gain is not None else 1.0


def _calibrate_probe(chain: AnalogChain, fs: float) -> None:
    """Calibrate ``chain``'s ADC to the range [0, fs] (signed: about ±fs) at its input."""
    g = _gain(chain)
    lo = -fs if bool(chain.adc.signed) else 0.0
    x = torch.linspace(lo, fs, math.prod(_PROBE_SHAPE), dtype=torch.float64) / g
    chain.eval()
    chain.adc.observer.method = "max"  # the range spans exactly fs (this chain is a throwaway)
    with torch.no_grad():
        chain.start_observing()
        chain(x.float().reshape(_PROBE_SHAPE))
        chain.finish_observing()


def _stages(chain: AnalogChain, hw: HardwareConfig) -> list[tuple[nn.Module, str]]:
    """The chain's modules in the order the signal meets them, each with the fields it owns."""
    out: list[tuple[nn.Module, str]] = [
        (d, f"distortion[{i}] ({cfg.kind})")
        for i, (d, cfg) in enumerate(zip(chain.distortions, hw.distortion))
    ]
    if chain.shot is not None:
        out.append((chain.shot, "noise.shot_electrons_per_unit"))
    if chain.floor is not None:
        out.append((chain.floor, "noise.floor_std"))
    out.append((chain.adc, "adc (bits, range) with noise.sigma_lsb"))
    return out


def _finite(t: Tensor | None) -> bool:
    return t is None or bool(torch.isfinite(t).all())


def _peak(t: Tensor) -> float:
    """The largest finite magnitude in ``t`` (0 when there is none)."""
    v = t.detach().abs()
    v = v[torch.isfinite(v)]
    return float(v.max()) if v.numel() else 0.0


class _Recorder:
    """Forward hooks on the chain's stages: each stage's input and output, in call order, and
    the gradient that reaches each output in the backward pass."""

    def __init__(self, stages: list[tuple[nn.Module, str]]) -> None:
        self.seen: list[tuple[str, Tensor, Tensor]] = []
        self.grads: dict[int, Tensor] = {}
        self.handles = [m.register_forward_hook(self._hook(name)) for m, name in stages]

    def _hook(self, name: str):
        def hook(module: nn.Module, args: tuple, out: Tensor) -> None:
            i = len(self.seen)
            if out.requires_grad:
                out.register_hook(lambda g: self.grads.__setitem__(i, g))
            self.seen.append((name, args[0], out))

        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def _forward_problem(rec: _Recorder, y: Tensor, fs: float, where: str) -> str | None:
    """The first stage (``fs``: the ADC's full scale) whose output is not finite, or None."""
    for name, inp, out in rec.seen:
        if not _finite(inp):
            return f"  adc.gain.init: the gained input is not finite ({where})"
        if not _finite(out):
            peak = _peak(inp)
            return (
                f"  {name}: turns finite inputs (up to |{peak:.3g}|, {peak / fs:.3g} × the "
                f"ADC's full scale) into non-finite values ({where})"
            )
    if not _finite(y):
        return f"  adc.gain.init: the digital rescale y/g is not finite ({where})"
    return None


def _backward_problem(chain: AnalogChain, rec: _Recorder, x: Tensor, where: str) -> str | None:
    names = [name for name, _, _ in rec.seen]
    grads = [x.grad] + [rec.grads.get(i) for i in range(len(names))]
    for k in range(len(names), 0, -1):  # the stage whose input gradient turns non-finite
        if _finite(grads[k]) and not _finite(grads[k - 1]):
            return f"  {names[k - 1]}: its gradient is not finite ({where})"
    if not _finite(x.grad):
        return f"  adc.gain.init: the gradient of the digital rescale is not finite ({where})"
    for pname, p in chain.named_parameters():
        if not _finite(p.grad):
            field = "adc.gain.init" if pname.startswith("gain.") else "adc (bits, range)"
            return f"  {field}: the gradient of {pname} is not finite ({where})"
    return None


def _probe_one(chain: AnalogChain, hw: HardwareConfig, fs: float | None) -> str | None:
    """Push the ADC range through ``chain`` (calibrated to ``fs`` first, unless fixed)."""
    if fs is not None:
        _calibrate_probe(chain, fs)
    g = _gain(chain)
    lo, hi = float(chain.adc.lo.detach()), float(chain.adc.hi.detach())
    at = f"ADC range [{lo:.4g}, {hi:.4g}]" + ("" if fs is None else f", calibrated to {fs:g}")
    levels = torch.linspace(lo, hi, math.prod(_PROBE_SHAPE), dtype=torch.float64) / g
    stages = _stages(chain, hw)
    for mode, quantize in (("evaluation", True), ("training", True), ("training", False)):
        chain.train(mode == "training")
        chain.quantize_output = quantize
        where = f"{mode}{'' if quantize else ' without ADC rounding'}, {at}"
        x = levels.float().reshape(_PROBE_SHAPE).requires_grad_(mode == "training")
        rec = _Recorder(stages)
        try:
            y = chain(x)
            problem = _forward_problem(rec, y, max(abs(lo), abs(hi)), where)
            if problem is None and y.requires_grad:
                y.sum().backward()
                problem = _backward_problem(chain, rec, x, f"backward, {where}")
        finally:
            rec.remove()
        if problem is not None:
            return problem
        chain.zero_grad(set_to_none=True)
    return None


__all__ = [
    "AnalogChain",
    "build_chain",
    "build_dac",
    "build_distortion",
    "chains",
    "check_finite_chain",
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
