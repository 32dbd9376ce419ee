"""ResNet-20 for CIFAR (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016,
§4.2): `resnet20` and its `BasicBlock`.

Owns the network: conv 3×3 16 → BN → ReLU, then three stages of three basic blocks (16, 32 and
64 channels; the first block of stages 2 and 3 halves the image with stride 2), global average
pooling and a linear classifier — 6·3 + 2 = 20 weight layers. A basic block is conv 3×3 → BN →
ReLU → conv 3×3 → BN, plus the shortcut, then ReLU. The shortcut where the shape changes:

* ``"A"`` (the default, the paper's choice for CIFAR): parameter-free — the input subsampled
  with stride 2 and zero-padded with the new channels (half before, half after). 0.27 M
  parameters (269,722 with 10 classes), the paper's Table 6 count;
* ``"B"``: a 1×1 strided convolution → BN (the projection shortcut; converted to the hardware
  chain like every other conv): 272,474 parameters with 10 classes.

Every conv and the linear layer are plain `nn.Conv2d` / `nn.Linear` (no bias in the convs,
which BN follows), so `mixsig.convert` makes each mixed-signal; the residual additions,
batch-norm, ReLU and pooling stay digital, after the ADCs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

SHORTCUTS = ("A", "B")


def _norm(channels: int, batchnorm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batchnorm else nn.Identity()


class BasicBlock(nn.Module):
    """conv 3×3 → BN → ReLU → conv 3×3 → BN, + shortcut, → ReLU (`resnet20`'s block)."""

    def __init__(
        self, c_in: int, c_out: int, stride: int, *, shortcut: str = "A", batchnorm: bool = True
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not batchnorm)
        self.bn1 = _norm(c_out, batchnorm)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=not batchnorm)
        self.bn2 = _norm(c_out, batchnorm)
        self.stride, self.pad = stride, c_out - c_in
        self.projection: nn.Module | None = None
        if shortcut == "B" and (stride != 1 or c_in != c_out):
            self.projection = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=not batchnorm),
                _norm(c_out, batchnorm),
            )

    def shortcut(self, x: Tensor) -> Tensor:
        """The identity, or where the shape changes option A (subsample, zero channels) or B."""
        if self.projection is not None:
            return self.projection(x)
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.pad:
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return x

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """stem conv → stages of `BasicBlock`s → global average pool → linear (`resnet20`)."""

    def __init__(
        self,
        blocks_per_stage: int,
        in_channels: int,
        num_classes: int,
        *,
        widths: tuple[int, ...] = (16, 32, 64),
        shortcut: str = "A",
        batchnorm: bool = True,
    ) -> None:
        super().__init__()
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {SHORTCUTS}, got {shortcut!r}")
        if blocks_per_stage < 1 or not widths or min(widths) < 1:
            raise ValueError(
                f"need ≥ 1 block per stage and positive widths, got {blocks_per_stage}, {widths}"
            )
        self.stem = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=not batchnorm)
        self.bn = _norm(widths[0], batchnorm)
        stages: list[nn.Module] = []
        c_in = widths[0]
        for i, c in enumerate(widths):
            blocks = []
            for j in range(blocks_per_stage):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(BasicBlock(c_in, c, stride, shortcut=shortcut, batchnorm=batchnorm))
                c_in = c
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn(self.stem(x)))
        x = self.stages(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet20(
    image_size: int = 32,
    in_channels: int = 3,
    num_classes: int = 10,
    *,
    shortcut: str = "A",
    batchnorm: bool = True,
) -> ResNet:
    """ResNet-20 (module doc): 3 stages × 3 basic blocks of 16, 32, 64 channels. Any image of
    at least 4×4 pixels (``image_size`` is checked, not used: the pooling is global)."""
    if image_size < 4:
        raise ValueError(f"resnet20 needs images of at least 4×4, got image_size={image_size}")
    return ResNet(3, in_channels, num_classes, shortcut=shortcut, batchnorm=batchnorm)


__all__ = ["SHORTCUTS", "BasicBlock", "ResNet", "resnet20"]
