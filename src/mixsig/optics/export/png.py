"""``<name>.png`` — a picture for humans, not for reading back.

Owns `png_bytes`: the wrapped phase (µm or mm axes, y up, optical axis at 0) and, when a PSF is
given, the PSF as log10(I/I_max) (floor −6) on camera-plane axes (pitch ``psf_pitch_m``, else
λf/(M·p) for an M × M `fraunhofer_psf`, else in samples), side by side, drawn on an explicit
Agg canvas; the PNG's Title and Description hold the name and the metadata record.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
from torch import Tensor

from mixsig.optics.doe import TWO_PI

from .common import need
from .metadata import DOEMetadata

_PSF_FLOOR_LOG10 = -6.0
_PNG_PANEL_IN = (5.0, 4.0)  # width, height of one PNG panel in inches
_PNG_DPI = 120


def _length_axis(span_m: float) -> tuple[float, str]:
    return (1e6, "µm") if span_m < 1e-3 else (1e3, "mm")


def png_bytes(
    phase: Tensor,
    meta: DOEMetadata,
    psf: np.ndarray | None,
    psf_pitch_m: float | None,
    name: str,
) -> bytes:
    """The PNG's bytes (the caller writes them atomically)."""
    need("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = phase.shape[0]
    panels = 1 if psf is None else 2
    fig = Figure(figsize=(_PNG_PANEL_IN[0] * panels, _PNG_PANEL_IN[1]), dpi=_PNG_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, panels, 1)
    scale, unit = _length_axis(n * meta.pitch_m)
    lo, hi = (-(n // 2) - 0.5) * meta.pitch_m * scale, (n - n // 2 - 0.5) * meta.pitch_m * scale
    img = ax.imshow(
        phase.numpy(),
        origin="lower",
        extent=(lo, hi, lo, hi),
        cmap="twilight",
        vmin=0,
        vmax=TWO_PI,
        interpolation="nearest",
    )
    fig.colorbar(img, ax=ax, label="phase (rad)")
    levels = "continuous" if meta.levels is None else f"L = {meta.levels}"
    ax.set_title(f"{name}: {n}×{n} px, pitch {meta.pitch_m * 1e6:.4g} µm, {levels}", fontsize=9)
    ax.set_xlabel(f"x ({unit})")
    ax.set_ylabel(f"y ({unit})")
    if psf is not None:
        _draw_psf(fig, psf, meta, psf_pitch_m)
    fig.tight_layout()
    description = json.dumps(meta.record())
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Title": name, "Description": description})
    return buf.getvalue()


def _draw_psf(fig: Any, psf: np.ndarray, meta: DOEMetadata, psf_pitch_m: float | None) -> None:
    """The second panel: the PSF as log10(I/I_max), on camera-plane axes when the pitch is known."""
    ax2 = fig.add_subplot(1, 2, 2)
    m1, m2 = psf.shape
    pitch = psf_pitch_m
    if pitch is None and meta.focal_length_m is not None and m1 == m2:
        pitch = meta.wavelength_m * meta.focal_length_m / (m1 * meta.pitch_m)
    peak = float(psf.max())
    logi = np.log10(np.maximum(psf / peak, 10**_PSF_FLOOR_LOG10)) if peak > 0 else psf * 0
    if pitch is None:
        extent = (-(m2 // 2) - 0.5, m2 - m2 // 2 - 0.5, -(m1 // 2) - 0.5, m1 - m1 // 2 - 0.5)
        xlabel, ylabel = "x (camera-plane samples)", "y (camera-plane samples)"
    else:
        s2, u2 = _length_axis(max(m1, m2) * pitch)
        extent = tuple(v * pitch * s2 for v in (-(m2 // 2) - 0.5, m2 - m2 // 2 - 0.5))
        extent += tuple(v * pitch * s2 for v in (-(m1 // 2) - 0.5, m1 - m1 // 2 - 0.5))
        xlabel, ylabel = f"x ({u2})", f"y ({u2})"
    img2 = ax2.imshow(
        logi,
        origin="lower",
        extent=extent,
        cmap="inferno",
        vmin=_PSF_FLOOR_LOG10,
        vmax=0,
        interpolation="nearest",
    )
    fig.colorbar(img2, ax=ax2, label="log10(I / I_max)")
    ax2.set_title("PSF (camera plane, log scale)", fontsize=9)
    ax2.set_xlabel(xlabel)
    ax2.set_ylabel(ylabel)
