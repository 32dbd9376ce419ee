"""The hybrid optical-electronic CNN: an `OpticalConv2d` front and a small digital rest.

Owns `optical_cnn` (after Chang et al., Sci. Rep. 8, 12324, 2018): one optical convolution
(K kernels, tiled on the camera, read by the camera chain) → batch-norm → ReLU → max-pool →
[a digital 3 × 3 convolution block] → [a hidden linear layer] → a linear classifier, digital
or mixed-signal. For 28×28 MNIST and
32×32 greyscale CIFAR (one intensity input channel: the optics see one image).

Training recipes (design §3): kernel space — train, `OpticalConv2d.synthesize_doe`, recalibrate
(`mixsig.calibrate`), fine-tune the digital layers with the realised PSF; DOE space — train the
phase with ``λ·mixsig.nn.optical_regularizer(model)`` added to the loss (the regulariser of every
optical layer in the model; `OpticalConv2d.optical_regularizer` of one layer). The DOE's PSF
model — pixel envelope (on by default), source spectrum, material — is the layer's
(`mixsig.optics.psf_model.PSFModel`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from mixsig.config.hardware import HardwareConfig
from mixsig.nn.mixed import MixedLinear
from mixsig.nn.optical import OpticalConv2d
from mixsig.optics.sampling import FourierSampling
from mixsig.optics.spectrum import Spectrum


def optical_cnn(
    image_size: int = 28,
    num_classes: int = 10,
    *,
    out_channels: int = 8,
    kernel_size: int = 5,
    parameterisation: str = "kernel",
    hardware: HardwareConfig | dict | None = None,
    signed: bool = True,
    pool: int = 4,
    hidden: int = 0,
    conv: int = 0,
    classifier_hardware: HardwareConfig | dict | None = None,
    doe_levels: int | None = 16,
    model_crosstalk: bool = False,
    sampling: FourierSampling | None = None,
    tile_pitch_px: int | None = None,
    dtype: torch.dtype = torch.float32,
    pixel_envelope: bool = True,
    fill_factor: float = 1.0,
    spectrum: Spectrum | Mapping | Any | None = None,
    material: Any = "fused_silica",
) -> nn.Sequential:
    """optical conv (K = ``out_channels``) → BN → ReLU → max-pool ``pool`` → [digital 3 × 3
    conv ``conv`` → BN → ReLU → max-pool 2] → [linear ``hidden`` → ReLU] → linear
    ``num_classes`` (a `MixedLinear` when ``classifier_hardware`` is given).

    ``hardware`` is the optical layer's camera chain; the remaining keywords go to
    `OpticalConv2d` (``pixel_envelope``, ``fill_factor``, ``spectrum``, ``material``: its
    `PSFModel`; a spectrum or material may be a config section). Index 0 of the returned
    `nn.Sequential` is the optical layer.
    """
    optical = OpticalConv2d(
        out_channels,
        kernel_size,
        image_size=image_size,
        sampling=sampling,
        hardware=hardware,
        parameterisation=parameterisation,
        signed=signed,
        tile_pitch_px=tile_pitch_px,
        model_crosstalk=model_crosstalk,
        doe_levels=doe_levels,
        dtype=dtype,
        pixel_envelope=pixel_envelope,
        fill_factor=fill_factor,
        spectrum=spectrum,
        material=material,
    )
    size = image_size // pool
    if size < 1:
        raise ValueError(f"pool {pool} leaves nothing of {image_size}×{image_size} images")
    layers: list[nn.Module] = [
        optical,
        nn.BatchNorm2d(out_channels, dtype=dtype),
        nn.ReLU(),
        nn.MaxPool2d(pool),
        nn.Flatten(),
    ]
    channels = out_channels
    if conv:
        if size < 2:
            raise ValueError(f"the conv's 2×2 pool leaves nothing of {size}×{size} features")
        layers[-1:-1] = [
            nn.Conv2d(out_channels, conv, 3, padding=1, dtype=dtype),
            nn.BatchNorm2d(conv, dtype=dtype),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
        channels, size = conv, size // 2
    features = channels * size * size
    if hidden:
        layers += [nn.Linear(features, hidden, dtype=dtype), nn.ReLU()]
        features = hidden
    if classifier_hardware is None:
        layers.append(nn.Linear(features, num_classes, dtype=dtype))
    else:
        layers.append(MixedLinear(features, num_classes, hardware=classifier_hardware, dtype=dtype))
    return nn.Sequential(*layers)


__all__ = ["optical_cnn"]
