"""Analog gain (exposure) before the ADC.

Owns `AnalogGain`: a positive scalar g, stored as log g so that it stays positive when learned.
The analog chain multiplies the signal by g before distortion, noise and the ADC, and divides
the digitised result by g (a free digital rescale), so a learned g trades clipping (large g)
against the fixed noise floor and the ADC step (small g) without changing the layer's units.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class AnalogGain(nn.Module):
    def __init__(self, init: float = 1.0, *, learned: bool = True) -> None:
        super().__init__()
        init = float(init)
        if not (math.isfinite(init) and init > 0.0):
            raise ValueError(f"gain init must be a finite number > 0, got {init}")
        log_g = torch.tensor(math.log(init))
        if learned:
            self.log_gain = nn.Parameter(log_g)
        else:
            self.register_buffer("log_gain", log_g)

    @property
    def gain(self) -> Tensor:
        return self.log_gain.exp()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gain

    def extra_repr(self) -> str:
        return f"gain={float(self.gain):.4g}, learned={isinstance(self.log_gain, nn.Parameter)}"
