"""Tile geometry of the optical convolution: which camera pixels each channel reads.

Owns the camera-side geometry of design §3: `TileLayout` (where the K sub-PSFs sit on the
camera plane; `mixsig.optics.synthesis` fits masks to it), the PSF box one channel can see
(`take_box` of `TileLayout.visible_box`), the crop of each channel in the "full" convolution
(`output_crops`), the sensor pixel every output pixel is read from (`sensor_index`), and the
checks that a layout fits its window and does not overlap.

Coordinates (camera pixels; offsets from the optical axis = index J//2 of a J-pixel axis,
[row, column] = [y, x]): tile t has its sub-PSF centre at d_t (`TileLayout.offsets_px`), its
k × k window covers d_t − k//2 … d_t − k//2 + k − 1. The 4f system images input pixel m to the
camera offset (H//2, W//2) − m (point reflection), so output pixel (i, j) of channel t is the
camera pixel at offset d_t + (H//2 − i, W//2 − j): each channel's crop is read point-reflected,
which cancels the reflection of the imaging (`mixsig.optics.functional`).

Geometry (camera pixels, offsets from the optical axis = index J//2 of a J-pixel camera axis,
[row, column] = [y, x]): tile t has its sub-PSF centre at d_t; its k × k window covers
offsets d_t − k//2 … d_t − k//2 + k − 1 (the window index k//2 is the tile centre, as index
M//2 is the axis of a centred grid). The tiles form a rows × cols grid (row-major, cols =
ceil(√K)) of pitch P, placed so that the whole camera region the K full convolutions cover,
extent E = (n − 1)·P + H + k − 1 per axis (H the image size), is centred on the axis.

Zero order (``avoid_axis=True``): a fabricated DOE leaks undiffracted light into a spot on the
optical axis (etch-depth error, fill factor), and with PSF offsets d_t ± (H − 1) visible to
channel t (`visible_box`), that spot adds the input image to every channel whose tile centre
lies within H − 1 pixels of the axis along both axes — with the default grid, often several.
The axis-free layout is an odd × odd near-square grid with rows·cols − 1 ≥ K (cols the
smallest odd c with c² − 1 ≥ K, which sets the square window it needs; rows the smallest odd
r ≤ c with r·c − 1 ≥ K: K = 1, 2 → 1 × 3, ≤ 8 → 3 × 3, ≤ 14 → 3 × 5, ≤ 24 → 5 × 5) whose
centre slot sits exactly on the axis, d = (0, 0), and stays empty; the K tiles fill the other
slots row-major, slot (i, j) at d = ((i − rows//2)·P_y, (j − cols//2)·P_x).
Every tile is then ≥ P from the axis along some axis, so for P ≥ H per axis (the default pitch
H + k − 1 and any non-overlapping one) the zero-order image of the input, H × W around the
axis, falls into the empty slot and into no channel's crop. Its `extent_px` is the smallest
region centred on the axis that holds every full convolution, (n − 1)·P + 2·(H//2 + k//2) + 1
(up to two pixels more than E for even H or k: the grid is centred on the axis, not the region).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from mixsig.config.io import ConfigError
from mixsig.optics.sampling import FourierSampling

Box = tuple[tuple[int, int], tuple[int, int]]


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, int) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < 1:
        raise ValueError(f"{name} must be ≥ 1, got {value!r}")
    return pair  # type: ignore[return-value]


@dataclass(frozen=True)
class TileLayout:
    """K sub-PSFs of size k × k tiled with pitch P on the camera (module docstring)."""

    channels: int
    kernel_size: int
    image_size: tuple[int, int]
    pitch_px: tuple[int, int]
    grid: tuple[int, int]
    avoid_axis: bool = False

    def __post_init__(self) -> None:
        rows, cols = self.grid
        if self.avoid_axis and (rows % 2 == 0 or cols % 2 == 0 or rows * cols - 1 < self.channels):
            raise ValueError(
                f"an axis-free layout needs an odd × odd grid with a free centre slot and "
                f"rows·cols − 1 ≥ {self.channels} tiles, got {rows}×{cols}"
            )

    @classmethod
    def build(
        cls,
        channels: int,
        kernel_size: int,
        image_size: int | tuple[int, int],
        pitch_px: int | tuple[int, int] | None = None,
        *,
        avoid_axis: bool = False,
    ) -> TileLayout:
        """A near-square grid; ``pitch_px`` None gives the smallest non-overlapping pitch.

        ``avoid_axis``: an odd × odd grid whose centre slot, on the optical axis, stays empty
        (the zero order of a fabricated DOE then reaches no channel: module docstring).
        """
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"the number of tiles must be an integer ≥ 1, got {channels!r}")
        (k, k_x), hw = _pair(kernel_size, "kernel_size"), _pair(image_size, "image_size")
        if k_x != k:
            raise ValueError(f"square kernels only, got kernel_size={kernel_size!r}")
        min_pitch = (hw[0] + k - 1, hw[1] + k - 1)
        pitch = min_pitch if pitch_px is None else _pair(pitch_px, "tile_pitch_px")
        if min(pitch) < k:
            raise ValueError(
                f"tile pitch {pitch} px < kernel {k} px: the kernel windows would overlap "
                f"themselves; use tile_pitch_px ≥ {k}"
            )
        if avoid_axis:
            rows, cols = _axis_free_grid(channels)
        else:
            cols = math.ceil(math.sqrt(channels))
            rows = math.ceil(channels / cols)
        return cls(channels, k, hw, pitch, (rows, cols), bool(avoid_axis))  # type: ignore[arg-type]

    # -- geometry ---------------------------------------------------------------------------
    @property
    def min_pitch_px(self) -> tuple[int, int]:
        """H + k − 1 per axis: the smallest pitch at which the full convolutions don't overlap."""
        k = self.kernel_size
        return (self.image_size[0] + k - 1, self.image_size[1] + k - 1)

    @property
    def overlaps(self) -> bool:
        """True when the pitch is below `min_pitch_px` along an axis that has several tiles."""
        return any(n > 1 and p < m for n, p, m in zip(self.grid, self.pitch_px, self.min_pitch_px))

    @property
    def extent_px(self) -> tuple[int, int]:
        """E = (n − 1)·P + H + k − 1 per axis: the camera region the tiled outputs cover,
        centred on the axis (``avoid_axis``: the smallest axis-centred region holding it,
        (n − 1)·P + 2·(H//2 + k//2) + 1)."""
        if self.avoid_axis:
            k = self.kernel_size
            return tuple(  # type: ignore[return-value]
                (n - 1) * p + 2 * (h // 2 + k // 2) + 1
                for n, p, h in zip(self.grid, self.pitch_px, self.image_size)
            )
        return tuple(  # type: ignore[return-value]
            (n - 1) * p + m for n, p, m in zip(self.grid, self.pitch_px, self.min_pitch_px)
        )

    def _centres(self, axis: int) -> list[int]:
        n, pitch = self.grid[axis], self.pitch_px[axis]
        if self.avoid_axis:  # odd n: the centre slot n//2 on the axis
            return [(i - n // 2) * pitch for i in range(n)]
        h, k = self.image_size[axis], self.kernel_size
        below = (h - 1 - h // 2) + (k - 1 - k // 2)  # full output extends this far below d
        start = -(self.extent_px[axis] // 2) + below
        return [start + i * pitch for i in range(n)]

    @property
    def slots(self) -> tuple[int, ...]:
        """The row-major grid slot of each tile: 0…K − 1, or with ``avoid_axis`` every slot
        but the centre one (rows·cols // 2, on the axis), in order."""
        if not self.avoid_axis:
            return tuple(range(self.channels))
        centre = self.grid[0] * self.grid[1] // 2
        return tuple(s + (s >= centre) for s in range(self.channels))

    @property
    def offsets_px(self) -> tuple[tuple[int, int], ...]:
        """Tile centres d_t = (d_y, d_x) in camera pixels from the axis, row-major."""
        ys, xs = self._centres(0), self._centres(1)
        cols = self.grid[1]
        return tuple((ys[s // cols], xs[s % cols]) for s in self.slots)

    def visible_box(self) -> Box:
        """PSF offsets any output pixel sees: d_t ± (H − 1) per axis, inclusive bounds."""
        out = []
        for axis in (0, 1):
            d = [o[axis] for o in self.offsets_px]
            reach = self.image_size[axis] - 1
            out.append((min(d) - reach, max(d) + reach))
        return out[0], out[1]

    def window_index(self, size: tuple[int, int], device=None) -> tuple[Tensor, Tensor]:
        """Row and column indices (K, k, 1), (K, 1, k) of the windows in a grid of ``size``."""
        k = self.kernel_size
        d = torch.tensor(self.offsets_px, device=device)
        a = torch.arange(k, device=device) - k // 2
        rows = size[0] // 2 + d[:, 0, None] + a  # (K, k)
        cols = size[1] // 2 + d[:, 1, None] + a
        if rows.min() < 0 or cols.min() < 0 or rows.max() >= size[0] or cols.max() >= size[1]:
            raise ValueError(
                f"the tiled kernels (extent {self.extent_px} px) do not fit a {size} grid"
            )
        return rows[:, :, None], cols[:, None, :]

    def extract(self, plane: Tensor) -> Tensor:
        """The K windows (..., K, k, k) of a camera plane (..., J1, J2) centred on the axis."""
        rows, cols = self.window_index(tuple(plane.shape[-2:]), plane.device)
        return plane[..., rows, cols]

    def place(self, kernels: Tensor, size: tuple[int, int]) -> Tensor:
        """A (size) camera plane holding ``kernels`` (K, k, k) in their windows (differentiable;
        overlapping windows add)."""
        rows, cols = self.window_index(size, kernels.device)
        k = self.kernel_size
        rows, cols = rows.expand(-1, k, k), cols.expand(-1, k, k)
        plane = kernels.new_zeros(size)
        return plane.index_put((rows, cols), kernels, accumulate=True)

    def window_mask(self, size: tuple[int, int], device=None) -> Tensor:
        """Boolean (size) mask of the union of the kernel windows."""
        rows, cols = self.window_index(size, device)
        k = self.kernel_size
        mask = torch.zeros(size, dtype=torch.bool, device=device)
        mask[rows.expand(-1, k, k), cols.expand(-1, k, k)] = True
        return mask

    def box_mask(self, size: tuple[int, int], device=None) -> Tensor:
        """Boolean (size) mask of the `visible_box` (clipped to the grid)."""
        mask = torch.zeros(size, dtype=torch.bool, device=device)
        (y0, y1), (x0, x1) = self.visible_box()
        cy, cx = size[0] // 2, size[1] // 2
        mask[max(cy + y0, 0) : cy + y1 + 1, max(cx + x0, 0) : cx + x1 + 1] = True
        return mask


def _axis_free_grid(channels: int) -> tuple[int, int]:
    """(rows, cols), both odd, rows ≤ cols: cols the smallest odd c with c² − 1 ≥ K, rows the
    smallest odd r with r·c − 1 ≥ K (K = 1, 2: 1 × 3; ≤ 8: 3 × 3; ≤ 14: 3 × 5; ≤ 24: 5 × 5)."""
    cols = 3
    while cols * cols - 1 < channels:
        cols += 2
    rows = 1
    while rows * cols - 1 < channels:
        rows += 2
    return rows, cols


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
