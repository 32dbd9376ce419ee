"""Fixed-pattern gain and offset of the detector array (PRNU / DSNU).

This module owns :class:`GainOffset`: a per-pixel (or per-channel) multiplicative gain error
(photo-response non-uniformity, PRNU) and additive offset (dark-signal non-uniformity, DSNU)
that are fixed for a given device. The maps come from a calibration or are drawn once, with the
module's seeded generator, lazily on the first forward call (their shape is only known then).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from mixsig.config.io import ConfigError

from .base import Distortion, as_float_tensor, check_finite

__all__ = ["GainOffset"]

_PER = ("pixel", "channel")


class GainOffset(Distortion):
    """Fixed-pattern gain and offset: ``y = x · (1 + g) + o · full_scale``.

    x, y are in signal units; the relative gain error ``g`` is dimensionless and the offset
    ``o`` is a fraction of ``full_scale``. Accepted inputs: ``(N, F)`` (e.g. the outputs of an
    analog linear layer) and ``(N, C, H, W)`` (images).

    * ``per="pixel"``: g and o have the shape of one sample, ``x.shape[1:]`` (``(F,)`` or
      ``(C, H, W)``).
    * ``per="channel"``: g and o have shape ``(C,)`` and broadcast over dim 1 of the input.

    Maps given as ``gain`` / ``offset`` (a calibration) are used exactly; missing ones are
    drawn as ``g ~ N(0, gain_std²)``, ``o ~ N(0, offset_std²)`` on the first forward call
    (gain first, then offset) with the seeded generator and stored as buffers, so the module
    represents one fixed device. ``state_dict`` round-trips, also into a fresh instance that has
    not drawn its maps yet. A later input whose per-sample shape differs raises ``ValueError``.

    Randomisation (training mode, ``randomize = r``): ``g → g·(1 + u₁)``, ``o → o·(1 + u₂)``
    with ``u₁, u₂ ~ U(-r, r)`` drawn per call (one draw scales the whole map).
    Calibration later: ``go.set_(gain=..., offset=...)``; a camera's whole measured maps
    (H_s, W_s): ``set_sensor_maps``, cropped by the optical layer (`place_sensor_maps`).
    """

    gain: Tensor | None
    offset: Tensor | None
    _flexible_buffers = ("gain", "offset")

    def __init__(
        self,
        gain_std: float = 0.0,
        offset_std: float = 0.0,
        *,
        per: str = "pixel",
        gain: Tensor | Sequence[float] | None = None,
        offset: Tensor | Sequence[float] | None = None,
        randomize: float = 0.0,
        seed: int | None = None,
        full_scale: float = 1.0,
    ) -> None:
        super().__init__(randomize=randomize, seed=seed, full_scale=full_scale)
        if per not in _PER:
            raise ValueError(f"GainOffset: per must be one of {_PER}, got {per!r}")
        self.per = per
        self.gain_std = self._check_std("gain_std", gain_std)
        self.offset_std = self._check_std("offset_std", offset_std)
        if gain is not None and self.gain_std != 0.0:
            raise ValueError("GainOffset: give either gain_std or an explicit gain map, not both")
        if offset is not None and self.offset_std != 0.0:
            raise ValueError(
                "GainOffset: give either offset_std or an explicit offset map, not both"
            )
        self.register_buffer("gain", None)
        self.register_buffer("offset", None)
        self.sensor_maps: tuple[Tensor, Tensor, tuple[int, int] | None] | None = None
        self.set_(gain=gain, offset=offset)

    @staticmethod
    def _check_std(name: str, value: float) -> float:
        v = check_finite(name, value)
        if v < 0:
            raise ValueError(f"GainOffset: {name} must be >= 0, got {value!r}")
        return v

    def _check_map(self, name: str, value: Tensor | Sequence[float]) -> Tensor:
        t = as_float_tensor(f"GainOffset: {name}", value, ndim=1 if self.per == "channel" else None)
        if self.per == "pixel" and t.dim() not in (1, 3):
            raise ValueError(
                f"GainOffset: a per-pixel {name} map must have the shape of one sample, "
                f"(F,) or (C, H, W), got shape {tuple(t.shape)}"
            )
        return t

    @property
    def materialized(self) -> bool:
        """True once both maps exist (given, drawn, or loaded from a state_dict)."""
        return self.gain is not None and self.offset is not None

    @torch.no_grad()
    def set_(
        self,
        gain: Tensor | Sequence[float] | None = None,
        offset: Tensor | Sequence[float] | None = None,
    ) -> GainOffset:
        """Overwrite the gain and/or offset map (e.g. from a calibration).

        A map may change shape only if the other map is not set or is replaced too.
        """
        new = {}
        if gain is not None:
            new["gain"] = self._check_map("gain", gain)
        if offset is not None:
            new["offset"] = self._check_map("offset", offset)
        if "gain" in new and "offset" in new and new["gain"].shape != new["offset"].shape:
            raise ValueError(
                f"GainOffset: gain and offset must have the same shape, got "
                f"{tuple(new['gain'].shape)} and {tuple(new['offset'].shape)}"
            )
        for name, t in new.items():
            other = "offset" if name == "gain" else "gain"
            current = getattr(self, other)
            if other not in new and current is not None and current.shape != t.shape:
                raise ValueError(
                    f"GainOffset: {name} shape {tuple(t.shape)} does not match the existing "
                    f"{other} shape {tuple(current.shape)}"
                )
        for name, t in new.items():
            setattr(self, name, self._new_buffer(t))
        return self

    def set_sensor_maps(
        self,
        gain: Tensor | Sequence,
        offset: Tensor | Sequence,
        axis_px: tuple[int, int] | None = None,
    ) -> GainOffset:
        """Hold measured *sensor* maps (H_s, W_s) — a camera's whole PRNU/DSNU — until a layer
        that knows where each output pixel falls on the sensor crops them
        (`place_sensor_maps`; `mixsig.nn.OpticalConv2d` does so when it is built).
        ``axis_px``: the sensor pixel (row, col) on the optical axis (None: the centre)."""
        g = as_float_tensor("GainOffset: sensor gain map", gain, ndim=2)
        o = as_float_tensor("GainOffset: sensor offset map", offset, ndim=2)
        if g.shape != o.shape:
            raise ValueError(
                f"GainOffset: sensor gain and offset maps differ in shape: {tuple(g.shape)} "
                f"and {tuple(o.shape)}"
            )
        if self.per != "pixel":
            raise ValueError("GainOffset: sensor maps need per='pixel'")
        self.sensor_maps = (g, o, None if axis_px is None else tuple(axis_px))
        return self

    def place_sensor_maps(self, rows: Tensor, cols: Tensor) -> GainOffset:
        """Set the per-sample maps to ``sensor[rows, cols]`` (index tensors of one sample's
        shape, e.g. (C, H, W)) and drop the sensor maps."""
        if self.sensor_maps is None:
            raise ValueError("GainOffset: no sensor maps to place (set_sensor_maps first)")
        g, o, _ = self.sensor_maps
        self.set_(gain=g[rows, cols], offset=o[rows, cols])
        self.sensor_maps = None
        return self

    @torch.no_grad()
    def materialize(self, shape: Sequence[int]) -> GainOffset:
        """Draw the missing maps for per-map ``shape`` (``x.shape[1:]`` or ``(C,)``)."""
        shape = tuple(int(s) for s in shape)
        if self.gain is None:
            g = self._randn(shape) * self.gain_std if self.gain_std else torch.zeros(shape)
            self.gain = self._new_buffer(g)
        if self.offset is None:
            o = self._randn(shape) * self.offset_std if self.offset_std else torch.zeros(shape)
            self.offset = self._new_buffer(o)
        return self

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() not in (2, 4):
            raise ValueError(
                "GainOffset accepts inputs of shape (N, F) or (N, C, H, W), "
                f"got shape {tuple(x.shape)}"
            )
        map_shape = tuple(x.shape[1:]) if self.per == "pixel" else (x.shape[1],)
        for name in ("gain", "offset"):
            t = getattr(self, name)
            if t is not None and tuple(t.shape) != map_shape:
                raise ValueError(
                    f"GainOffset(per={self.per!r}): input of shape {tuple(x.shape)} needs a "
                    f"{name} map of shape {map_shape}, but the module's {name} map has shape "
                    f"{tuple(t.shape)}"
                )
        if not self.materialized and self.sensor_maps is not None:
            raise ConfigError(
                f"GainOffset: measured sensor maps of shape {tuple(self.sensor_maps[0].shape)} "
                f"cannot be applied to outputs of shape {tuple(x.shape)}: only a layer that "
                "knows where its outputs fall on the sensor (mixsig.nn.OpticalConv2d) crops "
                f"them; for this layer give maps of one sample's shape {map_shape}, or the "
                "maps' statistics (gain_std/offset_std; `mixsig calibrate --maps statistics`)"
            )
        if not self.materialized:
            self.materialize(map_shape)
        assert self.gain is not None and self.offset is not None
        g = self._jitter(self.gain.to(device=x.device, dtype=x.dtype))
        o = self._jitter(self.offset.to(device=x.device, dtype=x.dtype))
        if self.per == "channel" and x.dim() == 4:
            g = g.view(-1, 1, 1)
            o = o.view(-1, 1, 1)
        return x * (1.0 + g) + o * self._fs(x)

    def extra_repr(self) -> str:
        parts = [f"gain_std={self.gain_std:g}", f"offset_std={self.offset_std:g}"]
        parts.append(f"per={self.per!r}")
        if self.gain is not None:
            parts.append(f"shape={tuple(self.gain.shape)}")
        base = self._base_repr()
        return ", ".join(parts) + (f", {base}" if base else "")
