"""Putting a mixed-signal model on a device: `to_device` and `model_device`.

Owns the one rule that ``model.to(device)`` does not know: the analog chain keeps its
calibration values (ADC/DAC ranges, distortion parameters, observer totals) in float64 buffers,
so that levels are exact for float64 inputs too, and Apple's MPS backend has no float64. On
MPS those buffers (and any float64 parameter) are cast to float32 first; on every other device
`to_device` is ``model.to(device)``. Everything else — generators, noise pools — follows the
data: each noise module draws on the device of the signal it perturbs.
"""

from __future__ import annotations

import torch
from torch import nn


def to_device(model: nn.Module, device: torch.device | str) -> nn.Module:
    """``model`` moved to ``device`` (in place, returned); float64 tensors become float32 on
    MPS (module docstring)."""
    device = torch.device(device)
    if device.type == "mps":
        without_float64(model)
    return model.to(device)


@torch.no_grad()
def without_float64(model: nn.Module) -> nn.Module:
    """Every float64 buffer and parameter of ``model`` cast to float32, in place (what MPS
    needs; the levels of a quantizer are then exact for float32 inputs only)."""
    for module in model.modules():
        for name, buf in module._buffers.items():
            if buf is not None and buf.dtype == torch.float64:
                module._buffers[name] = buf.float()
        for p in module._parameters.values():
            if p is not None and p.dtype == torch.float64:
                p.data = p.data.float()
    return model


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter or buffer (the CPU for an empty model)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


__all__ = ["model_device", "to_device", "without_float64"]
