"""Weight quantization and the realisation of signed weights on non-negative hardware.

Owns `WeightQuantizer` (b-bit weights, one scale per tensor or per output channel, gradient
straight through) and `split_differential` (W = W⁺ − W⁻ with W⁺, W⁻ ≥ 0, for hardware such as
incoherent optics that realises only non-negative weights: "pseudo-negative" pairs).

Definitions, with a = max|W| over the tensor or over each output channel (dim 0):

* signed, b ≥ 2: Δ = a/(2^(b−1) − 1), Q(W) = Δ·clamp(round(W/Δ), −(2^(b−1) − 1), 2^(b−1) − 1)
  (symmetric, zero is a level; the most negative two's-complement code is left unused so that
  the levels are symmetric);
* signed, b = 1: Q(W) = sign(W)·mean|W| (binary weights, sign(0) = +1);
* unsigned (each half of a differential pair): Δ = a/(2^b − 1), Q(W) = Δ·round(W/Δ), W ≥ 0.

The range is the weights' own maximum, so nothing is clipped and the gradient is 1 everywhere.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mixsig.signal.quantizer import check_bits

_TINY = 1e-12


def split_differential(w: Tensor) -> tuple[Tensor, Tensor]:
    """W⁺ = max(W, 0), W⁻ = max(−W, 0), so that W = W⁺ − W⁻ and both are non-negative."""
    return torch.relu(w), torch.relu(-w)


class WeightQuantizer(nn.Module):
    """b-bit weights per tensor or per output channel (see the module docstring)."""

    def __init__(self, bits: int | None = 4, granularity: str = "per_tensor", *, signed=True):
        super().__init__()
        self.bits = None if bits is None else check_bits(bits, "weights.bits")
        if granularity not in ("per_tensor", "per_channel"):
            raise ValueError(
                f"granularity must be 'per_tensor' or 'per_channel', got {granularity!r}"
            )
        self.granularity = granularity
        self.signed = bool(signed)

    def _reduce(self, a: Tensor, op: str) -> Tensor:
        if self.granularity == "per_tensor" or a.dim() < 2:
            return getattr(a, op)()
        dims = tuple(range(1, a.dim()))
        return a.amax(dims, keepdim=True) if op == "amax" else a.mean(dims, keepdim=True)

    def forward(self, w: Tensor) -> Tensor:
        if self.bits is None:
            return w
        if self.signed and self.bits == 1:
            with torch.no_grad():
                q = torch.where(w >= 0, 1.0, -1.0).to(w.dtype) * self._reduce(w.abs(), "mean")
            return w + (q - w).detach()
        top = (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1
        bottom = -top if self.signed else 0
        with torch.no_grad():
            step = self._reduce(w.abs(), "amax").clamp_min(_TINY) / top
        # PyTorch's fused fake-quantize kernels (one pass, round half to even); nothing is
        # clipped because the range is the weights' own maximum, so the gradient is 1
        if step.dim() == 0:
            if w.device.type == "cpu" and not torch.compiler.is_compiling():
                return torch.fake_quantize_per_tensor_affine(w, float(step), 0, bottom, top)
            # the tensor-qparams overload: no host read of the scale (GPUs, torch.compile)
            zero = torch.zeros((), dtype=torch.int32, device=w.device)
            return torch.fake_quantize_per_tensor_affine(w, step.float(), zero, bottom, top)
        scale = step.reshape(-1).float()
        zero = torch.zeros(scale.numel(), dtype=torch.int32, device=w.device)
        return torch.fake_quantize_per_channel_affine(w, scale, zero, 0, bottom, top)

    def extra_repr(self) -> str:
        kind = "signed" if self.signed else "unsigned"
        return f"bits={self.bits}, {self.granularity}, {kind}"
