"""`convert`: swap a model's `nn.Linear` / `nn.Conv1d` / `nn.Conv2d` for mixed-signal layers,
keeping weights.

Owns the model surgery. Only exact `nn.Linear`, `nn.Conv1d` and `nn.Conv2d` instances are
replaced (not subclasses, and not layers that are already mixed); a ``include`` predicate on the
qualified name selects which (e.g. keep the first layer digital). Weights and biases are
copied, so a trained float model becomes its hardware-aware twin with the same parameters.

Nothing stays digital without a word: every other layer that computes a matrix product or a
convolution (`nn.ConvTranspose2d`, `nn.Conv3d`, `nn.MultiheadAttention`, `nn.Bilinear`, a
subclass of `nn.Linear`, …) is listed in a warning, or refused with ``strict=True``. Layers the
``include`` predicate leaves out are the caller's choice and are not reported.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import nn

from mixsig.config.hardware import HardwareConfig
from mixsig.nn.mixed import MIXED_LAYERS, MixedLinear

# layers that compute a matrix product or a convolution; those not in MIXED_LAYERS stay digital
_LINEAR_ALGEBRA = (nn.Linear, nn.Bilinear, nn.modules.conv._ConvNd, nn.MultiheadAttention)


def _mixed_twin(m: nn.Module, hw: HardwareConfig) -> nn.Module:
    w = m.weight
    kw = dict(bias=m.bias is not None, hardware=hw, device=w.device, dtype=w.dtype)
    if isinstance(m, nn.modules.conv._ConvNd):
        new = MIXED_LAYERS[type(m)](
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


def _left_digital(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The matrix-product and convolution layers `convert` cannot convert (outermost only:
    an attention block is named once, not with its projections)."""
    found: list[tuple[str, nn.Module]] = []
    for name, m in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix, _ in found):
            continue
        is_mixed = any(isinstance(m, mixed) for mixed in MIXED_LAYERS.values())
        if isinstance(m, _LINEAR_ALGEBRA) and type(m) not in MIXED_LAYERS and not is_mixed:
            found.append((name, m))
    return found


def convert(
    model: nn.Module,
    hardware: HardwareConfig | None = None,
    *,
    include: Callable[[str, nn.Module], bool] | None = None,
    strict: bool = False,
) -> nn.Module:
    """Replace, in place, each `nn.Linear`/`nn.Conv1d`/`nn.Conv2d` of ``model`` by its
    mixed-signal twin.

    ``hardware``: the chain of every converted layer (default ``HardwareConfig()``); its
    ``array.rows`` splits a layer with more inputs per output into tiles (`mixsig.nn.tiling`).
    ``include(name, module)``: convert only where it returns True (default: all).
    ``strict``: refuse (TypeError, nothing changed) a model with matrix-product or convolution
    layers that cannot be converted; without it they are listed in a `UserWarning`.
    A layer that cannot be built (a kernel larger than ``array.rows``) raises a `ConfigError`
    before any layer is replaced. Returns ``model``. Its ranges still need `mixsig.calibrate`
    before use.
    """
    hw = HardwareConfig() if hardware is None else HardwareConfig.model_validate(hardware)
    if type(model) in MIXED_LAYERS:
        raise TypeError("convert expects a model containing layers; wrap a single layer first")
    digital = _left_digital(model)
    if digital:
        listed = ", ".join(f"{name or '<model>'} ({type(m).__name__})" for name, m in digital)
        msg = (
            f"convert leaves {len(digital)} layer(s) digital that compute a matrix product or a "
            f"convolution: {listed}; mixsig converts exactly nn.Linear, nn.Conv1d and nn.Conv2d"
        )
        if strict:
            raise TypeError(msg)
        warnings.warn(msg, UserWarning, stacklevel=2)
    targets = [
        (name, m)
        for name, m in model.named_modules()
        if type(m) in MIXED_LAYERS and (include is None or include(name, m))
    ]
    twins = [(name, _mixed_twin(m, hw)) for name, m in targets]  # all built, then swapped in
    for name, twin in twins:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, twin)
    return model


__all__ = ["convert"]
