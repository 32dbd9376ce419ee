"""Static, pointwise transfer curves of the analog read-out (detector / amplifier non-linearity).

This module owns :class:`Gamma`, :class:`Polynomial`, :class:`SoftSaturation` and
:class:`MonotoneLUT`. Each acts elementwise on the normalised signal ``u = x / full_scale``
and returns ``y = full_scale · f(u)``, so ``y`` has the units of ``x`` (signal units, e.g. DN)
and ``f`` is dimensionless. They accept inputs of any shape.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import BUFFER_DTYPE, Distortion, as_float_tensor, check_finite

__all__ = ["Gamma", "MonotoneLUT", "Polynomial", "SoftSaturation"]


def _signed_power(u: Tensor, g: Tensor, eps: float) -> Tensor:
    """``sign(u)·|u|^g``, exact in the forward pass, with a gradient capped near ``u = 0``.

    The derivative ``g·|u|^(g-1)`` is used for ``|u| >= eps``; for ``|u| < eps`` the forward
    value stays exact and the derivative is the constant ``g·eps^(g-1)`` (finite also for
    ``g < 1`` at ``u = 0``, where the true derivative is infinite).
    """
    a = u.abs()
    big = a >= eps
    a_big = torch.where(big, a, torch.full_like(a, eps))
    y_big = torch.sign(u) * a_big.pow(g)
    g_const = g.detach()
    exact_small = torch.sign(u).detach() * a.detach().pow(g_const)
    slope = g_const * torch.pow(torch.full_like(g_const, eps), g_const - 1.0)
    # u - u.detach() is exactly 0 in the forward pass but carries d/du = 1 backward.
    y_small = exact_small + slope * (u - u.detach())
    return torch.where(big, y_big, y_small)


class Gamma(Distortion):
    """Power-law (gamma) transfer curve, odd-extended so signed signals work.

    ``y = full_scale · sign(u) · |u|^γ`` with ``u = x / full_scale``; x, y in signal units,
    γ > 0 dimensionless (γ = 1 is the identity, γ < 1 compresses highlights, γ > 1 expands).

    The forward value is exact. The derivative ``γ·|u|^(γ-1)`` is infinite at ``u = 0`` for
    γ < 1; below ``|u| < grad_eps`` (normalised units, default 1e-6) the backward pass uses the
    constant ``γ·grad_eps^(γ-1)`` instead, so gradients stay finite.

    Randomisation (training mode, ``randomize = r``): γ → γ·(1 + U(-r, r)) per call.
    Calibration: ``Gamma(gamma=...)`` or later ``gamma_module.set_(gamma)``.
    """

    gamma: Tensor

    def __init__(
        self,
        gamma: float = 1.0,
        *,
        randomize: float = 0.0,
        seed: int | None = None,
        full_scale: float = 1.0,
        grad_eps: float = 1e-6,
    ) -> None:
        super().__init__(randomize=randomize, seed=seed, full_scale=full_scale)
        eps = check_finite("grad_eps", grad_eps)
        if not 0.0 < eps < 1.0:
            raise ValueError(f"Gamma: grad_eps must be in (0, 1), got {grad_eps!r}")
        self.grad_eps = eps
        self.register_buffer("gamma", torch.tensor(self._check(gamma), dtype=BUFFER_DTYPE))

    @staticmethod
    def _check(gamma: float) -> float:
        g = check_finite("gamma", gamma)
        if g <= 0:
            raise ValueError(f"Gamma: gamma must be > 0, got {gamma!r}")
        return g

    @torch.no_grad()
    def set_(self, gamma: float) -> Gamma:
        """Overwrite γ (e.g. from a calibration); validated like the constructor argument."""
        self.gamma.fill_(self._check(gamma))
        return self

    def forward(self, x: Tensor) -> Tensor:
        fs = self._fs(x)
        g = self._jitter(self.gamma.to(device=x.device, dtype=x.dtype))
        return fs * _signed_power(x / fs, g, self.grad_eps)

    def extra_repr(self) -> str:
        base = self._base_repr()
        return f"gamma={self.gamma.item():.6g}" + (f", {base}" if base else "")


class Polynomial(Distortion):
    """Polynomial transfer curve ``f(u) = Σ_k c_k u^k`` (k = 0, 1, ...), evaluated by Horner.

    ``y = full_scale · f(x / full_scale)``; x, y in signal units, the coefficients c_k are
    dimensionless (they act on the normalised signal). ``coeffs=(0, 1)`` is the identity;
    e.g. ``(0, 1, -0.05)`` is a 5% quadratic compression at full scale.

    Randomisation (training mode, ``randomize = r``): the deviation from the identity is scaled,
    ``c → c_id + (c − c_id)·(1 + U(-r, r))`` with ``c_id = (0, 1, 0, ...)``, one draw per call.
    Calibration: constructor or ``poly.set_(coeffs)`` (the number of coefficients may change).
    """

    coeffs: Tensor
    _flexible_buffers = ("coeffs",)

    def __init__(
        self,
        coeffs: Sequence[float] | Tensor = (0.0, 1.0),
        *,
        randomize: float = 0.0,
        seed: int | None = None,
        full_scale: float = 1.0,
    ) -> None:
        super().__init__(randomize=randomize, seed=seed, full_scale=full_scale)
        self.register_buffer("coeffs", self._check(coeffs))

    @staticmethod
    def _check(coeffs: Sequence[float] | Tensor) -> Tensor:
        c = as_float_tensor("Polynomial: coeffs", coeffs, ndim=1)
        if c.numel() < 1:
            raise ValueError("Polynomial: coeffs must hold at least one coefficient, got 0")
        return c

    @torch.no_grad()
    def set_(self, coeffs: Sequence[float] | Tensor) -> Polynomial:
        """Replace the coefficients (any number >= 1), keeping buffer dtype and device."""
        self.coeffs = self._new_buffer(self._check(coeffs))
        return self

    def _identity_coeffs(self, like: Tensor) -> Tensor:
        ident = torch.zeros_like(like)
        if ident.numel() >= 2:
            ident[1] = 1.0
        return ident

    def forward(self, x: Tensor) -> Tensor:
        fs = self._fs(x)
        u = x / fs
        c = self.coeffs.to(device=x.device, dtype=x.dtype)
        factor = self._jitter_factor(c)
        if factor is not None:
            ident = self._identity_coeffs(c)
            c = ident + (c - ident) * factor
        y = c[-1].expand_as(u)
        for k in range(c.numel() - 2, -1, -1):
            y = y * u + c[k]
        return fs * y

    def extra_repr(self) -> str:
        base = self._base_repr()
        return f"coeffs={self.coeffs.tolist()}" + (f", {base}" if base else "")


class SoftSaturation(Distortion):
    """Soft saturation ``f(u) = u / (1 + a·|u|)``, a >= 0 (odd-symmetric, a = 0 is identity).

    ``y = full_scale · f(x / full_scale)``; x, y in signal units, ``a`` dimensionless (relative
    compression per unit of normalised signal: at ``|u| = 1`` the output is ``1/(1 + a)``).
    Smooth everywhere; slope 1 at u = 0.

    Randomisation (training mode, ``randomize = r``): a → a·(1 + U(-r, r)) per call.
    Calibration: constructor or ``sat.set_(a)``.
    """

    a: Tensor

    def __init__(
        self,
        a: float = 0.0,
        *,
        randomize: float = 0.0,
        seed: int | None = None,
        full_scale: float = 1.0,
    ) -> None:
        super().__init__(randomize=randomize, seed=seed, full_scale=full_scale)
        self.register_buffer("a", torch.tensor(self._check(a), dtype=BUFFER_DTYPE))

    @staticmethod
    def _check(a: float) -> float:
        v = check_finite("a", a)
        if v < 0:
            raise ValueError(f"SoftSaturation: a must be >= 0, got {a!r}")
        return v

    @torch.no_grad()
    def set_(self, a: float) -> SoftSaturation:
        """Overwrite the saturation coefficient ``a`` (>= 0)."""
        self.a.fill_(self._check(a))
        return self

    def forward(self, x: Tensor) -> Tensor:
        fs = self._fs(x)
        u = x / fs
        a = self._jitter(self.a.to(device=x.device, dtype=x.dtype))
        return fs * (u / (1.0 + a * u.abs()))

    def extra_repr(self) -> str:
        base = self._base_repr()
        return f"a={self.a.item():.6g}" + (f", {base}" if base else "")


class MonotoneLUT(Distortion):
    """Tabulated monotone transfer curve on the normalised signal (a measured response).

    Knots ``(u_k, f_k)``, k = 0..K-1, K >= 2, with ``u_k`` strictly increasing and ``f_k``
    non-decreasing (both dimensionless, in units of full scale). ``f`` is the piecewise-linear
    interpolant, extended linearly beyond the end knots with the end segments' slopes:
    ``f(u) = f_k + (f_{k+1} − f_k)/(u_{k+1} − u_k) · (u − u_k)`` for the segment k containing u,
    and ``y = full_scale · f(x / full_scale)``. The gradient w.r.t. x is the local slope.

    Randomisation (training mode, ``randomize = r``): the deviation from the identity at the
    knots is scaled, ``f_k → u_k + (f_k − u_k)·(1 + U(-r, r))`` (one draw per call), followed
    by a running maximum so the randomised curve stays non-decreasing.
    Calibration: constructor or ``lut.set_(inputs, values)`` (the number of knots may change).
    """

    inputs: Tensor
    values: Tensor
    _flexible_buffers = ("inputs", "values")

    def __init__(
        self,
        inputs: Sequence[float] | Tensor,
        values: Sequence[float] | Tensor,
        *,
        randomize: float = 0.0,
        seed: int | None = None,
        full_scale: float = 1.0,
    ) -> None:
        super().__init__(randomize=randomize, seed=seed, full_scale=full_scale)
        xi, yi = self._check(inputs, values)
        self.register_buffer("inputs", xi)
        self.register_buffer("values", yi)

    @classmethod
    def identity(cls, n: int = 2, **kwargs) -> MonotoneLUT:
        """An identity LUT with ``n >= 2`` knots evenly spaced on [0, 1]."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValueError(f"MonotoneLUT.identity: n must be an int >= 2, got {n!r}")
        knots = torch.linspace(0.0, 1.0, n, dtype=BUFFER_DTYPE)
        return cls(knots, knots.clone(), **kwargs)

    @staticmethod
    def _check(inputs: Sequence[float] | Tensor, values: Sequence[float] | Tensor):
        xi = as_float_tensor("MonotoneLUT: inputs", inputs, ndim=1)
        yi = as_float_tensor("MonotoneLUT: values", values, ndim=1)
        if xi.numel() != yi.numel():
            raise ValueError(
                f"MonotoneLUT: inputs and values must have the same length, "
                f"got {xi.numel()} and {yi.numel()}"
            )
        if xi.numel() < 2:
            raise ValueError(f"MonotoneLUT: inputs/values need at least 2 knots, got {xi.numel()}")
        for k in range(1, xi.numel()):
            if not xi[k] > xi[k - 1]:
                raise ValueError(
                    "MonotoneLUT: inputs must be strictly increasing, but "
                    f"inputs[{k}]={xi[k].item():g} <= inputs[{k - 1}]={xi[k - 1].item():g}"
                )
            if yi[k] < yi[k - 1]:
                raise ValueError(
                    "MonotoneLUT: values must be non-decreasing, but "
                    f"values[{k}]={yi[k].item():g} < values[{k - 1}]={yi[k - 1].item():g}"
                )
        return xi, yi

    @torch.no_grad()
    def set_(
        self, inputs: Sequence[float] | Tensor, values: Sequence[float] | Tensor
    ) -> MonotoneLUT:
        """Replace the knots (validated like the constructor), keeping dtype and device."""
        xi, yi = self._check(inputs, values)
        self.inputs = self._new_buffer(xi)
        self.values = self._new_buffer(yi)
        return self

    def forward(self, x: Tensor) -> Tensor:
        fs = self._fs(x)
        u = x / fs
        xk = self.inputs.to(device=x.device, dtype=x.dtype)
        yk = self.values.to(device=x.device, dtype=x.dtype)
        factor = self._jitter_factor(yk)
        if factor is not None:
            yk = torch.cummax(xk + (yk - xk) * factor, dim=0).values
        slopes = torch.diff(yk) / torch.diff(xk)
        seg = torch.searchsorted(xk, u.detach().contiguous(), right=True) - 1
        seg = seg.clamp(0, xk.numel() - 2)
        return fs * (yk[seg] + slopes[seg] * (u - xk[seg]))

    def extra_repr(self) -> str:
        base = self._base_repr()
        return f"knots={self.inputs.numel()}" + (f", {base}" if base else "")
