"""The figures of the methods comparison (P and B1–B4) in the default setting.

Owns `fig_accuracy_vs_sigma` (accuracy vs σ_test, one panel per ADC bit depth, with the
equivalence threshold), `fig_accuracy_vs_bits` (accuracy vs ADC bits at σ_test = 0.5 and
1.0 LSB) and `fig_heatmap` (P's accuracy per σ_train × σ_test, equivalent cells starred).
Each draws from the `Selection` only, and says in its note which run would produce it when the
table lacks its data.
"""

from __future__ import annotations

import numpy as np

from mixsig.eval import EQUIVALENT_PP

from ..selection import Selection, chosen_text, method_label
from ..table import is_close, ordered_methods, sorted_columns
from .canvas import ReportFigure, method_style, new_figure, to_png


def fig_accuracy_vs_sigma(sel: Selection) -> ReportFigure:
    f = ReportFigure(
        "accuracy_vs_sigma.png",
        "Accuracy vs test noise",
        "Line chart: test accuracy against the test noise σ_test in LSB, one line per "
        "training method, one panel per ADC bit depth",
    )
    if sel.shown is None:
        f.note = (
            'No rows of tag "methods" (digital models, no distortion): the methods comparison '
            "(P and B1–B4 over σ_test, e.g. `mixsig compare`) produces this figure."
        )
        return f
    sh = sel.shown
    bits_list = sorted(int(b) for b in sh.adc_bits.unique())
    fig, axes = new_figure(len(bits_list), (4.4, 3.6))
    for ax, bits in zip(axes, bits_list):
        b = sh[sh.adc_bits == bits]
        for i, method in enumerate(ordered_methods(b.method)):
            x, y, e = sorted_columns(
                b[b.method == method], "sigma_test_lsb", "mean", "std_over_seeds"
            )
            ax.errorbar(
                x, y, yerr=e, label=method_label(sel, method, [bits]), **method_style(method, i)
            )
        p = b[b.method == "P"]
        if not p.empty:
            thr = p.noise_free_quantized_accuracy.mean() - EQUIVALENT_PP / 100
            ax.axhline(thr, ls="--", color="0.5", lw=1, label="P noise-free − 0.5 pp")
        ax.set(xlabel="σ_test (LSB of the ADC)", ylabel="test accuracy", title=f"{bits}-bit ADC")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    f.png = to_png(fig)
    f.caption = (
        f'Test accuracy vs test noise σ_test for {sel.model} on {sel.data} (tag "methods", '
        "no distortion), one panel per ADC bit depth, one line per method; points: mean over "
        "seeds of the per-seed mean over noise draws; error bars: std over seeds; dashed grey: "
        "P's noise-free quantized accuracy − 0.5 pp, the equivalence threshold." + chosen_text(sel)
    )
    return f


def fig_accuracy_vs_bits(sel: Selection) -> ReportFigure:
    f = ReportFigure(
        "accuracy_vs_bits.png",
        "Accuracy vs ADC bits",
        "Line chart: test accuracy against the ADC bit depth at a fixed test noise, one line "
        "per training method",
    )
    if sel.shown is None:
        f.note = (
            'No rows of tag "methods": the methods comparison at several ADC bit depths '
            "produces this figure."
        )
        return f
    sh = sel.shown
    bits_all = sorted(int(b) for b in sh.adc_bits.unique())
    if len(bits_all) < 2:
        f.note = (
            f"Only one ADC bit depth ({bits_all[0]} bits) in the methods comparison: running "
            "it at several adc_bits (e.g. 2, 3, 4) produces this figure."
        )
        return f
    sigmas = [s for s in (0.5, 1.0) if is_close(sh.sigma_test_lsb, s).any()]
    if not sigmas:
        f.note = (
            "σ_test = 0.5 and 1.0 LSB were not tested: the methods comparison evaluated at "
            "those σ_test produces this figure."
        )
        return f
    fig, axes = new_figure(len(sigmas), (4.6, 3.6))
    for ax, sig in zip(axes, sigmas):
        a = sh[is_close(sh.sigma_test_lsb, sig)]
        for i, method in enumerate(ordered_methods(a.method)):
            x, y, e = sorted_columns(a[a.method == method], "adc_bits", "mean", "std_over_seeds")
            ax.errorbar(x, y, yerr=e, label=method_label(sel, method, x), **method_style(method, i))
        ax.set(
            xlabel="ADC resolution (bits)", ylabel="test accuracy", title=f"σ_test = {sig:g} LSB"
        )
        ax.set_xticks(bits_all)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    f.png = to_png(fig)
    f.caption = (
        f"Test accuracy vs ADC resolution for {sel.model} on {sel.data}, at σ_test = "
        + " and ".join(f"{s:g}" for s in sigmas)
        + " LSB (one panel each); points: mean over seeds; error bars: std over seeds."
        + chosen_text(sel)
    )
    return f


