"""Mixed-signal linear and convolution layers: drop-in `nn.Linear` / `nn.Conv1d` / `nn.Conv2d`.

Owns `MixedLinear`, `MixedConv1d`, `MixedConv2d` and their shared forward (`_MixedMixin`): the
input DAC, weight quantization and per-device kernel mismatch, the analog MAC (the ideal linear
operation), then the analog chain of `mixsig.signal` (distortion, noise, ADC), and only then
the digital bias. Batch-norm, activations and pooling follow in the model, after the ADC.
Every input shape and option the PyTorch layer takes gives what it gives on an ideal chain.

What the chain sees: a linear layer's analog results as a (N, out) batch of vectors, every
leading dimension (tokens, time steps) folded into N — each is one analog matrix-vector product;
a 2-D convolution's as (B, C, H, W) images; a 1-D convolution's as one-row images (B, C, 1, L).

With ``weights.realisation = "differential"`` the hardware realises W = W⁺ − W⁻ as two
non-negative analog channels; both go through the ADC (unsigned by default: with non-negative
inputs, such as light intensities, each half is non-negative) and are subtracted digitally.
The pairs sit inside their convolution group — for g groups of c = out/g channels the analog
channels are [W⁺ of group 0, W⁻ of group 0, W⁺ of group 1, …], each block c channels — so a
grouped or depthwise convolution keeps its groups; for g = 1 that is W⁺ stacked above W⁻ (the
one pair layout of `mixsig.nn.pairs`, shared with the optical layer).

An analog array has a finite number of rows (``hardware.array.rows``). A layer with more inputs
per output than that is split along its inputs into tiles, one array each (`mixsig.nn.tiling`
owns the rule): each tile's analog result goes through its own chain, held in ``chains`` (an
`nn.ModuleList`, one per tile), and the tiles' digital outputs are summed before the pair
subtraction and the bias. A layer that fits on one array (always, with rows unlimited: the
default) has the one chain ``chain`` and computes what it computes without tiling.

The layers keep `weight` and `bias` exactly where `nn.Linear`/`nn.Conv2d` keep them, so a float
state_dict loads into a mixed layer and `mixsig.convert` keeps trained weights.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from mixsig.config.hardware import HardwareConfig
from mixsig.nn.pairs import stack_pairs, subtract_pairs
from mixsig.nn.tiling import plan_tiles, tile_chains, tiled_mac, tiled_readout
from mixsig.signal import WeightQuantizer, build_chain, build_dac, split_differential
from mixsig.signal.distortion import KernelMismatch


class _MixedMixin:
    """The analog part shared by the mixed-signal layers (see the module docstring)."""

    weight: Tensor
    bias: Tensor | None
    #: the layer's channel dimension, counted from the end (where tiles are laid side by side)
    _channel_dim: int

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
        self.tiling = plan_tiles(self.weight.shape, hw.array.rows, layer=self._layer_name())
        if self.tiling.count == 1:
            self.chain = build_chain(hw)
        else:  # one array, and so one chain, per tile (see the module docstring)
            self.chains = tile_chains(hw, self.tiling.count)

    def _layer_name(self) -> str:
        """The layer and its size, for the error of a kernel larger than an array."""
        w = self.weight.shape
        if len(w) == 2:
            return f"{type(self).__name__} with {w[1]} inputs per output"
        per_group = " per group" if self._pair_groups > 1 else ""
        n = w[1] * math.prod(w[2:])
        kernel = "×".join(str(k) for k in w[2:])
        return (
            f"{type(self).__name__} with {w[1]} input channels{per_group} × a {kernel} kernel "
            f"= {n} inputs per output"
        )

    @property
    def _pair_groups(self) -> int:
        """The number of groups the differential pairs are laid out in (1 for a linear layer)."""
        return getattr(self, "groups", 1)

    def analog_weight(self) -> Tensor:
        """The weights the hardware realises: quantized, with kernel mismatch; for a
        differential layer W⁺ and W⁻ stacked inside each group (see the module docstring)."""
        if self.differential:
            wp, wn = split_differential(self.weight)
            w = stack_pairs(self.weight_quant(wp), self.weight_quant(wn), self._pair_groups)
        else:
            w = self.weight_quant(self.weight)
        return self.mismatch(w) if self.mismatch is not None else w

    # The forward in two halves (the protocol `mixsig.eval` uses to evaluate Monte-Carlo draws
    # without recomputing what noise does not touch): `analog_result` is deterministic in
    # eval mode, `readout` holds every random part.
    def analog_result(self, x: Tensor) -> Tensor:
        """The ideal analog result: input DAC, realised weights, the MAC (no noise yet); for a
        tiled layer every tile's, side by side along the channels (`mixsig.nn.tiling`)."""
        if self.dac is not None:
            x = self.dac(x)
        w = self.analog_weight()
        if self.tiling.count > 1:  # a convolution's tiles split every group alike
            dim, groups = self._channel_dim, self._pair_groups
            return tiled_mac(self._mac, x, w, self.tiling, channel_dim=dim, groups=groups)
        return self._mac(x, w)

    def readout(self, a: Tensor) -> Tensor:
        """The analog chain (distortion, noise, ADC) and the digital side of the layer."""
        if self.tiling.count > 1:  # each tile through its own chain, the digital results summed
            dim = self._channel_dim
            y = tiled_readout(self.chains, a, channel_dim=dim, to_chain=self._to_chain)
        else:
            y = self.chain(self._to_chain(a))
        if self.differential:
            y = subtract_pairs(y, self._pair_groups)
        if self.bias is not None:
            shape = (1, -1) + (1,) * (y.dim() - 2)
            y = y.add_(self.bias.view(shape))  # in place: y is a fresh output of the chain
        return self._from_chain(y, a)

    # The layout the chain sees (see the module docstring); the layers override these.
    def _to_chain(self, a: Tensor) -> Tensor:
        return a

    def _from_chain(self, y: Tensor, a: Tensor) -> Tensor:
        return y

    def _mixed_forward(self, x: Tensor) -> Tensor:
        return self.readout(self.analog_result(x))


