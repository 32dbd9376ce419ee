"""Physics-aware training (Wright et al., Nature 601, 549, 2022): forward on the device,
backward through the differentiable model.

Owns the two pieces that let a network train against a physical (or recorded, or simulated)
device whose imperfections are not all known:

* `device_twin(model, device_hw)` — the device as a network: every mixed-signal layer of
  ``model`` realised with the device's hardware (its hidden mismatches, distortions, noise),
  **sharing** the model's weights, biases and calibrated ranges, so that it always runs what the
  model currently holds. For a real device, replace these layers by calls to the hardware.
* `optical_device_twin(model, psf_model)` — the same for the optical layers
  (`mixsig.nn.OpticalConv2d`), whose device differs from the model in its optics: every optical
  layer computes ``psf_model`` (e.g. the pixelated DOE and the broadband source the model left
  out), **sharing** the model's DOE phase (or kernels and fitted phase) and digital bias; its
  camera chain is its own copy, to be calibrated on the device (`mixsig.calibrate`).
* `PhysicsAware(layer, device_layer)` and `physics_aware(model, device)` — each analog layer's
  (mixed-signal or optical) output is the device's, y = y_model + (y_device − y_model).detach():
  the forward pass (and so every later layer and the loss) sees the device, the backward pass
  uses the model's gradient.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from mixsig.config.hardware import HardwareConfig
from mixsig.config.io import ConfigError
from mixsig.nn.mixed import _MixedMixin
from mixsig.nn.optical import OpticalConv2d
from mixsig.optics.psf_model import PSFModel
from mixsig.signal.chain import chains


class PhysicsAware(nn.Module):
    """Forward through ``device_layer``, backward through ``layer`` (the digital twin)."""

    def __init__(self, layer: nn.Module, device_layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer
        self.device_layer = device_layer

    def forward(self, x: Tensor) -> Tensor:
        y = self.layer(x)
        with torch.no_grad():
            y_dev = self.device_layer(x)
        return y + (y_dev - y).detach()


def _mixed_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, _MixedMixin)]


def _analog_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The mixed-signal and the optical layers: those a device computes."""
    kinds = (_MixedMixin, OpticalConv2d)
    return [(n, m) for n, m in model.named_modules() if isinstance(m, kinds)]


def device_twin(model: nn.Module, device_hw: HardwareConfig) -> nn.Module:
    """A copy of ``model`` whose mixed-signal layers use ``device_hw`` but share the model's
    weights, biases and range buffers (every other module is shared as it is)."""
    dev = copy.copy(model)
    dev._modules = dict(model._modules)  # a shallow container copy; leaves are replaced below
    for name, layer in _mixed_layers(model):
        twin = type(layer).__new__(type(layer))
        nn.Module.__init__(twin)
        twin.__dict__.update({k: v for k, v in layer.__dict__.items() if not k.startswith("_")})
        twin._parameters = layer._parameters  # shared weight and bias
        twin._buffers = dict(layer._buffers)
        twin._modules = {}
        twin._init_analog(device_hw)
        _share_ranges(layer, twin)
        twin.train(layer.training)
        _set(dev, name, twin)
    return dev


def optical_device_twin(model: nn.Module, psf_model: PSFModel) -> nn.Module:
    """A copy of ``model`` whose `OpticalConv2d` layers compute ``psf_model`` on the same DOE
    sampling, sharing the model's optical parameters and buffers (the DOE phase, or the kernels,
    fitted phase and realised flag) and bias; each has its own copy of the camera chain and DAC
    (calibrate them on the device). Every other module is shared as it is. A ``psf_model``
    whose higher orders would reach a channel of the layout is refused (`check_layout_orders`)."""
    dev = copy.copy(model)
    dev._modules = dict(model._modules)
    for name, layer in model.named_modules():
        if not isinstance(layer, OpticalConv2d):
            continue
        twin = copy.deepcopy(layer)  # its own camera chain and DAC
        twin._parameters = layer._parameters  # shared phase / kernels and bias
        twin._buffers = layer._buffers  # shared fitted phase and realised flag
        twin.invalidate_cache()
        twin.psf_model = psf_model
        twin._check_window()  # the orders of the new model against the layout
        twin.train(layer.training)
        _set(dev, name, twin)
    return dev


def _share_ranges(src: nn.Module, dst: nn.Module) -> None:
    """The device runs with the ranges the model was calibrated to (its physical settings)."""
    for attr in ("dac",):
        a, b = getattr(src, attr, None), getattr(dst, attr, None)
        if a is not None and b is not None:
            b.load_state_dict(a.state_dict())
    ours, theirs = chains(src), chains(dst)
    if len(ours) != len(theirs):  # one chain per array tile (`hardware.array.rows`)
        raise ConfigError(
            f"{type(src).__name__}: the device has {len(theirs)} array tile(s) where the model "
            f"has {len(ours)}: give both the same hardware.array.rows"
        )
    for a, b in zip(ours, theirs):
        b.adc.load_state_dict(a.adc.state_dict())
        b._sync_full_scale()


def _set(root: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root
    if parent_name:
        # copy the path so the original model keeps its own containers
        for part in parent_name.split("."):
            sub = copy.copy(parent._modules[part])
            sub._modules = dict(sub._modules)
            parent._modules[part] = sub
            parent = sub
    parent._modules[child] = module


def physics_aware(model: nn.Module, device: nn.Module) -> nn.Module:
    """``model`` with each mixed-signal or optical layer wrapped in `PhysicsAware` with the
    matching layer of ``device`` (from `device_twin` or `optical_device_twin`); trains
    ``model``'s parameters."""
    pat = copy.copy(model)
    pat._modules = dict(model._modules)
    dev_layers = dict(_analog_layers(device))
    for name, layer in _analog_layers(model):
        _set(pat, name, PhysicsAware(layer, dev_layers[name]))
    return pat
