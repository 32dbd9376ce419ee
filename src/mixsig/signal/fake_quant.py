"""The uniform quantizer as an autograd function: rounding with straight-through gradients.

Owns the arithmetic that every quantizer in mixsig shares:

* `fake_quant` — y = lo + Δ·round(clamp((x + n·Δ − lo)/Δ, 0, L − 1)), values in the input's
  units, where n is optional pre-drawn noise in LSB. Backward: the clipped straight-through
  estimator, dy/dx = 1 where lo ≤ x + n·Δ ≤ hi and 0 where the signal was clipped. Written as
  one `autograd.Function` that keeps only a boolean mask for the backward pass (the layer
  benchmark's hot path).
* `lsq_quant` — the same quantizer with a trainable step Δ (Esser et al., "Learned Step Size
  Quantization", ICLR 2020): dy/dΔ = round(v) − v inside the range, the clip level outside,
  scaled by g = 1/sqrt(N·Q_P).
* `round_ste`, `grad_scale` — the two standard tricks, for anything else that needs them.

Rounding is `torch.round` (round half to even), the same as NumPy's `np.round`.
"""

from __future__ import annotations

import torch
from torch import Tensor


def round_ste(x: Tensor) -> Tensor:
    """round(x) in the forward pass, identity gradient in the backward pass."""
    return x + (torch.round(x) - x).detach()


def grad_scale(x: Tensor, scale: float) -> Tensor:
    """x in the forward pass; its gradient multiplied by ``scale`` in the backward pass."""
    y = x * scale
    return (x - y).detach() + y


class _FakeQuant(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, lo: float, step: float, top: float, noise_lsb: Tensor | None):
        # v: the signal in LSB units relative to lo, noise added (noise has identity gradient)
        v = (x - lo) * (1.0 / step)
        if noise_lsb is not None:
            v = v.add_(noise_lsb)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward((v >= 0) & (v <= top))
        return v.clamp_(0.0, top).round_().mul_(step).add_(lo)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None, None, None


def fake_quant(
    x: Tensor, lo: float, step: float, levels: int, noise_lsb: Tensor | None = None
) -> Tensor:
    """Quantize ``x`` to ``levels`` values lo, lo+Δ, …, lo+(levels−1)·Δ (Δ = ``step``).

    ``noise_lsb``: optional noise in LSB, added before clipping and rounding (the ADC sees
    the noisy signal); it must broadcast to ``x`` and does not receive a gradient.
    """
    return _FakeQuant.apply(x, float(lo), float(step), float(levels - 1), noise_lsb)


def lsq_quant(
    x: Tensor, step: Tensor, code_lo: int, code_hi: int, noise_lsb: Tensor | None = None
) -> Tensor:
    """Quantize ``x`` with a trainable step: Δ·clamp(round(x/Δ + n), code_lo, code_hi).

    The step's gradient is LSQ's, scaled by 1/sqrt(N·Q_P) with N the number of values per
    sample (``x[0].numel()``) and Q_P = ``code_hi`` (the largest positive code; at least 1).
    """
    n_per_sample = x[0].numel() if x.dim() > 1 else x.numel()
    g = 1.0 / float(n_per_sample * max(code_hi, 1)) ** 0.5
    s = grad_scale(step, g)
    v = x / s
    if noise_lsb is not None:
        v = v + noise_lsb
    return round_ste(torch.clamp(v, code_lo, code_hi)) * s
