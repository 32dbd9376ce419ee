"""The distortion figure: P's accuracy against the distortion strength, one line per kind.

Owns `fig_distortion`: the P rows of tag ``distortion`` of the setting with the most groups, at
the σ_test the verdict uses, next to the undistorted network with a ±1 pp band — the same rows
and reference as the distortion part of the verdict (`mixsig.experiments.report.verdicts`).
"""

from __future__ import annotations

import pandas as pd

from ..table import is_close, sorted_columns
from ..verdicts import distortion_settings, reference_sigma, undistorted
from .canvas import ReportFigure, new_figure, to_png


def fig_distortion(s: pd.DataFrame) -> ReportFigure:
    f = ReportFigure(
        "accuracy_vs_distortion.png",
        "Accuracy vs distortion strength",
        "Line chart: test accuracy of method P against the distortion strength, one line per "
        "distortion kind, with a horizontal line at the undistorted network",
    )
    settings = distortion_settings(s)
    if not settings:
        f.note = (
            'No P rows of tag "distortion": the distortion sweep (P trained and tested under '
            "gamma, PRNU, crosstalk at several strengths) produces this figure."
        )
        return f
    (model, data, bits, st), g = settings[0]
    sig = reference_sigma(g)
    at = g[is_close(g.sigma_test_lsb, sig)]
    ref = undistorted(at)
    kinds = sorted(k for k in at.distortion.unique() if k != "none")
    fig, axes = new_figure(1, (6.0, 4.0))
    ax = axes[0]
    for i, kind in enumerate(kinds):
        x, y, e = sorted_columns(
            at[at.distortion == kind], "distortion_strength", "mean", "std_over_seeds"
        )
        ax.errorbar(x, y, yerr=e, label=kind, color=f"C{i}", marker="o", capsize=3, ms=5)
    if not ref.empty:
        r = float(ref["mean"].mean())
        ax.axhline(r, color="black", ls="--", lw=1, label=f"undistorted ({r:.3f})")
        ax.axhspan(r - 0.01, r + 0.01, color="0.85", alpha=0.6, label="±1 pp", zorder=0)
    ax.set(
        xlabel="distortion strength (1 − γ; PRNU std; crosstalk fraction)",
        ylabel="test accuracy",
        title=f"P, {bits}-bit ADC, σ_test = {sig:g} LSB",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    f.png = to_png(fig)
    more = len(settings) - 1
    f.caption = (
        f"Method P on {model} / {data}, {bits}-bit ADC, σ_train {st:g} LSB, tested at σ_test = "
        f"{sig:g} LSB (the hardware's σ_hw, else 0.5 LSB): accuracy vs distortion strength, one "
        "line per kind; error bars: std over seeds; dashed: the undistorted network "
        + (
            "(distortion none, or strength 0) with a ±1 pp band."
            if not ref.empty
            else "— absent: no undistorted rows in this tag."
        )
        + (f" {more} further setting(s) are in the verdict and summary." if more else "")
    )
    return f
