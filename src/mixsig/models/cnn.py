"""The float CNNs that mixsig trains: the small paper-style CNN, LeNet-5, a small CIFAR CNN.

Owns `small_cnn` (conv → (BN) → ReLU → maxpool 2, twice, then one linear classifier; with the
defaults on 28×28 inputs the benchmark's network: conv 1→8 5×5, conv 8→16 5×5, linear 256→10),
`lenet5` and `cifar_cnn`, and the registry of every built-in float network, `MODELS` (with
`resnet20` of `mixsig.models.resnet` and `vgg8` of `mixsig.models.vgg`), built by name for a
data set's image shape with `build_model`. All are plain float modules; `mixsig.convert` makes
every conv and linear layer mixed-signal (batch-norm, ReLU and pooling stay digital, after the
ADC).
"""

from __future__ import annotations

from torch import nn

from mixsig.models.resnet import resnet20
from mixsig.models.vgg import vgg8


def small_cnn(
    image_size: int = 28,
    in_channels: int = 1,
    num_classes: int = 10,
    *,
    channels: tuple[int, int] = (8, 16),
    kernel_size: int = 5,
    padding: int = 0,
    batchnorm: bool = False,
) -> nn.Sequential:
    """conv(k) → [BN] → ReLU → pool 2 → conv(k) → [BN] → ReLU → pool 2 → linear."""
    size = image_size
    layers: list[nn.Module] = []
    c_in = in_channels
    for c in channels:
        layers.append(nn.Conv2d(c_in, c, kernel_size, padding=padding))
        if batchnorm:
            layers.append(nn.BatchNorm2d(c))
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
        size = (size + 2 * padding - kernel_size + 1) // 2
        if size < 1:
            raise ValueError(
                f"image_size={image_size} is too small for kernel_size={kernel_size}, "
                f"padding={padding} and two 2× poolings"
            )
        c_in = c
    layers += [nn.Flatten(), nn.Linear(c_in * size * size, num_classes)]
    return nn.Sequential(*layers)


def lenet5(
    image_size: int = 28, in_channels: int = 1, num_classes: int = 10, *, batchnorm: bool = False
) -> nn.Sequential:
    """LeNet-5 (LeCun et al. 1998) with ReLU and max-pooling: conv 6@5×5 (padded to keep
    28×28), pool, conv 16@5×5, pool, linear 120, 84, num_classes."""
    if image_size < 12:
        raise ValueError(f"lenet5 needs image_size >= 12, got {image_size}")

    def block(c_in: int, c_out: int, pad: int) -> list[nn.Module]:
        layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 5, padding=pad)]
        if batchnorm:
            layers.append(nn.BatchNorm2d(c_out))
        return layers + [nn.ReLU(), nn.MaxPool2d(2)]

    size = ((image_size // 2) - 4) // 2
    return nn.Sequential(
        *block(in_channels, 6, 2),
        *block(6, 16, 0),
        nn.Flatten(),
        nn.Linear(16 * size * size, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, num_classes),
    )


def cifar_cnn(
    image_size: int = 32,
    in_channels: int = 3,
    num_classes: int = 10,
    *,
    width: int = 32,
    batchnorm: bool = True,
) -> nn.Sequential:
    """A small VGG-style CIFAR CNN: [conv 3×3 → BN → ReLU] ×2 → pool, twice (width, 2·width
    channels), then linear 128 and the classifier."""
    layers: list[nn.Module] = []
    c_in = in_channels
    for c in (width, width, None, 2 * width, 2 * width, None):
        if c is None:
            layers.append(nn.MaxPool2d(2))
            continue
        layers.append(nn.Conv2d(c_in, c, 3, padding=1))
        if batchnorm:
            layers.append(nn.BatchNorm2d(c))
        layers.append(nn.ReLU())
        c_in = c
    size = image_size // 4
    return nn.Sequential(
        *layers,
        nn.Flatten(),
        nn.Linear(c_in * size * size, 128),
        nn.ReLU(),
        nn.Linear(128, num_classes),
    )


#: the built-in float networks by name: each is ``f(image_size, in_channels, num_classes, *,
#: batchnorm=..., **options)``
MODELS = {
    "small_cnn": small_cnn,
    "lenet5": lenet5,
    "cifar_cnn": cifar_cnn,
    "resnet20": resnet20,
    "vgg8": vgg8,
}


def build_model(
    name: str, image_shape: tuple[int, int, int], num_classes: int, **kwargs
) -> nn.Module:
    """One of `MODELS` for images of ``image_shape`` = (C, H, W). The small CNN uses 3×3
    kernels with padding on images smaller than 16×16 (scikit-learn's 8×8 digits)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    c, h, w = image_shape
    if h != w:
        raise ValueError(f"square images only, got {h}x{w}")
    if name == "small_cnn" and h < 16:
        kwargs = {"kernel_size": 3, "padding": 1, **kwargs}
    return MODELS[name](h, c, num_classes, **kwargs)
