"""The five figures of the report, each drawn only when the table holds its data.

Owns `FIGURES` (their file names, in the order of the page) and `draw_figures` (all five as
`ReportFigure` records: the PNG and its caption, or the note naming the run that would produce
a missing one). One module per family: `methods` (accuracy vs σ_test, accuracy vs ADC bits and
the σ_train × σ_test heat map of P, from the default setting), `distortion` and `optical` (from
the summary); `canvas` holds what they share.
"""

from __future__ import annotations

import pandas as pd

from ..selection import Selection
from .canvas import DPI, ReportFigure
from .distortion import fig_distortion
from .methods import fig_accuracy_vs_bits, fig_accuracy_vs_sigma, fig_heatmap
from .optical import fig_optical

FIGURES = (
    "accuracy_vs_sigma.png",
    "accuracy_vs_bits.png",
    "sigma_train_heatmap.png",
    "accuracy_vs_distortion.png",
    "optical.png",
)

__all__ = ["DPI", "FIGURES", "ReportFigure", "draw_figures"]


def draw_figures(s: pd.DataFrame, sel: Selection) -> list[ReportFigure]:
    """The figures of `FIGURES`, in that order, from the summary ``s`` and its selection."""
    return [
        fig_accuracy_vs_sigma(sel),
        fig_accuracy_vs_bits(sel),
        fig_heatmap(sel),
        fig_distortion(s),
        fig_optical(s),
    ]
