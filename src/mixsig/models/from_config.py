"""A run's network from its model config: `model_from_config`.

Owns the mapping from a model config (``mixsig.train.config.ModelConfig``: ``name``,
``batchnorm``, ``optical``) and the data's image shape and class count to a float network
(`build_model`) or the hybrid optical CNN (`optical_cnn`, its camera on ``hardware``). The
config is read by its attributes: this layer cannot import the run config's schema
(`mixsig.train` sits above `mixsig.models`).
"""

from __future__ import annotations

from typing import Protocol

from torch import nn

from mixsig.config.hardware import HardwareConfig
from mixsig.models.cnn import build_model
from mixsig.models.optical import optical_cnn


class _OpticalFields(Protocol):
    parameterisation: str
    out_channels: int
    kernel_size: int
    doe_levels: int | None


class ModelFields(Protocol):
    """What `model_from_config` reads of a model config."""

    name: str
    batchnorm: bool
    optical: _OpticalFields


def model_from_config(
    model: ModelFields,
    image_shape: tuple[int, int, int],
    num_classes: int,
    hardware: HardwareConfig,
) -> nn.Sequential:
    """The network ``model`` names for images of ``image_shape`` = (C, H, W): the optical CNN
    (one square intensity image enters the optics; its camera is ``hardware``) or one of the
    float `MODELS` (converted to ``hardware`` later, by `mixsig.convert`)."""
    if model.name == "optical_cnn":
        c, h, w = image_shape
        if c != 1 or h != w:
            raise ValueError(
                f"optical_cnn needs square single-channel images (one intensity image "
                f"enters the optics), got {c}×{h}×{w}: use grayscale data"
            )
        oc = model.optical
        return optical_cnn(
            h,
            num_classes,
            out_channels=oc.out_channels,
            kernel_size=oc.kernel_size,
            parameterisation=oc.parameterisation,
            hardware=hardware,
            doe_levels=oc.doe_levels,
        )
    return build_model(model.name, image_shape, num_classes, batchnorm=model.batchnorm)


__all__ = ["ModelFields", "model_from_config"]
