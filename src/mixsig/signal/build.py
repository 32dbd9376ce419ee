"""A hardware config turned into a checked analog chain: `build_chain` and its finiteness
check `check_finite_chain`.

A hardware config whose every field is within its documented range can still describe a chain
that overflows (a huge analog gain, shot noise at an extreme rate, a polynomial that explodes
over the ADC range). `mixsig.signal.build_chain` therefore pushes the ADC's input range through
a separately built chain — forward in evaluation and training, backward — and refuses the
config with a `ConfigError` naming the first stage (and its fields) that turns finite values
into non-finite ones. The chain itself and its assembly from the config are
`mixsig.signal.chain`.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from mixsig.config.hardware import HardwareConfig, without_maps
from mixsig.config.io import ConfigError
from mixsig.signal.chain import AnalogChain, assemble_chain


def build_chain(hw: HardwareConfig, *, signed: bool | None = None) -> AnalogChain:
    """The analog chain of ``hw``. ``signed`` overrides ``hw.adc.signed`` (a layer whose
    analog outputs are non-negative by construction, e.g. a differential half, passes False);
    otherwise ``adc.signed: null`` means signed for signed weights, unsigned for differential.

    Raises `ConfigError` when the chain does not map its ADC input range to finite values
    (`check_finite_chain`; checked once per distinct config)."""
    check_finite_chain(hw, signed=signed)
    return assemble_chain(hw, signed)


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
    `PROBE_FULL_SCALES`: shot noise and a noise floor are absolute, and even a chain whose
    curves are relative to the full scale overflows float32 at a large one (u^γ·FS). Training
    is probed at the extremes of every distortion's per-batch randomisation. torch's random
    state is left as it was; the result is cached per distinct ``(hw, signed)``."""
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
    if hw.adc.range != "fixed":
        scales = PROBE_FULL_SCALES
    with _probing():
        for fs in scales:
            chain = assemble_chain(hw, signed)
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
    """Push the ADC range through ``chain`` (calibrated to ``fs`` first, unless fixed): in
    evaluation, then in training (with and without ADC rounding) at every extreme of the
    distortions' per-batch randomisation (each randomised module at 1 − r and at 1 + r)."""
    if fs is not None:
        _calibrate_probe(chain, fs)
    g = _gain(chain)
    lo, hi = float(chain.adc.lo.detach()), float(chain.adc.hi.detach())
    at = f"ADC range [{lo:.4g}, {hi:.4g}]" + ("" if fs is None else f", calibrated to {fs:g}")
    levels = torch.linspace(lo, hi, math.prod(_PROBE_SHAPE), dtype=torch.float64) / g
    stages = _stages(chain, hw)
    randomised = [d for d in chain.distortions if getattr(d, "randomize", 0.0) > 0.0]
    extremes = list(itertools.product((-1.0, 1.0), repeat=min(len(randomised), _MAX_EXTREMES)))
    runs = [("evaluation", True, ())] + [
        ("training", quantize, signs) for quantize in (True, False) for signs in extremes
    ]
    for mode, quantize, signs in runs:
        chain.train(mode == "training")
        chain.quantize_output = quantize
        where = f"{mode}{'' if quantize else ' without ADC rounding'}, {at}"
        if signs:
            where += ", randomised at " + ", ".join(
                f"{1 + s * d.randomize:g}×" for d, s in zip(randomised, signs)
            )
        x = levels.float().reshape(_PROBE_SHAPE).requires_grad_(mode == "training")
        with _jitter_at(randomised, signs):
            problem = _run_probe(chain, stages, x, max(abs(lo), abs(hi)), where)
        if problem is not None:
            return problem
        chain.zero_grad(set_to_none=True)
    return None


#: randomised distortions probed at all their sign combinations (2^n runs); beyond, the first n
_MAX_EXTREMES = 6


@contextmanager
def _jitter_at(modules: list[nn.Module], signs: tuple[float, ...]) -> Iterator[None]:
    """Each module's per-batch randomisation factor fixed at 1 + sign·r (an instance attribute
    shadowing `Distortion._jitter_factor`), restored afterwards."""
    for d, sign in zip(modules, signs):

        def factor(like: Tensor, d=d, sign=sign) -> Tensor | None:
            if not d.randomizing:
                return None
            return torch.tensor(1.0 + sign * d.randomize, dtype=like.dtype, device=like.device)

        d._jitter_factor = factor
    try:
        yield
    finally:
        for d in modules[: len(signs)]:
            del d._jitter_factor


def _run_probe(chain: AnalogChain, stages: list, x: Tensor, fs: float, where: str) -> str | None:
    rec = _Recorder(stages)
    try:
        y = chain(x)
        problem = _forward_problem(rec, y, fs, where)
        if problem is None and y.requires_grad:
            y.sum().backward()
            problem = _backward_problem(chain, rec, x, f"backward, {where}")
    finally:
        rec.remove()
    return problem


__all__ = ["PROBE_FULL_SCALES", "build_chain", "check_finite_chain"]
