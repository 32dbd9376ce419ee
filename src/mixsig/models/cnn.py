"""The small paper-style CNN used by the demo, the tests and the layer benchmark.

Owns `small_cnn`: conv → (BN) → ReLU → maxpool 2, twice, then one linear classifier. With the
defaults on 28×28 inputs it is the benchmark's network: conv 1→8 5×5, conv 8→16 5×5,
linear 256→10. It is a plain float `nn.Sequential`; `mixsig.convert` makes it mixed-signal.
"""

from __future__ import annotations

from torch import nn


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
