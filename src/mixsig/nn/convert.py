"""`convert`: swap a model's `nn.Linear` / `nn.Conv2d` for mixed-signal layers, keeping weights.

Owns the model surgery. Only exact `nn.Linear` and `nn.Conv2d` instances are replaced (not
subclasses, and not layers that are already mixed); a ``include`` predicate on the qualified
name selects which (e.g. keep the first layer digital). Weights and biases are copied, so a
trained float model becomes its hardware-aware twin with the same parameters.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from mixsig.config.hardware import HardwareConfig
from mixsig.nn.mixed import MIXED_LAYERS, MixedConv2d, MixedLinear


def _mixed_twin(m: nn.Module, hw: HardwareConfig) -> nn.Module:
    w = m.weight
    kw = dict(bias=m.bias is not None, hardware=hw, device=w.device, dtype=w.dtype)
    if isinstance(m, nn.Conv2d):
        new = MixedConv2d(
            m.in_channels,
            m.out_channels,
            m.kernel_size,
            stride=m.stride,
            padding=m.padding,
            dilation=m.dilation,
            groups=m.groups,
            padding_mode=m.padding_mode,
            **kw,
        )
    else:
        new = MixedLinear(m.in_features, m.out_features, **kw)
    with torch.no_grad():
        new.weight.copy_(m.weight)
        if m.bias is not None:
            new.bias.copy_(m.bias)
    new.train(m.training)
    return new


def convert(
    model: nn.Module,
    hardware: HardwareConfig | None = None,
    *,
    include: Callable[[str, nn.Module], bool] | None = None,
) -> nn.Module:
    """Replace, in place, each `nn.Linear`/`nn.Conv2d` of ``model`` by its mixed-signal twin.

    ``hardware``: the chain of every converted layer (default ``HardwareConfig()``).
    ``include(name, module)``: convert only where it returns True (default: all).
    Returns ``model``. Its ranges still need `mixsig.calibrate` before use.
    """
    hw = HardwareConfig() if hardware is None else HardwareConfig.model_validate(hardware)
    if type(model) in MIXED_LAYERS:
        raise TypeError("convert expects a model containing layers; wrap a single layer first")
    targets = [
        (name, m)
        for name, m in model.named_modules()
        if type(m) in MIXED_LAYERS and (include is None or include(name, m))
    ]
    for name, m in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, _mixed_twin(m, hw))
    return model


__all__ = ["MixedConv2d", "MixedLinear", "convert"]
