"""Pseudo-negative pairs: the one channel layout of W = W⁺ − W⁻ on non-negative hardware.

Owns where the two halves of a differential ("pseudo-negative") pair sit among the analog
channels, for every layer that has them: the mixed-signal layers (`mixsig.nn.mixed`, weights
``realisation = "differential"``) and the optical layer (`mixsig.nn.OpticalConv2d`,
``signed``). W⁺ = relu(W) and W⁻ = relu(−W) each go through the (unsigned) ADC or camera and
are subtracted digitally.

Layout: the pairs sit inside groups. For g groups of c = C/g output channels the 2C analog
channels are [W⁺ of group 0 (c channels), W⁻ of group 0 (c), W⁺ of group 1, W⁻ of group 1, …]:

* mixed layers: g = the convolution's ``groups`` (1 for a linear layer), so a grouped or
  depthwise convolution keeps its groups; for g = 1 that is W⁺ stacked above W⁻;
* optical layer: g = C (c = 1: every output channel its own group), which is the interleaved
  order [W⁺_0, W⁻_0, W⁺_1, W⁻_1, …]: tile 2i carries W⁺_i, tile 2i + 1 carries W⁻_i. That
  order is baked into trained DOEs (which tile holds which half) and into the per-tile camera
  maps, so it is fixed; it is this same layout, not a second one.

Both functions only move elements (the subtraction is the same per element either way), so a
layer computes bitwise what it computed with its own indexing.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check(channels: int, groups: int, pairs: bool) -> None:
    per = 2 * groups if pairs else groups
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be an integer ≥ 1, got {groups!r}")
    if channels % per:
        what = "2·groups" if pairs else "groups"
        raise ValueError(f"{channels} channels do not split into {what} = {per} equal blocks")


def stack_pairs(pos: Tensor, neg: Tensor, groups: int = 1, dim: int = 0) -> Tensor:
    """The 2C analog channels of C channels' halves W⁺ (``pos``) and W⁻ (``neg``) along
    ``dim``, laid out in ``groups`` groups (module docstring): [pos of group 0, neg of group 0,
    pos of group 1, …]."""
    dim = dim % pos.dim()
    _check(pos.shape[dim], groups, pairs=False)
    halves = [pos.unflatten(dim, (groups, -1)), neg.unflatten(dim, (groups, -1))]
    return torch.stack(halves, dim + 1).flatten(dim, dim + 2)


def subtract_pairs(y: Tensor, groups: int = 1, dim: int = 1) -> Tensor:
    """W⁺ − W⁻: the C channels of 2C analog channels along ``dim`` (default 1, the channels of
    a batch) laid out by `stack_pairs` in ``groups`` groups."""
    dim = dim % y.dim()
    _check(y.shape[dim], groups, pairs=True)
    pairs = y.unflatten(dim, (groups, 2, -1))
    return (pairs.select(dim + 1, 0) - pairs.select(dim + 1, 1)).flatten(dim, dim + 1)


__all__ = ["stack_pairs", "subtract_pairs"]
