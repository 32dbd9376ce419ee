"""Higher diffraction orders of the DOE's pixel grid against the tile layout.

Owns `order_clearance` and `check_orders`. The far field of a DOE of pitch Δu repeats every
λf/Δu (the window, `FourierSampling.window_m`: P_w = M/pool camera pixels at the design
wavelength λ₀), so each k × k kernel window of a `TileLayout` has replicas — the higher orders
of the pixel grid, (m_y, m_x) ≠ (0, 0) — at m·P_w, and at a wavelength λ ≠ λ₀ the whole far
field, windows and replicas, is scaled by λ/λ₀ about the axis. Channel t sees the PSF offsets
d_t ± (H − 1) (`TileLayout.visible_box`: the offsets that send light from some input pixel into
its camera crop). With the tiled extent E inside the window (`mixsig.optics.tiles.check_fits`)
no replica reaches any channel at λ₀: every gap is at least P_w − E + (k − 1)//2 ≥ 0 pixels (the
default 16-tile layout of 28 × 28 images and 5 × 5 kernels: 2 px). A broadband source brings the
replicas of its shorter wavelengths closer by (1 − λ/λ₀)·P_w; `check_orders` refuses, with
the numbers, a layout where one reaches a channel (where the layer leaves the orders out:
`mixsig.optics.broadband.check_layout_orders`).

Intervals are pixel extents (a pixel at offset i covers [i − ½, i + ½]); a replica is clear of a
channel when it is clear along one axis.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from mixsig.optics.sampling import FourierSampling
from mixsig.optics.tiles import TileLayout, describe


class OrderClearance(NamedTuple):
    """The closest approach (`order_clearance`): ``px`` the gap in camera pixels between a
    channel's visible PSF offsets and the light of a window (< 0: it overlaps by −px), the
    tile whose window it is, the channel, the order (m_y, m_x) and the wavelength scale λ/λ₀."""

    px: float
    tile: int
    channel: int
    order: tuple[int, int]
    scale: float


def order_clearance(
    layout: TileLayout,
    sampling: FourierSampling,
    scales: tuple[float, ...] = (1.0,),
    *,
    orders: int = 2,
) -> OrderClearance:
    """The smallest gap between any channel's visible PSF offsets (d_t ± (H − 1), pixel edges
    ± ½) and the order (m_y, m_x) ≠ (0, 0), |m| ≤ ``orders``, of any tile's k × k window —
    the window shifted by m·P_w (P_w = M/pool camera pixels, the period λ₀f/Δu) and the whole
    scaled by s = λ/λ₀ about the axis — over the wavelength ``scales``. A replica is clear when
    it is clear along one axis, so the gap is the larger of the two per-axis gaps."""
    k = layout.kernel_size
    d = np.array(layout.offsets_px, dtype=float)  # (K, 2)
    period = sampling.fft_size / sampling.pool
    m = np.arange(-orders, orders + 1)
    my, mx = (a.ravel() for a in np.meshgrid(m, m, indexing="ij"))  # (O,)
    s = np.asarray(scales, dtype=float)
    gaps = []
    for axis, order in ((0, my), (1, mx)):
        lo = d[:, axis] - k // 2 - 0.5  # window t', pixel edges
        reach = layout.image_size[axis] - 1 + 0.5
        shift = order[None, :] * period
        rlo = (lo[:, None] + shift)[:, None, :, None] * s  # (K', 1, O, S)
        rhi = rlo + k * s
        vlo, vhi = (
            (d[:, axis] - reach)[None, :, None, None],
            (d[:, axis] + reach)[None, :, None, None],
        )
        gaps.append(np.maximum(vlo - rhi, rlo - vhi))  # (K', K, O, S)
    gap = np.maximum(*gaps)
    zero = (my == 0) & (mx == 0)  # the windows themselves: not a higher order
    gap = np.where(zero[None, None, :, None], np.inf, gap)
    t, c, o, i = np.unravel_index(np.argmin(gap), gap.shape)
    return OrderClearance(
        float(gap[t, c, o, i]), int(t), int(c), (int(my[o]), int(mx[o])), float(s[i])
    )


def check_orders(
    layout: TileLayout,
    sampling: FourierSampling,
    scales: tuple[float, ...] = (1.0,),
) -> OrderClearance:
    """Refuse a layout in which a higher order of some kernel window reaches a channel's
    visible PSF offsets at one of the wavelength ``scales`` (`order_clearance`); returns the
    clearance otherwise."""
    worst = order_clearance(layout, sampling, scales)
    if worst.px >= 0:
        return worst
    lam = worst.scale * sampling.wavelength_m
    period = sampling.fft_size / sampling.pool
    raise ValueError(
        f"{describe(layout)}: at λ = {lam * 1e9:.6g} nm (λ/λ₀ = {worst.scale:.6g}) the order "
        f"{worst.order} of "
        f"tile {worst.tile}'s {layout.kernel_size}×{layout.kernel_size} window (replicas every "
        f"λ₀f/Δu = {period:g} camera px, scaled by λ/λ₀) reaches the PSF offsets channel "
        f"{worst.channel} sees (its tile centre ± (H − 1)) by {-worst.px:.3g} px, light the "
        "model leaves out: use a DOE with more pixels (a larger window), a narrower spectrum, "
        "or model_crosstalk=True with the pixel envelope (which includes the higher orders)"
    )


__all__ = ["OrderClearance", "check_orders", "order_clearance"]
