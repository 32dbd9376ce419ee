"""Common base of all deterministic distortions: full scale, randomisation, seeded draws.

This module owns :class:`Distortion`, the ``nn.Module`` that every distortion of the analog
signal chain (design notes §2, step 4) derives from. It holds the pieces they share:

* ``full_scale`` -- a scalar float buffer (default 1.0, same units as the signal, e.g. DN or
  volts) that the signal chain sets to the ADC's full scale with ``dist.full_scale.fill_(v)``.
  Transfer curves act on the normalised signal ``u = x / full_scale``.
* randomisation -- ``randomize`` r in [0, 1): in training mode each forward call scales the
  (deviation) parameters by ``1 + U(-r, +r)``, one draw per parameter tensor per call.
* a ``torch.Generator`` seeded from ``seed`` for every random draw (``None`` -> global torch RNG).
  Draws are made on the CPU in float64 and then moved/cast, so the same seed gives bitwise the
  same parameters on every device (the generator is a CPU one on purpose; a draw reaches a
  CUDA device from pinned memory, without a synchronisation with the GPU).
* loading of buffers whose shape is only known later (lazily drawn maps) or may change
  (polynomial coefficients, LUT knots) from a ``state_dict``.

Buffers are stored in float64 by default (they are calibration values); every forward casts
them to the input's dtype and device, so float32 training and float64 gradcheck both work, and
``module.to(...)`` moves/casts them as usual.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["Distortion"]

#: dtype used for calibration buffers created by the distortions.
BUFFER_DTYPE = torch.float64


def check_finite(name: str, value: float) -> float:
    """Return ``float(value)``; raise ``ValueError`` naming ``name`` if it is not finite."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a finite real number, got {value!r}") from exc
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return v


def as_float_tensor(name: str, value: Any, *, ndim: int | Sequence[int] | None = None) -> Tensor:
    """Convert ``value`` to a finite float64 CPU tensor (a copy); check its rank if asked."""
    try:
        if isinstance(value, Tensor):
            t = value.detach().to(device="cpu", dtype=BUFFER_DTYPE).clone()
        else:  # parse Python floats / numpy arrays directly in float64 (no float32 detour)
            t = torch.as_tensor(value, dtype=BUFFER_DTYPE).clone()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} must be convertible to a float tensor, got {value!r}") from exc
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if t.dim() not in allowed:
            raise ValueError(
                f"{name} must have {' or '.join(str(a) for a in allowed)} dimension(s), "
                f"got shape {tuple(t.shape)}"
            )
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must contain only finite values")
    return t


class Distortion(nn.Module):
    """Base class of a deterministic, differentiable analog distortion ``y = D(x)``.

    Parameters
    ----------
    randomize:
        Relative amplitude r in [0, 1) of the per-batch randomisation used to train for
        robustness to calibration error. When ``r > 0`` and the module is in training mode,
        every forward call uses ``p · (1 + u)``, ``u ~ U(-r, +r)``, for each randomised parameter
        tensor p (one u per tensor per call; which parameters are randomised is documented by
        each subclass). In eval mode, or with ``r == 0``, the nominal parameters are used exactly.
    seed:
        Seed of the module's own ``torch.Generator`` used for every random draw (randomisation,
        fixed-pattern maps, mismatch draws). ``None`` uses the global torch RNG.
    full_scale:
        Initial value of the ``full_scale`` buffer (signal units, > 0). The signal chain
        normally overwrites it with the ADC full scale: ``dist.full_scale.fill_(v)``.

    Subclasses may list buffer names in ``_flexible_buffers``: when a ``state_dict`` is loaded,
    such a buffer (possibly still ``None`` because it is drawn lazily) takes the stored shape.
    """

    full_scale: Tensor
    #: Buffers whose shape is taken from the state_dict on load (lazy or variable-size ones).
    _flexible_buffers: tuple[str, ...] = ()

    def __init__(
        self, *, randomize: float = 0.0, seed: int | None = None, full_scale: float = 1.0
    ) -> None:
        super().__init__()
        name = type(self).__name__
        try:
            r = float(randomize)
        except (TypeError, ValueError):
            r = math.nan
        if not 0.0 <= r < 1.0:  # also refuses nan
            raise ValueError(f"{name}: randomize must be in [0, 1), got {randomize!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"{name}: seed must be an int or None, got {seed!r}")
        fs = check_finite("full_scale", full_scale)
        if fs <= 0:
            raise ValueError(f"{name}: full_scale must be > 0, got {full_scale!r}")
        self.randomize = r
        self.seed = seed
        self.generator: torch.Generator | None = None
        if seed is not None:
            self.generator = torch.Generator(device="cpu")
            self.generator.manual_seed(seed)
        self.register_buffer("full_scale", torch.tensor(fs, dtype=BUFFER_DTYPE))

    # ------------------------------------------------------------------ random draws
    def _randn(self, shape: Sequence[int]) -> Tensor:
        """Standard-normal draw of ``shape`` (float64, CPU) from the module's generator."""
        return torch.randn(tuple(shape), generator=self.generator, dtype=torch.float64)

    @property
    def randomizing(self) -> bool:
        """True when forward calls draw randomised parameters (training mode and r > 0)."""
        return self.training and self.randomize > 0.0

    def _jitter_factor(self, like: Tensor) -> Tensor | None:
        """One factor ``1 + u``, ``u ~ U(-r, r)``, as a 0-d tensor like ``like``; None if off."""
        if not self.randomizing:
            return None
        u = torch.rand((), generator=self.generator, dtype=torch.float64)
        factor = (1.0 + (2.0 * u - 1.0) * self.randomize).to(like.dtype)
        if like.device.type == "cuda":  # from pinned memory: no wait for the GPU's queue
            return factor.pin_memory().to(like.device, non_blocking=True)
        return factor.to(like.device)

    def _jitter(self, p: Tensor) -> Tensor:
        """``p · (1 + u)`` with one draw u when randomising, else ``p`` itself."""
        factor = self._jitter_factor(p)
        return p if factor is None else p * factor

    def _fs(self, x: Tensor) -> Tensor:
        """The full scale as a 0-d tensor with the dtype and device of ``x``."""
        return self.full_scale.to(device=x.device, dtype=x.dtype)

    def _new_buffer(self, value: Tensor) -> Tensor:
        """``value`` cast to the module's buffer dtype/device (those of ``full_scale``)."""
        return value.detach().to(device=self.full_scale.device, dtype=self.full_scale.dtype)

    # ------------------------------------------------------------------ state_dict
    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        for name in self._flexible_buffers:
            key = prefix + name
            stored = state_dict.get(key)
            if stored is None:
                continue
            own = self._buffers.get(name)
            if own is None or own.shape != stored.shape:
                ref = own if own is not None else self.full_scale
                self._buffers[name] = torch.empty(stored.shape, dtype=ref.dtype, device=ref.device)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def _base_repr(self) -> str:
        parts = []
        if self.randomize:
            parts.append(f"randomize={self.randomize}")
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return ", ".join(parts)
