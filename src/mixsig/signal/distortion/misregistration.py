"""Sub-pixel affine misregistration between the intended and the recorded image.

This module owns :class:`Misregistration`: the image formed on the detector is shifted by a
fraction of a pixel and slightly magnified relative to the pixel grid that the digital part of
the network assumes (alignment and magnification error of the optics). Bilinear resampling via
``affine_grid`` + ``grid_sample`` (``align_corners=False``), zero fill outside the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import BUFFER_DTYPE, Distortion, as_float_tensor, check_finite

__all__ = ["Misregistration"]


class Misregistration(Distortion):
    """Affine misregistration of ``(N, C, H, W)`` images: shift by ``(dy, dx)`` px, magnify by s.

    With pixel centres at integer indices and the image centre ``c = ((H − 1)/2, (W − 1)/2)``,
    a point q of the intended image lands at ``p = s·(q − c) + c + shift`` on the detector, i.e.

        ``recorded(p) = intended((p − c − shift)/s + c)``

    so the content moves by ``shift_px = (dy, dx)`` pixels (+dy down the rows, +dx along the
    columns) and is magnified by ``scale`` s > 0 about the image centre. Values between pixel
    centres are interpolated bilinearly; points that fall outside the intended image read 0.
    Shift in pixels, scale dimensionless; the signal keeps its units.

    Randomisation (training mode, ``randomize = r``): ``shift → shift·(1 + u₁)`` and the scale
    deviation ``s − 1 → (s − 1)·(1 + u₂)``, ``u₁, u₂ ~ U(-r, r)`` per call.
    Calibration later: ``mr.set_(shift_px=(dy, dx), scale=s)``.
    """

    shift: Tensor
    scale: Tensor

    def __init__(
        self,
        shift_px: Sequence[float] | Tensor = (0.0, 0.0),
        scale: float = 1.0,
        *,
        randomize: float = 0.0,
        seed: int | None = None,
        full_scale: float = 1.0,
    ) -> None:
        super().__init__(randomize=randomize, seed=seed, full_scale=full_scale)
        self.register_buffer("shift", self._check_shift(shift_px))
        self.register_buffer("scale", torch.tensor(self._check_scale(scale), dtype=BUFFER_DTYPE))

    @staticmethod
    def _check_shift(shift_px: Sequence[float] | Tensor) -> Tensor:
        t = as_float_tensor("Misregistration: shift_px", shift_px, ndim=1)
        if t.numel() != 2:
            raise ValueError(
                f"Misregistration: shift_px must be a pair (dy, dx), got {t.numel()} values"
            )
        return t

    @staticmethod
    def _check_scale(scale: float) -> float:
        s = check_finite("scale", scale)
        if s <= 0:
            raise ValueError(f"Misregistration: scale must be > 0, got {scale!r}")
        return s

    @torch.no_grad()
    def set_(
        self, shift_px: Sequence[float] | Tensor | None = None, scale: float | None = None
    ) -> Misregistration:
        """Overwrite the shift ``(dy, dx)`` in pixels and/or the magnification ``scale``."""
        if shift_px is not None:
            self.shift.copy_(self._check_shift(shift_px))
        if scale is not None:
            self.scale.fill_(self._check_scale(scale))
        return self

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(
                f"Misregistration accepts inputs of shape (N, C, H, W), got shape {tuple(x.shape)}"
            )
        n, _, h, w = x.shape
        shift = self._jitter(self.shift.to(device=x.device, dtype=x.dtype))
        scale = 1.0 + self._jitter(self.scale.to(device=x.device, dtype=x.dtype) - 1.0)
        # Normalised coordinates (align_corners=False): x_n = 2·(i − c)/W, so
        # q_n = p_n / s − 2·shift / (W·s) per axis.
        inv = 1.0 / scale
        zero = torch.zeros_like(inv)
        tx = -2.0 * shift[1] / (w * scale)
        ty = -2.0 * shift[0] / (h * scale)
        theta = torch.stack([torch.stack([inv, zero, tx]), torch.stack([zero, inv, ty])])
        grid = F.affine_grid(theta.unsqueeze(0).expand(n, 2, 3), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def extra_repr(self) -> str:
        dy, dx = self.shift.tolist()
        parts = [f"shift_px=({dy:.6g}, {dx:.6g})", f"scale={self.scale.item():.6g}"]
        base = self._base_repr()
        return ", ".join(parts) + (f", {base}" if base else "")
