"""What one inference does, layer by layer: `LayerOps` and `count_operations`.

Owns the operation count that `mixsig.eval.energy.cost` prices. `count_operations` runs the
model on one sample (a batch of 1) in eval mode without gradients, with forward hooks on the
layers that multiply and on every analog chain inside them, and reports per layer:

* ``"analog"`` (`MixedLinear`, `MixedConv1d`, `MixedConv2d`): ``macs`` the MACs of the signed
  network (outputs × inputs per output, groups counted); ``array_macs`` those the arrays
  perform (twice ``macs`` with the differential realisation W⁺, W⁻); ``adc_conversions`` the
  values the chains digitise, read from the chains' own inputs, so both halves of a
  differential pair and every tile of a tiled layer (each array has its own ADC) count;
  ``dac_conversions`` the values written into the arrays: for a convolution lowered onto an
  array, output positions × input channels × kernel elements (the im2col entries, every group's
  inputs), for a linear layer the input vectors' elements — 0 when the layer has no input DAC
  (``dac: null``). The DAC drives both halves of a pair and every tile from one value.
* ``"optical"`` (`OpticalConv2d`): ``macs`` = out_channels × H_out × W_out × k² (the signed
  convolution, one input channel); ``array_macs`` twice that with pseudo-negative pairs;
  ``adc_conversions`` the camera pixels the chain digitises (2 × out_channels channels when
  ``signed``); ``dac_conversions`` the H × W input pixels (whether a modulator writes them is
  the cost's question, `EnergyConfig.input_display`), ``dac_bits`` the layer's input DAC's
  bits or None when it has none.
* ``"digital"`` (plain `nn.Linear`, `nn.Conv1d`, `nn.Conv2d`, `nn.Conv3d`): ``macs`` only.

Batch-norm, activations, pooling, the digital bias, the pair subtraction and the sum of the
tiles' outputs are not counted (their energy is small next to the MACs and conversions, and
a deployed network folds batch-norm into the layer before it). A layer run twice in one
forward counts twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import Tensor, nn

from mixsig.errors import MixsigError
from mixsig.eval.photons import optical_macs
from mixsig.nn.mixed import MixedConv1d, MixedConv2d, MixedLinear
from mixsig.nn.optical import OpticalConv2d
from mixsig.signal.chain import AnalogChain

Kind = Literal["analog", "optical", "digital"]

_ANALOG = (MixedLinear, MixedConv1d, MixedConv2d)
_DIGITAL = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass(frozen=True)
class LayerOps:
    """The operations of one layer in one inference (module docstring). ``adc_bits`` /
    ``dac_bits`` are None where the layer has no such converter; ``digital_bits`` the integer
    width of the layer's digital MACs, None to take the cost's ``digital_bits``."""

    name: str
    kind: Kind
    macs: int
    adc_conversions: int = 0
    adc_bits: int | None = None
    dac_conversions: int = 0
    dac_bits: int | None = None
    digital_bits: int | None = None
    array_macs: int = 0


def _kind(module: nn.Module) -> Kind | None:
    if isinstance(module, _ANALOG):
        return "analog"
    if isinstance(module, OpticalConv2d):
        return "optical"
    if isinstance(module, _DIGITAL):
        return "digital"
    return None


def _dac_bits(layer: nn.Module) -> int | None:
    dac = getattr(layer, "dac", None)
    return None if dac is None else int(dac.bits)


def _layer_ops(name: str, kind: Kind, layer: nn.Module, x: Tensor, y: Tensor) -> LayerOps:
    """The MACs and input values of one call of ``layer`` (input ``x``, output ``y``); the
    ADC conversions are added from the chains' hooks."""
    if kind == "optical":
        macs = optical_macs(layer)
        pairs = 2 if layer.signed else 1
        pixels = x.shape[-2] * x.shape[-1]
        return LayerOps(name, kind, macs, 0, None, pixels, _dac_bits(layer), None, pairs * macs)
    weight = layer.weight
    per_output = weight[0].numel()  # inputs per output: (C_in/groups) × kernel elements
    macs = y.numel() * per_output
    if kind == "digital":
        return LayerOps(name, kind, macs)
    positions = y.numel() // weight.shape[0]  # output vectors (linear) or positions (conv)
    written = positions * per_output * getattr(layer, "groups", 1)  # im2col entries
    dac = _dac_bits(layer)
    pairs = 2 if layer.differential else 1
    return LayerOps(
        name, kind, macs, 0, None, written if dac is not None else 0, dac, None, pairs * macs
    )


