"""A network of your own for mixsig: the factory `configs/runs/factory_example.yaml` names.

A run config builds it with

    model:
      factory: "examples.my_model:build"   # package.module:function
      kwargs: {width: 16}

mixsig imports the module (installed, on PYTHONPATH, or under the working directory: run
`mixsig train configs/runs/factory_example.yaml` from the repository's root, where
`examples/my_model.py` is the module `examples.my_model`) and calls `build(**kwargs)`, adding
`image_shape` = (C, H, W) and `num_classes` from the data because the signature names them.
The function returns a plain float `nn.Module`; mixsig converts its Conv2d and Linear layers to
the hardware chain, exactly as it does its built-in networks. Plain PyTorch, no torchvision.
"""

from __future__ import annotations

from torch import nn


def build(
    image_shape: tuple[int, int, int] = (1, 28, 28),
    num_classes: int = 10,
    width: int = 16,
) -> nn.Module:
    """conv 3×3 (width) → BN → ReLU → conv 3×3 stride 2 (2·width) → BN → ReLU → global
    average pool → linear: any image size, any channel count."""
    c = image_shape[0]
    return nn.Sequential(
        nn.Conv2d(c, width, 3, padding=1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(2 * width),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, num_classes),
    )
