"""Detected photons per MAC of an optical layer: the field's unit of optical energy.

Owns `optical_layer`, `optical_macs`, `camera_signal`, `Exposure` and `set_exposure`. A camera
pixel holding a signal s (ADC input units, at the input of the chain's shot noise) detects k·s
photo-electrons, k = ``electrons_per_unit`` (`mixsig.signal.ShotNoise`: Poisson in evaluation).
The photons an image spends are Σ k·max(s, 0) over every camera pixel the chain reads — both
halves of each pseudo-negative pair — and

    photons per MAC = k · S̄ / M,

S̄ the mean over images of Σ max(s, 0), M the MACs of the convolution the layer computes per
image: K output channels × H × W output pixels × k² kernel elements (the signed network's
MACs; a pseudo-negative pair spends two positive convolutions on one of them, so per physical
multiplication the figure is half). This is the unit of Wang et al., Nat. Commun. 13:123 (2022):
detected optical energy per multiply-accumulate, quantum efficiency 1 (detected photons =
photo-electrons). `set_exposure` inverts it: k = P·M/S̄ for a wanted P.

The signal S̄ is measured on images (`camera_signal`, a probe standing in for the shot noise of
the layer's chain, so distortions placed before the shot noise are accounted for); it belongs
to one set of weights: after retraining, measure it again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mixsig.data.images import to_input
from mixsig.nn.optical import OpticalConv2d
from mixsig.nn.placement import model_device
from mixsig.signal import ShotNoise


@dataclass(frozen=True)
class Exposure:
    """An optical layer's light budget per image: photons per MAC, detected photons, MACs."""

    photons_per_mac: float
    photons_per_image: float
    macs_per_image: int
    electrons_per_unit: float


def optical_macs(layer: OpticalConv2d) -> int:
    """MACs per image of the convolution ``layer`` computes: K × H × W × k² (module docs)."""
    h, w = layer.image_size
    return int(layer.out_channels * h * w * layer.kernel_size**2)


def optical_layer(model: nn.Module) -> OpticalConv2d:
    """The one optical layer of ``model``; a model with none or several is refused."""
    layers = [m for m in model.modules() if isinstance(m, OpticalConv2d)]
    if len(layers) != 1:
        raise ValueError(f"need a model with exactly one optical layer, found {len(layers)}")
    return layers[0]


class _SignalProbe(nn.Module):
    """Stands in for the shot noise: passes the signal through and sums max(s, 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0.0

    def forward(self, s: Tensor) -> Tensor:
        self.total += float(s.detach().clamp_min(0.0).sum(dtype=torch.float64))
        return s


@torch.no_grad()
def camera_signal(model: nn.Module, x: Tensor, *, batch_size: int = 500) -> float:
    """S̄: the mean over the images ``x`` of Σ max(s, 0) over the camera pixels of the model's
    optical layer, s the signal entering its shot noise (ADC input units; the noise after it
    plays no part): the shot noise is replaced by a probe meanwhile, the model in eval mode."""
    if len(x) == 0:
        raise ValueError("need at least one image to measure the camera signal")
    chain = optical_layer(model).chain
    saved, was_training = chain.shot, model.training
    probe = chain.shot = _SignalProbe()
    model.eval()
    device = model_device(model)
    try:
        for i in range(0, len(x), batch_size):
            model(to_input(x[i : i + batch_size].to(device)))
    finally:
        chain.shot = saved
        model.train(was_training)
    return probe.total / len(x)


def set_exposure(
    model: nn.Module, photons_per_mac: float | None, signal: float, *, seed: int = 0
) -> Exposure | None:
    """Give the model's optical layer the shot noise of ``photons_per_mac`` detected photons
    per MAC, for its camera signal ``signal`` (`camera_signal`); None removes the shot noise
    (unlimited light). An existing shot-noise module keeps its generator; a new one is seeded
    with ``seed``."""
    layer = optical_layer(model)
    if photons_per_mac is None:
        layer.chain.shot = None
        return None
    p = float(photons_per_mac)
    if not (math.isfinite(p) and p > 0.0):
        raise ValueError(f"photons_per_mac must be a finite number > 0, got {photons_per_mac}")
    if not (math.isfinite(signal) and signal > 0.0):
        raise ValueError(
            f"the camera signal must be > 0 (measure it with camera_signal), got {signal}"
        )
    macs = optical_macs(layer)
    k = p * macs / signal
    if layer.chain.shot is None:
        layer.chain.shot = ShotNoise(k, seed=seed).to(model_device(model))
    else:
        layer.chain.shot.electrons_per_unit = k
    return Exposure(p, p * macs, macs, k)


__all__ = ["Exposure", "camera_signal", "optical_layer", "optical_macs", "set_exposure"]