class _Recorder:
    """The hooks of one count: a record per counted layer, conversions per chain."""

    def __init__(self, model: nn.Module) -> None:
        self.ops: dict[str, LayerOps] = {}
        self.conversions: dict[str, int] = {}
        self.bits: dict[str, set[int]] = {}
        self.handles = []
        for name, module in model.named_modules():
            kind = _kind(module)
            if kind is None:
                continue
            self.handles.append(module.register_forward_hook(self._layer_hook(name, kind)))
            if kind == "digital":
                continue
            for chain in module.modules():
                if isinstance(chain, AnalogChain):
                    self.handles.append(chain.register_forward_hook(self._chain_hook(name)))

    def _layer_hook(self, name: str, kind: Kind):
        def hook(module: nn.Module, args: tuple, out: Tensor) -> None:
            new = _layer_ops(name or type(module).__name__, kind, module, args[0], out)
            old = self.ops.get(name)
            if old is not None:  # a layer called again: its operations add up
                new = replace(
                    new,
                    macs=old.macs + new.macs,
                    dac_conversions=old.dac_conversions + new.dac_conversions,
                    array_macs=old.array_macs + new.array_macs,
                )
            self.ops[name] = new

        return hook

    def _chain_hook(self, name: str):
        def hook(chain: AnalogChain, args: tuple, out: Tensor) -> None:
            self.conversions[name] = self.conversions.get(name, 0) + args[0].numel()
            self.bits.setdefault(name, set()).add(int(chain.adc.bits))

        return hook

    def result(self) -> list[LayerOps]:
        out = []
        for name, ops in self.ops.items():
            bits = self.bits.get(name, set())
            if len(bits) > 1:
                raise MixsigError(
                    f"layer {name!r}: its chains' ADCs have different bits {sorted(bits)}; "
                    "the count assumes one resolution per layer"
                )
            conversions = self.conversions.get(name, 0)
            out.append(replace(ops, adc_conversions=conversions, adc_bits=min(bits, default=None)))
        return out

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def count_operations(model: nn.Module, example_input: Tensor) -> list[LayerOps]:
    """The operations of one inference of ``model``, layer by layer in the order they run
    (module docstring). ``example_input``: a batch of inputs of the model's shape; only its
    first sample is used. The model runs in eval mode without gradients; its mode is
    restored afterwards."""
    if not isinstance(example_input, Tensor) or example_input.dim() < 1:
        raise MixsigError(
            "example_input must be a batch of inputs (a tensor whose first dimension is the "
            f"batch), got {type(example_input).__name__}"
        )
    if example_input.shape[0] < 1:
        raise MixsigError("example_input is an empty batch: give at least one sample")
    modes = {m: m.training for m in model.modules()}
    recorder = _Recorder(model)
    try:
        model.eval()
        with torch.no_grad():
            model(example_input[:1])
        return recorder.result()
    finally:
        recorder.remove()
        for m, training in modes.items():
            m.training = training


def digital_parameters(model: nn.Module) -> int:
    """The parameters a digital processor stores: all of ``model``'s, less those the optics
    realise (an optical layer's kernels or DOE phase; its digital bias after the camera
    counts)."""
    optical = {
        id(p)
        for m in model.modules()
        if isinstance(m, OpticalConv2d)
        for name, p in m.named_parameters()
        if name != "bias"
    }
    return sum(p.numel() for p in model.parameters() if id(p) not in optical)


def total_macs(ops: list[LayerOps], kind: Kind | None = None) -> int:
    """Σ MACs over ``ops`` (of one ``kind``, or all)."""
    return sum(o.macs for o in ops if kind is None or o.kind == kind)


__all__ = ["LayerOps", "count_operations", "digital_parameters", "total_macs"]
