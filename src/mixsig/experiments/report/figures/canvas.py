"""What the report's figures share: the Agg canvas, the PNG bytes, the style of each method.

Owns `ReportFigure` (one figure of the report: file name, title, alt text, and either the PNG
with its caption or the note saying why it is not drawn), `new_figure` (a constrained-layout
grid of panels on an explicit Agg canvas, so no pyplot state and no display is involved),
`to_png` (at `DPI`) and `method_style` (one colour and marker per training method).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

DPI = 120
_COLORS = {"P": "tab:blue", "B1": "tab:orange", "B2": "tab:green", "B3": "tab:red"}
_COLORS["B4"] = "tab:purple"
_MARKERS = {"P": "o", "B1": "s", "B2": "^", "B3": "v", "B4": "D"}


def new_figure(n: int, size: tuple[float, float], ncols_max: int = 3):
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # the Agg backend, explicitly
    from matplotlib.figure import Figure

    ncols = min(n, ncols_max)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def to_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def method_style(method: str, i: int = 0) -> dict:
    return {
        "color": _COLORS.get(method, f"C{(5 + i) % 10}"),
        "marker": _MARKERS.get(method, "x"),
        "capsize": 3,
        "lw": 1.5,
        "ms": 5,
    }


@dataclass
class ReportFigure:
    file: str
    title: str
    alt: str
    caption: str = ""
    png: bytes | None = None
    note: str = ""
