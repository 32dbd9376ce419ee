"""Crosstalk / blur between neighbouring outputs, as a small per-channel convolution.

This module owns :class:`Crosstalk`: each analog output leaks a fraction of its signal into its
neighbours (optical blur, charge diffusion, electrical crosstalk between adjacent lines). It is
a depthwise convolution (groups = C, zero "same" padding) whose kernel is the impulse response.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import BUFFER_DTYPE, Distortion, as_float_tensor, check_finite

__all__ = ["Crosstalk"]


class Crosstalk(Distortion):
    """Crosstalk as a per-channel convolution with impulse response ``k``: ``y = k ⊛ x``.

    For ``(N, C, H, W)`` inputs ``y[n, c, i, j] = Σ_{a,b} k[a, b] · x[n, c, i − a, j − b]``
    with the offsets a, b centred on the kernel (a true convolution, so an impulse at p
    produces ``k`` centred on p), zero padding, output size = input size. For ``(N, F)``
    inputs (the outputs of an analog linear layer) the 1-D version runs along F.
    x, y in signal units; k is dimensionless.

    Default kernel from ``strength`` s in [0, 1): 2-D, 3×3 with centre ``1 − s`` and the four
    nearest neighbours ``s/4`` each; 1-D, ``[s/2, 1 − s, s/2]``. Both sum to 1, so the total
    signal is conserved away from the borders. A user ``kernel`` (2-D for images, 1-D for
    ``(N, F)``, odd size along every axis, centre at the middle element) replaces it.

    Randomisation (training mode, ``randomize = r``): the off-centre part of the kernel is
    scaled by ``1 + U(-r, r)`` per call and the centre is adjusted to keep the kernel's sum
    (for the default kernel this is ``s → s·(1 + u)``).
    Calibration later: ``xt.set_(strength=s)`` or ``xt.set_(kernel=k)``.
    """

    strength: Tensor
    kernel: Tensor | None
    _flexible_buffers = ("kernel",)

    def __init__(
        self,
        strength: float = 0.0,
        *,
        kernel: Tensor | Sequence | None = None,
        randomize: float = 0.0,
        seed: int | None = None,
        full_scale: float = 1.0,
    ) -> None:
        super().__init__(randomize=randomize, seed=seed, full_scale=full_scale)
        self.register_buffer("strength", torch.tensor(0.0, dtype=BUFFER_DTYPE))
        self.register_buffer("kernel", None)
        if kernel is not None and strength != 0.0:
            raise ValueError("Crosstalk: give either strength or kernel, not both")
        if kernel is not None:
            self.set_(kernel=kernel)
        else:
            self.set_(strength=strength)

    @staticmethod
    def _check_strength(strength: float) -> float:
        s = check_finite("strength", strength)
        if not 0.0 <= s < 1.0:
            raise ValueError(f"Crosstalk: strength must be in [0, 1), got {strength!r}")
        return s

    @staticmethod
    def _check_kernel(kernel: Tensor | Sequence) -> Tensor:
        k = as_float_tensor("Crosstalk: kernel", kernel, ndim=(1, 2))
        if any(n % 2 == 0 for n in k.shape):
            raise ValueError(
                f"Crosstalk: kernel must have an odd size along every axis, got shape "
                f"{tuple(k.shape)}"
            )
        return k

    @torch.no_grad()
    def set_(
        self, strength: float | None = None, kernel: Tensor | Sequence | None = None
    ) -> Crosstalk:
        """Set the default-kernel ``strength`` (drops a custom kernel) or a custom ``kernel``."""
        if (strength is None) == (kernel is None):
            raise ValueError("Crosstalk.set_: give exactly one of strength or kernel")
        if kernel is not None:
            self.kernel = self._new_buffer(self._check_kernel(kernel))
            self.strength.fill_(0.0)
        else:
            self.strength.fill_(self._check_strength(strength))
            self.kernel = None
        return self

    def kernel_for(self, ndim: int) -> Tensor:
        """The nominal impulse response for ``ndim``-D signals (1: ``(N, F)``, 2: images)."""
        return self._kernel(ndim, self.strength, randomize=False)

    def _kernel(self, ndim: int, like: Tensor, *, randomize: bool) -> Tensor:
        if self.kernel is not None:
            k = self.kernel.to(device=like.device, dtype=like.dtype)
            if k.dim() != ndim:
                raise ValueError(
                    f"Crosstalk: a {k.dim()}-D kernel of shape {tuple(k.shape)} cannot act on "
                    f"{'(N, F)' if ndim == 1 else '(N, C, H, W)'} inputs; a {ndim}-D kernel "
                    "is needed"
                )
            factor = self._jitter_factor(k) if randomize else None
            if factor is not None:
                centre = tuple(n // 2 for n in k.shape)
                mask = torch.ones_like(k)
                mask[centre] = 0.0
                off = k * mask
                k = off * factor + (1.0 - mask) * (k.sum() - off.sum() * factor)
            return k
        s = self.strength.to(device=like.device, dtype=like.dtype)
        if randomize:
            s = self._jitter(s)
        if ndim == 1:
            return torch.stack([s / 2, 1 - s, s / 2])
        z = torch.zeros_like(s)
        q = s / 4
        return torch.stack(
            [torch.stack([z, q, z]), torch.stack([q, 1 - s, q]), torch.stack([z, q, z])]
        )

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() not in (2, 4):
            raise ValueError(
                "Crosstalk accepts inputs of shape (N, F) or (N, C, H, W), "
                f"got shape {tuple(x.shape)}"
            )
        ndim = 1 if x.dim() == 2 else 2
        k = self._kernel(ndim, x, randomize=True)
        # conv1d/conv2d compute a cross-correlation: flip the impulse response.
        w = torch.flip(k, dims=tuple(range(k.dim())))
        if ndim == 1:
            y = F.conv1d(x.unsqueeze(1), w.view(1, 1, -1), padding=k.shape[0] // 2)
            return y.squeeze(1)
        c = x.shape[1]
        w = w.view(1, 1, *k.shape).expand(c, 1, *k.shape)
        return F.conv2d(x, w, padding=(k.shape[0] // 2, k.shape[1] // 2), groups=c)

    def extra_repr(self) -> str:
        if self.kernel is not None:
            parts = [f"kernel_shape={tuple(self.kernel.shape)}"]
        else:
            parts = [f"strength={self.strength.item():.6g}"]
        base = self._base_repr()
        return ", ".join(parts) + (f", {base}" if base else "")