class MixedLinear(_MixedMixin, nn.Linear):
    """`nn.Linear` computed on the analog accelerator; ``hardware`` describes its chain."""

    _channel_dim = -1

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

    def _to_chain(self, a: Tensor) -> Tensor:
        return a.reshape(-1, a.shape[-1])  # every leading dimension is a separate MVM

    def _from_chain(self, y: Tensor, a: Tensor) -> Tensor:
        return y.reshape(*a.shape[:-1], self.out_features)

    def forward(self, x: Tensor) -> Tensor:
        return self._mixed_forward(x)


class MixedConv1d(_MixedMixin, nn.Conv1d):
    """`nn.Conv1d` computed on the analog accelerator; ``hardware`` describes its chain.
    The chain sees its outputs as one-row images (B, C, 1, L)."""

    _channel_dim = -2

    def __init__(self, *args, hardware: HardwareConfig | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_analog(hardware)

    def _mac(self, x: Tensor, w: Tensor) -> Tensor:
        return self._conv_forward(x, w, None)

    def _to_chain(self, a: Tensor) -> Tensor:
        return a.reshape(-1, a.shape[-2], 1, a.shape[-1])  # (B, C, L) or unbatched (C, L)

    def _from_chain(self, y: Tensor, a: Tensor) -> Tensor:
        return y.reshape(*a.shape[:-2], y.shape[1], a.shape[-1])

    def forward(self, x: Tensor) -> Tensor:
        return self._mixed_forward(x)


class MixedConv2d(_MixedMixin, nn.Conv2d):
    """`nn.Conv2d` computed on the analog accelerator; ``hardware`` describes its chain."""

    _channel_dim = -3

    def __init__(self, *args, hardware: HardwareConfig | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_analog(hardware)

    def _mac(self, x: Tensor, w: Tensor) -> Tensor:
        return self._conv_forward(x, w, None)

    def _to_chain(self, a: Tensor) -> Tensor:
        return a if a.dim() == 4 else a.unsqueeze(0)  # an unbatched (C, H, W) input

    def _from_chain(self, y: Tensor, a: Tensor) -> Tensor:
        return y if a.dim() == 4 else y.squeeze(0)

    def forward(self, x: Tensor) -> Tensor:
        return self._mixed_forward(x)


MIXED_LAYERS: dict[type[nn.Module], type[nn.Module]] = {
    nn.Linear: MixedLinear,
    nn.Conv1d: MixedConv1d,
    nn.Conv2d: MixedConv2d,
}

__all__ = ["MIXED_LAYERS", "MixedConv1d", "MixedConv2d", "MixedLinear"]
