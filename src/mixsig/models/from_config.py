"""A run's network from its model config: `model_from_config`.

Owns the mapping from a model config (``mixsig.train.config.ModelConfig``: ``name``,
``batchnorm``, ``optical``, ``factory``, ``kwargs``) and the data's image shape and class count
to a float network (`build_model`, or your own: `build_from_factory`) or the hybrid optical
CNN (`optical_cnn`, its camera on ``hardware``). The config is read by its attributes: this
layer cannot import the run config's schema (`mixsig.train` sits above `mixsig.models`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from torch import nn

from mixsig.config.hardware import HardwareConfig
from mixsig.models.cnn import build_model
from mixsig.models.factory import build_from_factory, check_model_config
from mixsig.models.optical import optical_cnn


class _OpticalFields(Protocol):
    parameterisation: str
    out_channels: int
    kernel_size: int
    doe_levels: int | None
    pixel_envelope: bool
    fill_factor: float
    spectrum: object  # None, or the lines / Gaussian of `mixsig.optics.spectrum.as_spectrum`
    material: object  # a name, or a model of `mixsig.optics.dispersion.material_from_spec`
    pool: int
    hidden: int
    conv: int


class ModelFields(Protocol):
    """What `model_from_config` reads of a model config."""

    name: str
    batchnorm: bool
    optical: _OpticalFields
    factory: str | None
    kwargs: Mapping[str, Any]


def _optional(optical: _OpticalFields) -> dict[str, object]:
    """The optical layer's PSF model (`mixsig.optics.psf_model.PSFModel`) and the back end's
    ``pool``, ``conv`` and ``hidden`` of the config; an object without these fields (written before
    them) gets `optical_cnn`'s defaults."""
    names = ("pixel_envelope", "fill_factor", "spectrum", "material", "pool", "hidden", "conv")
    return {name: getattr(optical, name) for name in names if hasattr(optical, name)}


def model_from_config(
    model: ModelFields,
    image_shape: tuple[int, int, int],
    num_classes: int,
    hardware: HardwareConfig,
) -> nn.Module:
    """The network ``model`` names for images of ``image_shape`` = (C, H, W): the optical CNN
    (one square intensity image enters the optics; its camera is ``hardware``) or one of the
    float `MODELS` or the network of ``model.factory`` (`build_from_factory`), both converted
    to ``hardware`` later, by `mixsig.convert`."""
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
            **_optional(oc),
        )
    if model.factory is not None:  # your own network (`mixsig.models.factory`)
        return build_from_factory(model.factory, image_shape, num_classes, model.kwargs)
    check_model_config(model)  # the kwargs fit the built-in's builder
    return build_model(
        model.name, image_shape, num_classes, batchnorm=model.batchnorm, **model.kwargs
    )


__all__ = ["ModelFields", "model_from_config"]
