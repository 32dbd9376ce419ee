"""Range observers: the statistics from which a quantizer's range is calibrated.

Owns `RangeObserver`, which watches calibration batches and reports one number, the signal's
extent, by one of three rules:

* ``percentile`` — the mean over batches of a high percentile of the signal;
* ``max`` — the running maximum;
* ``mse`` — the extent a that minimises the expected squared error of the quantized noisy
  signal, E[(Q(x) − x)²] + σ²Δ(a)², over a sample of the calibration values: the
  quantization and clipping error plus the Gaussian noise of σ LSB that the ADC will see
  (``noise_lsb``, set by the analog chain). Searched on a geometric grid of 200 candidates
  between max/1000 and max, refined on a linear grid of 41 around the best one. Because the
  noise costs σ²Δ², a noisier ADC gets a smaller Δ: it trades some clipping for less noise.

A batch that holds NaN or Inf is refused (never silently clamped), as is asking for a range
before any batch.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor, nn

# kthvalue on more values than this is slow and no more informative: take an even subsample
_MAX_PERCENTILE_SAMPLES = 1 << 20
# the MSE search keeps at most this many values per batch and in all
_MSE_SAMPLES_PER_BATCH = 1 << 15
_MSE_SAMPLES = 1 << 18
_MSE_GRID = 200
METHODS = ("percentile", "max", "mse")


class RangeObserver(nn.Module):
    """Accumulates the extent of a signal over calibration batches.

    method: ``"percentile"`` (mean over batches of the ``percentile``-th percentile),
    ``"max"`` (running maximum) or ``"mse"`` (noise-aware minimum squared error; needs
    ``bits``). ``symmetric``: observe |x| (signed signals) instead of x.
    ``noise_lsb``: the Gaussian noise (in LSB) the quantizer will see, for ``"mse"``.
    """

    def __init__(
        self,
        method: str = "percentile",
        percentile: float = 99.99,
        symmetric: bool = False,
        *,
        bits: int | None = None,
        noise_lsb: float = 0.0,
    ):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"calibration must be one of {METHODS}, got {method!r}")
        if method == "mse" and bits is None:
            raise ValueError("calibration='mse' needs the quantizer's bits")
        if not 50.0 < percentile <= 100.0:
            raise ValueError(f"percentile must be in (50, 100], got {percentile}")
        self.method = method
        self.percentile = float(percentile)
        self.symmetric = bool(symmetric)
        self.bits = bits
        self.noise_lsb = float(noise_lsb)
        self._samples: list[Tensor] = []
        self._kept = 0
        self.register_buffer("total", torch.zeros((), dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))
        self._negative = 0
        self._values = 0

    def reset(self) -> None:
        self.total.zero_()
        self.count.zero_()
        self._negative = self._values = 0
        self._samples, self._kept = [], 0

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        if not torch.isfinite(x).all():
            bad = int((~torch.isfinite(x)).sum())
            raise ValueError(
                f"calibration batch contains {bad} NaN/Inf value(s) of {x.numel()}: "
                "clean the input or check the layers before this one"
            )
        if not self.symmetric:
            self._negative += int((x < 0).sum())
            self._values += x.numel()
        v = (x.abs() if self.symmetric else x).reshape(-1)
        if self.method == "mse":
            stat = v.max().double()
            self.total.copy_(torch.maximum(self.total, stat) if self.count > 0 else stat)
            if self._kept < _MSE_SAMPLES:
                step = math.ceil(v.numel() / _MSE_SAMPLES_PER_BATCH)
                keep = v[::step].detach().double().cpu()
                self._samples.append(keep)
                self._kept += keep.numel()
        elif self.method == "max":
            stat = v.max().double()
            self.total.copy_(torch.maximum(self.total, stat) if self.count > 0 else stat)
        else:
            if v.numel() > _MAX_PERCENTILE_SAMPLES:
                v = v[:: math.ceil(v.numel() / _MAX_PERCENTILE_SAMPLES)]
            k = max(1, min(v.numel(), math.ceil(self.percentile / 100.0 * v.numel())))
            self.total += v.kthvalue(k).values.double()
        self.count += 1
        return x

    def extent(self) -> float:
        """The observed extent (positive), or an error saying why there is none."""
        if int(self.count) == 0:
            raise RuntimeError("no calibration batch was observed: call mixsig.calibrate first")
        if self._values and self._negative > 0.01 * self._values:
            warnings.warn(
                f"{self._negative / self._values:.1%} of the calibration values are negative; "
                "an unsigned quantizer clips them to 0 (set signed: true if the signal is signed)",
                stacklevel=3,
            )
        if self.method == "percentile":
            value = float(self.total) / int(self.count)
        else:
            value = float(self.total)
        if value > 0.0 and self.method == "mse":
            value = self._mse_extent(value)
        if not value > 0.0:
            raise ValueError(
                f"calibration found no positive signal (extent {value:g}); an unsigned "
                "quantizer needs positive values — use signed=True for signed signals"
            )
        return value

    def steps_per_extent(self) -> int:
        """Δ = extent / this: 2^(b−1) − 1 for symmetric (two's complement), 2^b − 1 else."""
        assert self.bits is not None
        return max((1 << (self.bits - 1)) - 1, 1) if self.symmetric else (1 << self.bits) - 1

    def _mse_error(self, v: Tensor, a: float) -> float:
        steps = self.steps_per_extent()
        top = (1 << (self.bits - 1)) - 1 if self.symmetric else steps  # largest code
        bottom = -(1 << (self.bits - 1)) if self.symmetric else 0
        d = a / steps
        q = torch.clamp(torch.round(v / d), bottom, top) * d
        return float(((q - v) ** 2).mean()) + (self.noise_lsb * d) ** 2

    def _mse_extent(self, vmax: float) -> float:
        v = torch.cat(self._samples)
        if not self.symmetric:
            v = v.clamp_min(0.0)  # an unsigned quantizer clips negatives whatever its range
        # coarse geometric grid over three decades, then a fine grid around the best point
        coarse = (vmax * torch.logspace(-3, 0, _MSE_GRID, dtype=torch.float64)).tolist()
        best = min(coarse, key=lambda a: self._mse_error(v, a))
        ratio = 10 ** (3 / (_MSE_GRID - 1))
        fine = torch.linspace(best / ratio, min(best * ratio, vmax), 41, dtype=torch.float64)
        return min(fine.tolist(), key=lambda a: self._mse_error(v, a))
