"""Images as the network takes them: `to_input`, the one place where stored images become inputs.

Owns the storage convention of a `Split`: images are kept as they come — uint8 (0–255) for the
8-bit sources (MNIST, Fashion-MNIST, colour CIFAR-10), float32 in [0, 1] where the values are
computed (the bundled sets, grey CIFAR-10) — and turned into float32 in [0, 1] one batch at a
time, on the device that computes: a uint8 batch is moved first (a quarter of the bytes), then
divided by 255 there. x/255 in float32 is bitwise what a float copy of the whole set would hold,
so a result does not depend on where the division happened. Indexing a batch out of the set is
one tensor index, never a loop over samples in Python.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: the full scale of an 8-bit image
UINT8_FULL_SCALE = 255.0


def to_input(x: Tensor, device: torch.device | str | None = None) -> Tensor:
    """The batch ``x`` (uint8 0–255, or float in [0, 1]) as float in [0, 1] on ``device``
    (None: where it is)."""
    if device is not None and x.device != torch.device(device):
        x = x.to(device, non_blocking=True)
    if x.dtype == torch.uint8:
        return x.float().div_(UINT8_FULL_SCALE)
    return x


__all__ = ["UINT8_FULL_SCALE", "to_input"]
