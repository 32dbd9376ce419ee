"""Tile geometry of the optical convolution: which camera pixels each channel reads.

Owns the camera-side geometry of design §3 around `TileLayout` (where the K sub-PSFs sit on
the camera plane; defined in `mixsig.optics.synthesis`, which fits masks to it, and re-exported
here): the PSF box one channel can see (`take_box` of `TileLayout.visible_box`), the crop of
each channel in the "full" convolution (`output_crops`), the sensor pixel every output pixel is
read from (`sensor_index`), and the checks that a layout fits its window and does not overlap.

Coordinates (camera pixels; offsets from the optical axis = index J//2 of a J-pixel axis,
[row, column] = [y, x]): tile t has its sub-PSF centre at d_t (`TileLayout.offsets_px`), its
k × k window covers d_t − k//2 … d_t − k//2 + k − 1. The 4f system images input pixel m to the
camera offset (H//2, W//2) − m (point reflection), so output pixel (i, j) of channel t is the
camera pixel at offset d_t + (H//2 − i, W//2 − j): each channel's crop is read point-reflected,
which cancels the reflection of the imaging (`mixsig.optics.functional`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mixsig.config.io import ConfigError
from mixsig.optics.sampling import FourierSampling
from mixsig.optics.synthesis import TileLayout

Box = tuple[tuple[int, int], tuple[int, int]]


def describe(layout: TileLayout) -> str:
    """The layout in error messages: "K tiles (r×c grid, pitch Py×Px px)"."""
    (r, c), (py, px) = layout.grid, layout.pitch_px
    return f"{layout.channels} tiles ({r}×{c} grid, pitch {py}×{px} px)"


def take_box(plane: Tensor, box: Box) -> Tensor:
    """The offsets [y0, y1] × [x0, x1] (inclusive, from the axis J//2) of a plane; zero outside."""
    (y0, y1), (x0, x1) = box
    j1, j2 = plane.shape[-2:]
    top, left = j1 // 2 + y0, j2 // 2 + x0
    bottom, right = j1 // 2 + y1 + 1, j2 // 2 + x1 + 1
    pads = (max(0, -left), max(0, right - j2), max(0, -top), max(0, bottom - j1))
    if any(pads):
        plane = torch.nn.functional.pad(plane, pads)
        top, left = top + pads[2], left + pads[0]
        bottom, right = bottom + pads[2], right + pads[0]
    return plane[..., top:bottom, left:right]


def tile_psf(plane: Tensor, layout: TileLayout, *, crosstalk: bool) -> Tensor:
    """What the channels are convolved with: the K tile windows (..., K, k, k) of a camera plane,
    or with ``crosstalk`` the one `visible_box` (..., h, w) they all see (stray light, leakage)."""
    if crosstalk:
        return take_box(plane, layout.visible_box())
    return layout.extract(plane)


def output_crops(layout: TileLayout, *, crosstalk: bool) -> tuple[tuple[int, int], ...]:
    """The top-left (row, col) of each channel's H × W output in the "full" convolution of the
    input with the point-reflected PSF (`mixsig.optics.functional.psf_operand`).

    Windows (``crosstalk`` False): one crop shared by every channel, k − 1 − k//2 per axis (the
    window index k//2 lands on the output pixel). Box: one crop per tile, (y1 − d_y, x1 − d_x)
    for the tile centre d_t and the box's far corner (y1, x1).
    """
    if not crosstalk:
        k = layout.kernel_size
        return ((k - 1 - k // 2,) * 2,)
    (_, y1), (_, x1) = layout.visible_box()
    return tuple((y1 - dy, x1 - dx) for dy, dx in layout.offsets_px)


def sensor_index(
    layout: TileLayout,
    sensor_shape: tuple[int, int],
    axis_px: tuple[int, int] | None = None,
) -> tuple[Tensor, Tensor]:
    """Where each output pixel lies on a camera sensor of ``sensor_shape`` pixels: index
    tensors (rows, cols), each (K, H, W), such that output pixel (t, i, j) is read from sensor
    pixel (rows[t, i, j], cols[t, i, j]) — the camera offset d_t + (H//2 − i, W//2 − j) from
    the optical axis (module docstring).

    ``axis_px``: the sensor pixel (row, col) on the optical axis; None puts it at the centre
    (H_s//2, W_s//2). Raises `ConfigError` (measured maps that do not fit the layout) when a
    tile falls outside the sensor.
    """
    hs, ws = (int(v) for v in sensor_shape)
    ay, ax = (hs // 2, ws // 2) if axis_px is None else (int(v) for v in axis_px)
    h, w = layout.image_size
    d = torch.tensor(layout.offsets_px)  # (K, 2)
    rows = ay + d[:, 0, None, None] + h // 2 - torch.arange(h)[None, :, None]
    cols = ax + d[:, 1, None, None] + w // 2 - torch.arange(w)[None, None, :]
    rows, cols = rows.expand(-1, h, w), cols.expand(-1, h, w)
    r0, r1, c0, c1 = int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())
    if r0 < 0 or c0 < 0 or r1 >= hs or c1 >= ws:
        raise ConfigError(
            f"{describe(layout)}: the camera tiles cover sensor rows {r0}…{r1} and "
            f"columns {c0}…{c1} with the optical axis at sensor pixel {(ay, ax)}, outside "
            f"the measured {hs}×{ws} sensor maps; move the axis (sensor_axis_px) or measure "
            f"a larger sensor region (≥ {r1 - r0 + 1}×{c1 - c0 + 1} px around the tiles)"
        )
    return rows, cols


def overlap_message(layout: TileLayout) -> str:
    """Why an overlapping layout (`TileLayout.overlaps`) needs crosstalk modelling, and a fix."""
    h, w = layout.image_size
    k = layout.kernel_size
    py, px = layout.pitch_px
    my, mx = layout.min_pitch_px
    if py < my and layout.grid[0] > 1:
        return (
            f"tile pitch {py} px < image {h} + kernel {k} − 1 = {my} px: use tile_pitch_px ≥ "
            f"{my} or model_crosstalk=True"
        )
    return (
        f"tile pitch {px} px < image {w} + kernel {k} − 1 = {mx} px: use tile_pitch_px ≥ "
        f"{mx} or model_crosstalk=True"
    )


def check_fits(layout: TileLayout, sampling: FourierSampling) -> None:
    """Refuse a layout whose extent exceeds the whole camera pixels of the window."""
    extent = max(layout.extent_px)
    if extent <= sampling.camera_pixels:  # integers: exact (E ≤ J means E·pool ≤ M: it fits)
        return
    try:
        sampling.check_window(extent)
    except ValueError as err:
        raise ValueError(f"{describe(layout)}: {err}") from None
    raise ValueError(
        f"{describe(layout)}: the tiled extent {extent} px exceeds the "
        f"{sampling.camera_pixels} whole camera pixels of the window; use more DOE pixels "
        f"(N ≥ {math.ceil(extent * sampling.pool / sampling.oversample)}) or a smaller pitch"
    )


__all__ = [
    "Box",
    "TileLayout",
    "check_fits",
    "describe",
    "output_crops",
    "overlap_message",
    "sensor_index",
    "take_box",
    "tile_psf",
]
