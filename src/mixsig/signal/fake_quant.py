"""The uniform quantizer as an autograd function: rounding with straight-through gradients.

Owns the arithmetic that every quantizer in mixsig shares:

* `fake_quant` — y = lo + Δ·round(clamp((x + n·Δ − lo)/Δ, 0, L − 1)), values in the input's
  units, where n is optional pre-drawn noise in LSB (given as a standard draw and its scale,
  so that the scaling happens inside the one in-place pass). Backward: the clipped straight-through
  estimator, dy/dx = 1 where lo < x + n·Δ < hi and 0 where the signal was clipped. Written as
  one `autograd.Function` that keeps only a boolean mask for the backward pass (the layer
  benchmark's hot path: see benchmarks/bench_layers.py).
* `fake_quant_tensor` — the same with lo and Δ as device tensors (GPUs, torch.compile).
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
    # Written for the CPU hot path: every pass is a float pass (boolean masks and `where` are
    # several times slower on the CPU), one allocation for the output and one for the signal
    # in LSB, which is kept for the backward: the gradient mask is hardtanh's (1 strictly
    # inside the range, 0 outside), computed by its fused backward kernel.
    @staticmethod
    def forward(ctx, x, lo: float, step: float, top: float, noise, noise_scale: float):
        inv = 1.0 / step
        # v: the signal in LSB. When lo is a whole number of steps (always for calibrated and
        # learned ranges) the codes are shifted instead of the signal: two passes fewer.
        shift = round(lo * inv)
        exact = abs(lo * inv - shift) < 1e-9
        v = torch.mul(x, inv)
        if not exact:
            v.sub_(lo * inv)
            shift = 0
        if noise is not None:  # noise has identity gradient: it only moves the clip mask
            v.add_(noise, alpha=noise_scale)
        q = v.clamp(float(shift), shift + top)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(v)
            ctx.bounds = (float(shift), shift + top)
        q.round_().mul_(step)
        return q if exact else q.add_(lo)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (v,) = ctx.saved_tensors
        dx = torch.ops.aten.hardtanh_backward(grad, v, *ctx.bounds)
        return dx, None, None, None, None, None


class _FakeQuantTensor(torch.autograd.Function):
    # The same quantizer with lo and Δ as 0-d tensors, for devices where reading them into
    # Python would wait for the device (CUDA, MPS) and for torch.compile (no host reads, so no
    # graph break): v = (x − lo)/Δ (+ noise), clipped to [0, L − 1], rounded, back to x's units.
    @staticmethod
    def forward(ctx, x, lo: Tensor, step: Tensor, top: float, noise, noise_scale: float):
        lo, step = lo.to(x.dtype), step.to(x.dtype)
        v = (x - lo) / step
        if noise is not None:
            v = v + noise * noise_scale
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(v)
            ctx.top = top
        return v.clamp(0.0, top).round() * step + lo

    @staticmethod
    def backward(ctx, grad: Tensor):
        (v,) = ctx.saved_tensors
        dx = torch.ops.aten.hardtanh_backward(grad, v, 0.0, ctx.top)
        return dx, None, None, None, None, None


def fake_quant_tensor(
    x: Tensor,
    lo: Tensor,
    step: Tensor,
    levels: int,
    noise_lsb: Tensor | None = None,
    noise_scale: float = 1.0,
) -> Tensor:
    """`fake_quant` with ``lo`` and ``step`` as tensors on x's device (no host read): the same
    levels and the same clipped straight-through gradient; the arithmetic order differs
    (``(x − lo)/Δ`` rather than ``x·(1/Δ)``), so values agree to float round-off."""
    return _FakeQuantTensor.apply(x, lo, step, float(levels - 1), noise_lsb, float(noise_scale))


def fake_quant(
    x: Tensor,
    lo: float,
    step: float,
    levels: int,
    noise_lsb: Tensor | None = None,
    noise_scale: float = 1.0,
) -> Tensor:
    """Quantize ``x`` to ``levels`` values lo, lo+Δ, …, lo+(levels−1)·Δ (Δ = ``step``).

    ``noise_lsb``: optional noise in LSB (multiplied by ``noise_scale``), added before clipping
    and rounding (the ADC sees the noisy signal); it must broadcast to ``x`` and does not
    receive a gradient.
    """
    return _FakeQuant.apply(
        x, float(lo), float(step), float(levels - 1), noise_lsb, float(noise_scale)
    )


def lsq_quant(
    x: Tensor,
    step: Tensor,
    code_lo: int,
    code_hi: int,
    noise_lsb: Tensor | None = None,
    noise_scale: float = 1.0,
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
        v = v + noise_lsb * noise_scale
    return round_ste(torch.clamp(v, code_lo, code_hi)) * s
