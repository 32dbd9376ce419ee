"""Fabrication mismatch of the analog weights (kernel), fixed per device.

This module owns :class:`KernelMismatch`: the weights realised by the hardware (crossbar
conductances, printed/etched optical kernels) differ from the programmed ones by a relative
error ε and an absolute error δ that are fixed for one device. The errors come from a
calibration or are drawn once, with the module's seeded generator, on the first call.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import Distortion, as_float_tensor, check_finite

__all__ = ["KernelMismatch"]


class KernelMismatch(Distortion):
    """Fixed weight mismatch: ``W' = W · (1 + ε) + δ``; ``forward(weight) -> weight'``.

    ε (dimensionless) and δ (weight units) have the shape of W. Missing ones are drawn once,
    on the first call, as ``ε ~ N(0, rel_std²)`` and ``δ ~ N(0, (abs_std · max|W|)²)`` (ε first,
    then δ) with the seeded generator, where ``max|W|`` is taken from the weight of that first
    call and stored in the buffer ``weight_scale`` (so δ stays fixed even when W is trained
    further). ``eps`` / ``delta`` tensors given explicitly (a calibration) are used exactly.
    Works for any weight shape (``(out, in)``, ``(out, in, kh, kw)``, ...); a later weight of a
    different shape raises ``ValueError``. ``state_dict`` round-trips, also into a fresh
    instance that has not drawn yet. Differentiable in W (``dW'/dW = 1 + ε``).

    Randomisation (training mode, ``randomize = r``): ``ε → ε·(1 + u₁)``, ``δ → δ·(1 + u₂)``,
    ``u₁, u₂ ~ U(-r, r)`` per call.
    Calibration later: ``km.set_(eps=..., delta=...)``.
    """

    eps: Tensor | None
    delta: Tensor | None
    weight_scale: Tensor | None
    _flexible_buffers = ("eps", "delta", "weight_scale")

    def __init__(
        self,
        rel_std: float = 0.0,
        abs_std: float = 0.0,
        *,
        eps: Tensor | Sequence | None = None,
        delta: Tensor | Sequence | None = None,
        seed: int | None = None,
        randomize: float = 0.0,
        full_scale: float = 1.0,
    ) -> None:
        super().__init__(randomize=randomize, seed=seed, full_scale=full_scale)
        self.rel_std = self._check_std("rel_std", rel_std)
        self.abs_std = self._check_std("abs_std", abs_std)
        if eps is not None and self.rel_std != 0.0:
            raise ValueError("KernelMismatch: give either rel_std or an explicit eps, not both")
        if delta is not None and self.abs_std != 0.0:
            raise ValueError("KernelMismatch: give either abs_std or an explicit delta, not both")
        self.register_buffer("eps", None)
        self.register_buffer("delta", None)
        self.register_buffer("weight_scale", None)
        self.set_(eps=eps, delta=delta)

    @staticmethod
    def _check_std(name: str, value: float) -> float:
        v = check_finite(name, value)
        if v < 0:
            raise ValueError(f"KernelMismatch: {name} must be >= 0, got {value!r}")
        return v

    @property
    def materialized(self) -> bool:
        """True once both ε and δ exist (given, drawn, or loaded from a state_dict)."""
        return self.eps is not None and self.delta is not None

    @torch.no_grad()
    def set_(
        self, eps: Tensor | Sequence | None = None, delta: Tensor | Sequence | None = None
    ) -> KernelMismatch:
        """Overwrite ε and/or δ (e.g. from a measurement of the device)."""
        new = {}
        if eps is not None:
            new["eps"] = as_float_tensor("KernelMismatch: eps", eps)
        if delta is not None:
            new["delta"] = as_float_tensor("KernelMismatch: delta", delta)
        shapes = {name: tuple(t.shape) for name, t in new.items()}
        for name in ("eps", "delta"):
            if name not in shapes and getattr(self, name) is not None:
                shapes[name] = tuple(getattr(self, name).shape)
        if len(set(shapes.values())) > 1:
            raise ValueError(
                f"KernelMismatch: eps and delta must have the same shape, got "
                f"{shapes['eps']} and {shapes['delta']}"
            )
        for name, t in new.items():
            setattr(self, name, self._new_buffer(t))
        return self

    @torch.no_grad()
    def materialize(self, weight: Tensor) -> KernelMismatch:
        """Draw the missing ε / δ for ``weight`` (its shape and ``max|W|``)."""
        shape = tuple(weight.shape)
        if self.eps is None:
            e = self._randn(shape) * self.rel_std if self.rel_std else torch.zeros(shape)
            self.eps = self._new_buffer(e)
        if self.delta is None:
            w_max = weight.detach().abs().max() if weight.numel() else weight.new_zeros(())
            self.weight_scale = self._new_buffer(w_max)
            std = self.abs_std * self.weight_scale.to(torch.float64).cpu()
            d = self._randn(shape) * std if self.abs_std else torch.zeros(shape)
            self.delta = self._new_buffer(d)
        return self

    def forward(self, weight: Tensor) -> Tensor:
        if weight.dim() == 0:
            raise ValueError(
                "KernelMismatch accepts weight tensors with at least one dimension, e.g. "
                "(out, in) or (out, in, kh, kw); got a 0-d tensor"
            )
        for name in ("eps", "delta"):
            t = getattr(self, name)
            if t is not None and t.shape != weight.shape:
                raise ValueError(
                    f"KernelMismatch: weight of shape {tuple(weight.shape)} does not match the "
                    f"module's {name} of shape {tuple(t.shape)}"
                )
        if not self.materialized:
            self.materialize(weight)
        assert self.eps is not None and self.delta is not None
        e = self._jitter(self.eps.to(device=weight.device, dtype=weight.dtype))
        d = self._jitter(self.delta.to(device=weight.device, dtype=weight.dtype))
        return weight * (1.0 + e) + d

    def extra_repr(self) -> str:
        parts = [f"rel_std={self.rel_std:g}", f"abs_std={self.abs_std:g}"]
        if self.eps is not None:
            parts.append(f"shape={tuple(self.eps.shape)}")
        base = self._base_repr()
        return ", ".join(parts) + (f", {base}" if base else "")