def fig_heatmap(sel: Selection) -> ReportFigure:
    f = ReportFigure(
        "sigma_train_heatmap.png",
        "P: training noise vs test noise",
        "Heat map: accuracy of method P for each training noise σ_train (rows) and test "
        "noise σ_test (columns), one panel per ADC bit depth, cells annotated with the value",
    )
    p = None if sel.all_rows is None else sel.all_rows[sel.all_rows.method == "P"]
    bits_ok = (
        []
        if p is None
        else sorted(int(b) for b, g in p.groupby("adc_bits") if g.sigma_train_lsb.nunique() >= 2)
    )
    if not bits_ok:
        f.note = (
            "No bit depth with P trained at two or more σ_train values: a P sweep over "
            'sigma_train_lsb (tag "methods") produces this figure.'
        )
        return f
    extra = len(bits_ok) - 6
    bits_ok = bits_ok[:6]
    pb = p[p.adc_bits.isin(bits_ok)]
    vmin, vmax = float(pb["mean"].min()), float(pb["mean"].max())
    if vmax - vmin < 1e-6:
        vmin, vmax = vmin - 0.005, vmax + 0.005
    fig, axes = new_figure(len(bits_ok), (4.6, 3.8))
    im = None
    for ax, bits in zip(axes, bits_ok):
        g = pb[pb.adc_bits == bits]
        sts = sorted(g.sigma_train_lsb.unique())
        sigs = sorted(g.sigma_test_lsb.unique())
        grid = np.full((len(sts), len(sigs)), np.nan)
        eq = np.zeros_like(grid, dtype=bool)
        for r in g.itertuples():
            i, j = sts.index(r.sigma_train_lsb), sigs.index(r.sigma_test_lsb)
            grid[i, j], eq[i, j] = r.mean, r.equivalent
        im = ax.imshow(
            np.ma.masked_invalid(grid),
            vmin=vmin,
            vmax=vmax,
            cmap="viridis",
            aspect="auto",
            origin="lower",
        )
        mid = (vmin + vmax) / 2
        for i in range(len(sts)):
            for j in range(len(sigs)):
                val = grid[i, j]
                text = "—" if np.isnan(val) else f"{val:.3f}{'*' if eq[i, j] else ''}"
                color = "black" if not np.isnan(val) and val > mid else "white"
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color=color)
        ax.set_xticks(range(len(sigs)), [f"{x:g}" for x in sigs])
        ax.set_yticks(range(len(sts)), [f"{x:g}" for x in sts])
        ax.set(xlabel="σ_test (LSB)", ylabel="σ_train (LSB)", title=f"P, {bits}-bit ADC")
    fig.colorbar(im, ax=list(axes), label="test accuracy (mean over seeds)", shrink=0.9)
    f.png = to_png(fig)
    f.caption = (
        f"Method P on {sel.model} / {sel.data}: test accuracy (mean over seeds) for each "
        "training noise σ_train (rows) and test noise σ_test (columns), one panel per ADC bit "
        "depth with ≥ 2 σ_train values; * marks equivalent cells (within 0.5 pp of the "
        "noise-free quantized network)."
        + (f" {extra} further bit depth(s) are in the summary table only." if extra > 0 else "")
    )
    return f
