"""Mixed-signal linear and convolution layers: drop-in `nn.Linear` / `nn.Conv2d`.

Owns `MixedLinear`, `MixedConv2d` and their shared forward (`_MixedMixin`): the input DAC,
weight quantization and per-device kernel mismatch, the analog MAC (the ideal linear
operation), then the analog chain of `mixsig.signal` (distortion, noise, ADC), and only then
the digital bias. Batch-norm, activations and pooling follow in the model, after the ADC.

With ``weights.realisation = "differential"`` the hardware realises W = W⁺ − W⁻ as two
non-negative analog channels; both go through the (unsigned) ADC and are subtracted digitally.

The layers keep `weight` and `bias` exactly where `nn.Linear`/`nn.Conv2d` keep them, so a float
state_dict loads into a mixed layer and `mixsig.convert` keeps trained weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mixsig.config.hardware import HardwareConfig
from mixsig.signal import WeightQuantizer, build_chain, build_dac, split_differential
from mixsig.signal.distortion import KernelMismatch


class _MixedMixin:
    """The analog part shared by the mixed-signal layers (see the module docstring)."""

    weight: Tensor
    bias: Tensor | None

    def _init_analog(self, hardware: HardwareConfig | None) -> None:
        hw = HardwareConfig() if hardware is None else HardwareConfig.model_validate(hardware)
        self.hardware = hw
        w = hw.weights
        self.differential = w.realisation == "differential"
        self.dac = build_dac(hw)
        self.weight_quant = WeightQuantizer(w.bits, w.granularity, signed=not self.differential)
        self.mismatch = (
            KernelMismatch(w.mismatch_rel_std, w.mismatch_abs_std, seed=hw.noise.seed)
            if (w.mismatch_rel_std > 0 or w.mismatch_abs_std > 0)
            else None
        )
        self.chain = build_chain(hw)

    def analog_weight(self) -> Tensor:
        """The weights the hardware realises: quantized, with kernel mismatch; for a
        differential layer W⁺ and W⁻ stacked along the output dimension."""
        if self.differential:
            wp, wn = split_differential(self.weight)
            w = torch.cat([self.weight_quant(wp), self.weight_quant(wn)], dim=0)
        else:
            w = self.weight_quant(self.weight)
        return self.mismatch(w) if self.mismatch is not None else w

    # The forward in two halves (the protocol `mixsig.eval` uses to evaluate Monte-Carlo draws
    # without recomputing what noise does not touch): `analog_result` is deterministic in
    # eval mode, `readout` holds every random part.
    def analog_result(self, x: Tensor) -> Tensor:
        """The ideal analog result: input DAC, realised weights, the MAC (no noise yet)."""
        if self.dac is not None:
            x = self.dac(x)
        return self._mac(x, self.analog_weight())

    def readout(self, a: Tensor) -> Tensor:
        """The analog chain (distortion, noise, ADC) and the digital side of the layer."""
        y = self.chain(a)
        if self.differential:
            pos, neg = y.chunk(2, dim=1)
            y = pos - neg
        if self.bias is not None:
            shape = (1, -1) + (1,) * (y.dim() - 2)
            y = y.add_(self.bias.view(shape))  # in place: y is a fresh output of the chain
        return y

    def _mixed_forward(self, x: Tensor) -> Tensor:
        return self.readout(self.analog_result(x))


class MixedLinear(_MixedMixin, nn.Linear):
    """`nn.Linear` computed on the analog accelerator; ``hardware`` describes its chain."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        hardware: HardwareConfig | None = None,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        self._init_analog(hardware)

    def _mac(self, x: Tensor, w: Tensor) -> Tensor:
        return F.linear(x, w)

    def forward(self, x: Tensor) -> Tensor:
        return self._mixed_forward(x)


class MixedConv2d(_MixedMixin, nn.Conv2d):
    """`nn.Conv2d` computed on the analog accelerator; ``hardware`` describes its chain."""

    def __init__(self, *args, hardware: HardwareConfig | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_analog(hardware)

    def _mac(self, x: Tensor, w: Tensor) -> Tensor:
        return self._conv_forward(x, w, None)

    def forward(self, x: Tensor) -> Tensor:
        return self._mixed_forward(x)


MIXED_LAYERS: dict[type[nn.Module], type[nn.Module]] = {
    nn.Linear: MixedLinear,
    nn.Conv2d: MixedConv2d,
}

__all__ = ["MIXED_LAYERS", "MixedConv2d", "MixedLinear"]
