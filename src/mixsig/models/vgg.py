"""VGG-8 for CIFAR: `vgg8`, the first three stages of VGG (Simonyan & Zisserman, ICLR 2015) at
CIFAR scale, 6 conv + 2 linear = 8 weight layers.

Owns the network, with ``width`` = w (default 64):

    [conv 3×3 w → BN → ReLU] ×2 → maxpool 2
    [conv 3×3 2w → BN → ReLU] ×2 → maxpool 2
    [conv 3×3 4w → BN → ReLU] ×2 → maxpool 2
    flatten (4w · (H/8)²) → linear 8w → ReLU → linear num_classes

i.e. with the default 64-64-M-128-128-M-256-256-M, then linear 4096 → 512 → 10 on 32×32
inputs: 3,249,098 parameters (10 classes). The convs have no bias when BN follows them. Every
conv and linear layer is a plain `nn.Conv2d` / `nn.Linear`, so `mixsig.convert` makes each
mixed-signal; BN, ReLU and pooling stay digital, after the ADCs. (`cifar_cnn` is the smaller
two-stage relative.)
"""

from __future__ import annotations

from torch import nn


def vgg8(
    image_size: int = 32,
    in_channels: int = 3,
    num_classes: int = 10,
    *,
    width: int = 64,
    batchnorm: bool = True,
) -> nn.Sequential:
    """VGG-8 (module doc) for images of ``image_size``² (at least 8×8: three 2× poolings)."""
    if image_size < 8:
        raise ValueError(f"vgg8 needs image_size >= 8 (three 2x poolings), got {image_size}")
    if width < 1:
        raise ValueError(f"vgg8 needs width >= 1, got {width}")
    layers: list[nn.Module] = []
    c_in = in_channels
    for c in (width, width, None, 2 * width, 2 * width, None, 4 * width, 4 * width, None):
        if c is None:
            layers.append(nn.MaxPool2d(2))
            continue
        layers.append(nn.Conv2d(c_in, c, 3, padding=1, bias=not batchnorm))
        if batchnorm:
            layers.append(nn.BatchNorm2d(c))
        layers.append(nn.ReLU())
        c_in = c
    size = image_size // 8
    return nn.Sequential(
        *layers,
        nn.Flatten(),
        nn.Linear(c_in * size * size, 8 * width),
        nn.ReLU(),
        nn.Linear(8 * width, num_classes),
    )


__all__ = ["vgg8"]
