"""Uniform quantizers with fixed, calibrated or learned range: the ADC and the input DAC.

Owns `UniformQuantizer` and its two named roles:

* `ADC` — digitises the analog result of a mixed-signal layer (for optics: the camera). It may
  receive noise in LSB to add before clipping and rounding (the noise the ADC sees).
* `DAC` — quantizes a layer's input to the levels the hardware can apply (SLM/DMD levels).

Definition (b bits, L = 2^b levels over [lo, hi]):

    Δ = (hi − lo)/(L − 1),   Q(x) = lo + Δ·round(clamp((x − lo)/Δ, 0, L − 1))

returned in the input's units (not integer codes). Unsigned: codes 0..L−1 over [0, hi].
Signed (calibrated/learned range): two's-complement codes −2^(b−1)..2^(b−1)−1, so zero is a
level: lo = −2^(b−1)·Δ, hi = (2^(b−1) − 1)·Δ. A fixed range may be any lo < hi.

Gradients: clipped straight-through (1 inside (lo, hi), 0 where clipped, as for `hardtanh`);
in ``learned`` mode the step Δ also gets LSQ's gradient (see `mixsig.signal.fake_quant.lsq_quant`).

Range modes: ``fixed`` (the physical full scale), ``calibrated`` (from `RangeObserver`
statistics collected while `observing` is true; see `mixsig.calibrate`), ``learned``
(initialised like ``calibrated``, then trained: the step Δ is the parameter and lo = −2^(b−1)·Δ
when signed, 0 when not; the ``_lo`` buffer is brought up to date whenever the state dict is
taken). Calibration rules: see `RangeObserver`. `UniformQuantizer.settings` and
`converter_settings` state the converters as the forward uses them.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from mixsig.signal.fake_quant import fake_quant, fake_quant_tensor, lsq_quant
from mixsig.signal.observer import RangeObserver

RANGE_MODES = ("fixed", "calibrated", "learned")


def check_bits(bits: object, name: str = "bits") -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 16:
        raise ValueError(f"{name} must be an integer in 1..16, got {bits!r}")
    return bits


class UniformQuantizer(nn.Module):
    """A 2^bits-level uniform quantizer over [lo, hi] (see the module docstring)."""

    def __init__(
        self,
        bits: int = 4,
        lo: float | None = None,
        hi: float | None = None,
        *,
        signed: bool = False,
        range: str = "fixed",  # noqa: A002 - the config's field name
        calibration: str = "mse",
        percentile: float = 99.99,
    ) -> None:
        super().__init__()
        if range not in RANGE_MODES:
            raise ValueError(f"range must be one of {RANGE_MODES}, got {range!r}")
        self.range_mode = range
        self.signed = bool(signed)
        self._set_resolution(check_bits(bits))
        if range == "fixed":
            lo = 0.0 if lo is None else float(lo)
            hi = 1.0 if hi is None else float(hi)
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ValueError(f"lo and hi must be finite, got lo={lo}, hi={hi}")
            if not lo < hi:
                raise ValueError(f"lo must be < hi, got lo={lo}, hi={hi}")
            step = (hi - lo) / (self.levels - 1)
        else:
            if lo is not None or hi is not None:
                raise ValueError(f"lo/hi are only allowed with range='fixed' (range={range!r})")
            lo, step = 0.0, 1.0
        # range buffers are float64 so that the levels are exact for float64 inputs too (they
        # enter the arithmetic as Python floats); a learned step is a Parameter of the model's
        # dtype, like any other
        self.register_buffer("_lo", torch.tensor(float(lo), dtype=torch.float64))
        if range == "learned":
            self.step = nn.Parameter(torch.tensor(float(step)))
        else:
            self.register_buffer("step", torch.tensor(float(step), dtype=torch.float64))
        self.register_buffer("calibrated", torch.tensor(range == "fixed"))
        # the forward reads this Python copy of `calibrated` (kept in step by every method that
        # sets the range and by load_state_dict): reading the buffer of a GPU quantizer would
        # wait for the GPU in every forward, and would break a torch.compile graph
        self._is_calibrated = range == "fixed"
        self.register_load_state_dict_post_hook(_sync_calibrated)
        self.observer = (
            RangeObserver(calibration, percentile, symmetric=self.signed, bits=self.bits)
            if range != "fixed"
            else None
        )
        self.observing = False

    # -- range --------------------------------------------------------------------------
    @property
    def lsb(self) -> Tensor:
        """Δ, the quantization step, in the input's units."""
        return self.step

    @property
    def lo(self) -> Tensor:
        if self.range_mode == "learned":
            return -self.zero_code * self.step
        return self._lo

    @property
    def hi(self) -> Tensor:
        return self.lo + (self.levels - 1) * self.step

    @property
    def full_scale(self) -> float:
        """max(|lo|, |hi|): the signal magnitude the quantizer spans."""
        return max(abs(float(self.lo)), abs(float(self.hi)))

    def set_range(self, lo: float, hi: float) -> None:
        """Set a fixed range [lo, hi] (e.g. from a measurement) and mark it calibrated."""
        lo, hi = float(lo), float(hi)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"need finite lo < hi, got lo={lo}, hi={hi}")
        with torch.no_grad():
            self._lo.fill_(lo)
            self.step.fill_((hi - lo) / (self.levels - 1))
        self.calibrated.fill_(True)
        self._is_calibrated = True

    def set_bits(self, bits: int) -> None:
        """Change the resolution, keeping the range: a fixed range keeps [lo, hi]; a
        calibrated or learned one keeps its extent (the positive full scale of a signed
        quantizer, hi of an unsigned one) and re-derives Δ and lo as calibration would."""
        bits = check_bits(bits)
        with torch.no_grad():
            if self.range_mode == "fixed":
                lo, hi = float(self._lo), float(self.hi)
                self._set_resolution(bits)
                self.step.fill_((hi - lo) / (self.levels - 1))
                return
            steps_old = self.observer.steps_per_extent()
            extent = float(self.step) * steps_old
            self._set_resolution(bits)
            self.observer.bits = bits
            step = extent / self.observer.steps_per_extent()
            self.step.fill_(step)
            self._lo.fill_(-self.zero_code * step)

    def settings(self) -> dict:
        """The converter as the forward uses it, for a reader of a checkpoint: bits, levels,
        signedness, range mode, lo, hi and the step Δ (in the input's units), calibrated."""
        with torch.no_grad():
            lo, hi, step = float(self.lo), float(self.hi), float(self.step)
        return {
            "bits": self.bits,
            "levels": self.levels,
            "signed": self.signed,
            "range": self.range_mode,
            "calibrated": bool(self.calibrated),
            "lo": lo,
            "hi": hi,
            "step": step,
        }

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        # a learned range is its step (lo = −zero_code·Δ): the stored lo follows it, so that no
        # buffer in a checkpoint disagrees with the range the forward uses
        if self.range_mode == "learned":
            with torch.no_grad():
                self._lo.fill_(float(-self.zero_code * self.step))
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def _set_resolution(self, bits: int) -> None:
        # levels, and the code of the value 0 in calibrated/learned modes (two's complement
        # when signed)
        self.bits = bits
        self.levels = 1 << bits
        self.zero_code = (1 << (bits - 1)) if self.signed else 0

    def start_observing(self) -> None:
        if self.observer is not None:
            self.observer.reset()
            self.observing = True

    def finish_observing(self) -> None:
        """Set the range from what was observed (percentile or max of the signal)."""
        if self.observer is None or not self.observing:
            return
        self.observing = False
        extent = self.observer.extent()
        with torch.no_grad():
            step = extent / self.observer.steps_per_extent()
            self._lo.fill_(-self.zero_code * step)
            self.step.fill_(step)
        self.calibrated.fill_(True)
        self._is_calibrated = True

    # -- forward ------------------------------------------------------------------------
    def forward(
        self, x: Tensor, noise_lsb: Tensor | None = None, noise_scale: float = 1.0
    ) -> Tensor:
        """Q(x + noise_lsb·noise_scale·Δ): the quantized (noisy) signal in x's units."""
        if self.observing:
            self.observer(x)
            return x
        if not self._is_calibrated:
            raise RuntimeError(
                f"{type(self).__name__} range is {self.range_mode!r} but not calibrated yet: "
                "run mixsig.calibrate(model, batches) before using the model"
            )
        if self.range_mode == "learned":
            code_lo = -self.zero_code
            code_hi = code_lo + self.levels - 1
            return lsq_quant(x, self.step, code_lo, code_hi, noise_lsb, noise_scale)
        if x.device.type != "cpu" or torch.compiler.is_compiling():  # no host read of lo, Δ
            return fake_quant_tensor(x, self._lo, self.step, self.levels, noise_lsb, noise_scale)
        return fake_quant(x, float(self._lo), float(self.step), self.levels, noise_lsb, noise_scale)

    def lsb_like(self, x: Tensor) -> Tensor | float:
        """Δ to multiply x's values by: a Python float on the CPU (the fast path), a 0-d tensor
        on x's device elsewhere and under torch.compile (no host read)."""
        if x.device.type != "cpu" or torch.compiler.is_compiling():
            return self.step.detach().to(x.dtype)
        return float(self.step.detach())

    def extra_repr(self) -> str:
        sign = "signed" if self.signed else "unsigned"
        rng = (
            f"[{float(self.lo):.4g}, {float(self.hi):.4g}]"
            if bool(self.calibrated)
            else "uncalibrated"
        )
        return f"bits={self.bits}, {sign}, range={self.range_mode} {rng}"


def _sync_calibrated(module: UniformQuantizer, incompatible_keys) -> None:
    """After load_state_dict: the Python copy of ``calibrated`` follows the loaded buffer."""
    module._is_calibrated = bool(module.calibrated)


def converter_settings(model: nn.Module) -> dict[str, dict]:
    """Every ADC and DAC of ``model`` by qualified name, with `UniformQuantizer.settings` and
    its ``role`` ("adc" or "dac"): what a checkpoint's readable sidecar states."""
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, UniformQuantizer):
            role = "adc" if isinstance(m, ADC) else "dac" if isinstance(m, DAC) else "quantizer"
            out[name] = {"role": role, **m.settings()}
    return out


class ADC(UniformQuantizer):
    """The analog-to-digital converter (or camera) at the output of a mixed-signal layer.

    ``ADC(bits=4, lo=0.0, hi=1.0)`` is a fixed-range 4-bit unsigned ADC;
    ``ADC(bits=4, range="calibrated")`` sets its range with `mixsig.calibrate`.
    ``forward(x, noise_lsb)`` adds ``noise_lsb``·Δ before clipping and rounding.
    """


class DAC(UniformQuantizer):
    """The input DAC of a mixed-signal layer: the levels the hardware can apply as input."""
