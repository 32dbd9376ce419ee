"""Random noise before the ADC: Gaussian (in LSB), shot noise, and a fixed physical floor.

Owns the noise models of design §2 and their random sources:

* `GaussianNoise(sigma_lsb)` — draws n ~ N(0, sigma_lsb²) in LSB of the ADC it precedes; the
  ADC adds n·Δ before clipping and rounding (fused, see `mixsig.signal.fake_quant`).
* `ShotNoise(electrons_per_unit)` — a signal x holds μ = k·x electrons (k = electrons per unit);
  evaluation draws Poisson(μ)/k, training the reparameterised N(μ, μ)/k = x + sqrt(x/k)·ε,
  which is differentiable in x.
* `NoiseFloor(std)` — additive N(0, std²) in the ADC's input units, independent of Δ and of
  any analog gain (read noise): it is what keeps a learned gain from "shrinking" the noise.

Every module takes a ``seed``: with a seed it owns a `torch.Generator` (bitwise reproducible
Monte-Carlo draws, `reseed` to start a new sequence); without one it uses torch's global RNG,
so `torch.manual_seed` makes runs reproducible.

Speed: torch's CPU generator costs ~7 ns per value, which for a conv layer's output is a large
part of a training step. In training mode `GaussianNoise` therefore defaults to ``source="pool"``:
a pool of exact N(0, 1) draws (8× the request, at least 2^20), of which each call reads a window
at a uniformly random offset and refreshes 1/16 of the request's size with fresh draws
(so the whole pool is renewed every 128 calls of the same size). Within one
call the values are independent draws of N(0, 1); across calls they are not independent (windows
may overlap until refreshed). In evaluation mode, and with ``source="exact"``, every value is a
fresh draw. The layer benchmark reports the default (pool) and the exact source. The pool is
used on the CPU only, where it pays: a GPU's generator (Philox, counter-based) fills a request
in parallel at memory speed, so on any other device every value is a fresh draw. Under
``torch.compile`` every value is a fresh draw too (the pool's bookkeeping is Python state), from
the device's global generator when the module has no seed, which the compiled graph captures;
a seeded module's own generator is not capturable and makes a graph break there.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor, nn

_CHUNK = 1 << 18  # values per independently seeded block of a parallel draw
_PARALLEL_MIN = 1 << 22  # below this, thread hand-off costs more than it saves (measured)
_POOL_MIN = 1 << 20
_POOL_FACTOR = 8
_REFRESH_FRACTION = 1 / 16


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="mixsig-randn")
        return _executor


def randn(
    shape: tuple[int, ...],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> Tensor:
    """N(0, 1) draws, filled in parallel on the CPU: torch's CPU generator is sequential
    (~4 ns per value), so a request of 2^22 values or more is cut into blocks of 2^18 values,
    each filled by its own generator seeded from ``generator`` (or torch's global RNG), on up to
    `torch.get_num_threads()` threads. The blocks and their seeds do not depend on the thread
    count, so the result is the same on any machine for the same seed."""
    device = torch.device(device)
    out = torch.empty(shape, dtype=dtype, device=device)
    n = out.numel()
    if device.type != "cpu" or n < _PARALLEL_MIN:
        return out.normal_(generator=generator)
    flat = out.view(-1)
    blocks = -(-n // _CHUNK)
    seeds = torch.randint(0, 2**62, (blocks,), generator=generator).tolist()

    def fill(i: int) -> None:
        g = torch.Generator().manual_seed(seeds[i])
        flat[i * _CHUNK : (i + 1) * _CHUNK].normal_(generator=g)

    workers = min(torch.get_num_threads(), blocks)
    if workers <= 1:
        for i in range(blocks):
            fill(i)
    else:
        list(_pool_executor().map(fill, range(blocks)))
    return out


class _Seeded(nn.Module):
    """A module that owns an optional seeded generator (per device)."""

    def __init__(self, seed: int | None) -> None:
        super().__init__()
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an integer or None, got {seed!r}")
        self.seed = seed
        self._generator: torch.Generator | None = None

    def reseed(self, seed: int | None) -> None:
        """Restart the random sequence from ``seed`` (None: use torch's global RNG)."""
        self.seed = seed
        self._generator = None

    def generator(self, device: torch.device) -> torch.Generator | None:
        if self.seed is None:
            return None
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device)
            self._generator.manual_seed(self.seed)
        return self._generator

    def randn_like(self, x: Tensor) -> Tensor:
        if self.seed is None and torch.compiler.is_compiling():
            return torch.randn_like(x)  # the device's global generator, captured in the graph
        return randn(x.shape, dtype=x.dtype, device=x.device, generator=self.generator(x.device))


class GaussianNoise(_Seeded):
    """Gaussian noise with std ``sigma_lsb`` in LSB of the following ADC.

    ``draw(x)`` returns noise in LSB shaped like ``x`` (None when sigma_lsb is 0); the ADC
    multiplies it by its Δ. ``draw_standard(x)`` returns the N(0, 1) draw before scaling by
    sigma_lsb (the analog chain lets the ADC scale it in place). Draws from the pool are views
    of it: read them, never write into them. ``source``: ``"pool"`` (training default, see the
    module docstring) or ``"exact"``; evaluation mode always draws exactly.
    """

    def __init__(self, sigma_lsb: float = 0.5, *, seed: int | None = None, source: str = "pool"):
        super().__init__(seed)
        self.sigma_lsb = sigma_lsb
        if source not in ("pool", "exact"):
            raise ValueError(f"source must be 'pool' or 'exact', got {source!r}")
        self.source = source
        self._pool: Tensor | None = None
        self._refresh_at = 0

    @property
    def sigma_lsb(self) -> float:
        return self._sigma_lsb

    @sigma_lsb.setter
    def sigma_lsb(self, value: float) -> None:
        value = float(value)
        if not (math.isfinite(value) and value >= 0.0):
            raise ValueError(f"sigma_lsb must be a finite number >= 0, got {value}")
        self._sigma_lsb = value

    def reseed(self, seed: int | None) -> None:
        super().reseed(seed)
        self._pool = None

    def _pooled(self, x: Tensor) -> Tensor:
        n = x.numel()
        gen = self.generator(x.device)
        pool = self._pool
        if (
            pool is None
            or pool.numel() < _POOL_FACTOR * n
            or pool.dtype != x.dtype
            or pool.device != x.device
        ):
            size = max(_POOL_MIN, _POOL_FACTOR * n)
            pool = self._pool = torch.randn(size, dtype=x.dtype, device=x.device, generator=gen)
            self._refresh_at = 0
        size = pool.numel()
        r = max(1, int(n * _REFRESH_FRACTION))
        start = self._refresh_at
        end = min(start + r, size)
        pool[start:end].normal_(generator=gen)
        self._refresh_at = 0 if end >= size else end
        offset = int(torch.randint(0, size - n + 1, (1,), generator=gen, device=x.device))
        return pool[offset : offset + n].view(x.shape)

    def draw_standard(self, x: Tensor) -> Tensor | None:
        """N(0, 1) shaped like ``x`` (None when sigma_lsb is 0), from the pool in training."""
        if self._sigma_lsb == 0.0:
            return None
        if self.training and self.source == "pool" and x.device.type == "cpu":
            if not torch.compiler.is_compiling():  # a compiled graph draws afresh
                return self._pooled(x)
        return self.randn_like(x)

    def draw(self, x: Tensor) -> Tensor | None:
        z = self.draw_standard(x)
        return None if z is None else z * self._sigma_lsb

    def forward(self, x: Tensor, lsb: Tensor | float) -> Tensor:
        """x + n·Δ, for use without an ADC (the ADC fuses this itself)."""
        z = self.draw(x)
        return x if z is None else x + z * lsb

    def extra_repr(self) -> str:
        return f"sigma_lsb={self._sigma_lsb}, source={self.source}, seed={self.seed}"


class ShotNoise(_Seeded):
    """Signal-dependent shot noise: μ = k·x electrons, k = ``electrons_per_unit``.

    Training: x + sqrt(max(x, 0)/k)·ε, ε ~ N(0, 1) (reparameterised, differentiable).
    Evaluation: Poisson(k·max(x, 0))/k. Negative signals carry no photons (no shot noise).
    """

    def __init__(self, electrons_per_unit: float, *, seed: int | None = None) -> None:
        super().__init__(seed)
        k = float(electrons_per_unit)
        if not (math.isfinite(k) and k > 0.0):
            raise ValueError(f"electrons_per_unit must be a finite number > 0, got {k}")
        self.electrons_per_unit = k

    def forward(self, x: Tensor) -> Tensor:
        k = self.electrons_per_unit
        if self.training:
            # the tiny floor keeps d sqrt/dx finite at x = 0
            std = torch.sqrt(torch.clamp(x, min=0.0) / k + 1e-12)
            return x + std * self.randn_like(x)
        mu = torch.clamp(x.detach(), min=0.0) * k
        counts = torch.poisson(mu, generator=self.generator(x.device))
        # Poisson draw in the forward pass, identity gradient (x's own derivative) backward
        return x + (counts / k - x).detach()

    def extra_repr(self) -> str:
        return f"electrons_per_unit={self.electrons_per_unit:g}, seed={self.seed}"


class NoiseFloor(_Seeded):
    """Additive N(0, std²) in the ADC's input units (a fixed physical floor, e.g. read noise)."""

    def __init__(self, std: float, *, seed: int | None = None) -> None:
        super().__init__(seed)
        std = float(std)
        if not (math.isfinite(std) and std >= 0.0):
            raise ValueError(f"floor std must be a finite number >= 0, got {std}")
        self.std = std

    def forward(self, x: Tensor) -> Tensor:
        if self.std == 0.0:
            return x
        return x + self.std * self.randn_like(x)

    def extra_repr(self) -> str:
        return f"std={self.std:g}, seed={self.seed}"


def set_sigma_lsb(model: nn.Module, sigma_lsb: float) -> nn.Module:
    """Set the Gaussian noise of every analog chain in ``model`` to ``sigma_lsb`` (LSB).

    For evaluating one trained network at several test noise levels; returns ``model``.
    """
    found = 0
    for m in model.modules():
        if isinstance(m, GaussianNoise):
            m.sigma_lsb = sigma_lsb
            found += 1
    if not found:
        raise ValueError("model has no GaussianNoise module (was it converted with mixsig?)")
    return model
