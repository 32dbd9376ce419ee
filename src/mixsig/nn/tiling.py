"""Analog arrays of finite size: a mixed-signal layer split along its inputs into tiles.

Owns the split plan (`TilePlan`, `plan_tiles`), the chains of the tiles (`tile_chains`, with
`tile_hardware` deriving each tile's seeds), the tiled MAC (`tiled_mac`) and the tiled readout
(`tiled_readout`), which `mixsig.nn.mixed` calls when a layer has more inputs per output than
one array has rows (``hardware.array.rows``; aihwkit's ``max_input_size``).

The rule. A layer's output sums n = C·K inputs: C = ``in_features`` and K = 1 for a linear
layer, C = ``in_channels / groups`` and K = ∏ ``kernel_size`` for a convolution (its weight is
(out, C, *kernel), so C and K are read off the weight). With R rows and n ≤ R (or R unlimited)
the layer is one array, as without tiling. Otherwise kernels stay whole: a tile holds at most
c = ⌊R/K⌋ input channels (R < K is refused, naming the layer, R and the minimum K), so there
are T = ⌈C/c⌉ tiles — T = ⌈n/R⌉ for a linear layer — and the C channels are split into T
contiguous ranges as equal as possible: the first C mod T tiles get ⌊C/T⌋ + 1 channels, the
others ⌊C/T⌋ (the equal-size chunks of aihwkit's mapped layers, `get_split_sizes`). A grouped
convolution is split the same way inside every group: tile t holds the same channel range of
each group, so every tile is itself a grouped convolution over whole kernels.

Each tile is one array with its own readout: its analog result goes through its own chain
(distortion, noise, ADC; each ADC calibrated on its own tile's results, as each array has its
own ADC bank), and the tiles' digital outputs are summed; differential pairs are subtracted and
the digital bias added once, after the sum. Independent noise of σ per tile makes the sum's
noise std √T·σ. Tile 0's chain is the layer's hardware as given; tile t ≥ 1 has every given
seed (noise, distortions) moved to ``(seed + t·φ) mod 2^62`` with φ the odd 64-bit golden-ratio
constant, so no two tiles share a noise stream or a fixed pattern; an unseeded chain draws from
torch's global generator, each tile its own values. The input DAC, the weight quantizer and the
kernel mismatch act on the whole layer, before the split, exactly as without tiling.

Layout between the halves of the Monte-Carlo protocol (`analog_result` / `readout`): the tiles'
analog results are concatenated along the layer's output-channel dimension, tile-major (tile t
is the t-th block of the layer's analog channels), so the batch stays the leading dimension.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mixsig.config.hardware import SEED_MAX, HardwareConfig
from mixsig.config.io import ConfigError
from mixsig.signal.build import check_finite_chain
from mixsig.signal.chain import AnalogChain, assemble_chain

#: the 64-bit golden-ratio increment (odd: t ↦ t·φ mod 2^62 is one-to-one), spreading the
#: seeds of the tiles of one layer
_PHI = 0x9E3779B97F4A7C15


@dataclass(frozen=True)
class TilePlan:
    """How a layer's inputs are split: ``channels[t]`` input channels (features) on tile t,
    in order, each channel bringing ``kernel`` inputs (1 for a linear layer)."""

    channels: tuple[int, ...]
    kernel: int = 1

    @property
    def count(self) -> int:
        """T, the number of tiles (arrays)."""
        return len(self.channels)

    @property
    def bounds(self) -> tuple[tuple[int, int], ...]:
        """Each tile's channel range [start, stop) within the layer's (or a group's) inputs."""
        out, start = [], 0
        for c in self.channels:
            out.append((start, start + c))
            start += c
        return tuple(out)

    @property
    def rows_used(self) -> int:
        """The rows the largest tile occupies (inputs per output on one array)."""
        return max(self.channels) * self.kernel


def plan_tiles(weight_shape: Sequence[int], rows: int | None, *, layer: str) -> TilePlan:
    """The split of a layer whose weight has shape (out, C, *kernel) onto arrays of ``rows``
    rows (None: unlimited), by the rule of the module docstring. ``layer`` names the layer in
    the error raised when one kernel does not fit on an array."""
    channels = int(weight_shape[1])
    kernel = math.prod(int(k) for k in weight_shape[2:])
    if rows is None or channels * kernel <= rows:
        return TilePlan((channels,), kernel)
    per_tile = rows // kernel
    if per_tile == 0:
        raise ConfigError(
            f"array.rows = {rows} is too few for {layer}: a kernel of {kernel} inputs must lie "
            f"whole on one array, so array.rows must be at least {kernel} (or null for unlimited)"
        )
    count = -(-channels // per_tile)
    base, extra = divmod(channels, count)
    return TilePlan(tuple(base + (t < extra) for t in range(count)), kernel)


def tile_seed(seed: int | None, tile: int) -> int | None:
    """The seed of tile ``tile`` for a seed given to the whole layer (module docstring)."""
    if seed is None or tile == 0:
        return seed
    return (seed + tile * _PHI) % (SEED_MAX + 1)


def tile_hardware(hw: HardwareConfig, tile: int) -> HardwareConfig:
    """``hw`` for the chain of tile ``tile``: the same chain, its seeds moved by `tile_seed`
    (``hw`` itself for tile 0)."""
    if tile == 0:
        return hw
    noise = hw.noise.model_copy(update={"seed": tile_seed(hw.noise.seed, tile)})
    dist = [d.model_copy(update={"seed": tile_seed(d.seed, tile)}) for d in hw.distortion]
    return hw.model_copy(update={"noise": noise, "distortion": dist})


def tile_chains(hw: HardwareConfig, count: int) -> nn.ModuleList:
    """One analog chain per tile (`mixsig.signal.build_chain`'s finiteness check made once:
    the tiles' chains differ only in their seeds)."""
    check_finite_chain(hw)
    return nn.ModuleList(assemble_chain(tile_hardware(hw, t)) for t in range(count))


def _tile_inputs(x: Tensor, plan: TilePlan, channel_dim: int, groups: int) -> list[Tensor]:
    """Each tile's inputs: its channel range of every group of ``x`` along ``channel_dim``
    (negative). One `split` (its backward is one concatenation, not a zero-filled copy of
    ``x`` per tile)."""
    if groups == 1:
        return list(x.split(plan.channels, dim=channel_dim))
    per_group = x.unflatten(channel_dim, (groups, -1)).split(plan.channels, dim=channel_dim)
    return [p.flatten(channel_dim - 1, channel_dim) for p in per_group]


def tiled_mac(
    mac: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    w: Tensor,
    plan: TilePlan,
    *,
    channel_dim: int,
    groups: int = 1,
) -> Tensor:
    """Each tile's analog result, ``mac`` of its inputs and its weights (w[:, start:stop]),
    concatenated tile-major along ``channel_dim`` (the layer's channel dimension, counted
    from the end: −1 for a linear layer, −3 for a 2-D convolution)."""
    inputs = _tile_inputs(x, plan, channel_dim, groups)
    weights = w.split(plan.channels, dim=1)
    parts = [mac(xt, wt) for xt, wt in zip(inputs, weights, strict=True)]
    return torch.cat(parts, dim=channel_dim)


def tiled_readout(
    chains: Sequence[AnalogChain],
    a: Tensor,
    *,
    channel_dim: int,
    to_chain: Callable[[Tensor], Tensor],
) -> Tensor:
    """Σ_t chain_t(tile t's analog result), the tiles being the equal blocks of ``a`` along
    ``channel_dim`` (`tiled_mac`'s layout); ``to_chain`` lays a block out as the chain sees it."""
    y = None
    for chain, part in zip(chains, a.chunk(len(chains), dim=channel_dim), strict=True):
        yt = chain(to_chain(part))
        y = yt if y is None else y + yt
    return y


__all__ = [
    "TilePlan",
    "plan_tiles",
    "tile_chains",
    "tile_hardware",
    "tile_seed",
    "tiled_mac",
    "tiled_readout",
]
