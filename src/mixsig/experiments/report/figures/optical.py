"""The optical figure: the optical CNN next to the digital small CNN trained with P.

Owns `fig_optical`: for the rows of tag ``optical`` (undistorted when there are any), accuracy
vs σ_test per model and method, one panel per camera ADC bit depth, with the digital small CNN
with P at the same bits dashed (from tag ``optical``, else tag ``methods``).
"""

from __future__ import annotations

import pandas as pd

from ..selection import choose_sigma_train
from ..table import DIGITAL_REFERENCE_MODEL, is_close, method_sort_key, sorted_columns
from .canvas import ReportFigure, new_figure, to_png


def fig_optical(s: pd.DataFrame) -> ReportFigure:
    f = ReportFigure(
        "optical.png",
        "Optical CNN vs digital CNN",
        "Line chart: test accuracy against σ_test for the optical CNN next to the digital "
        "small CNN trained with method P, one panel per ADC bit depth",
    )
    opt = s[(s.tag == "optical") & (s.model != DIGITAL_REFERENCE_MODEL)]
    if opt.empty:
        f.note = (
            'No rows of tag "optical": the optical CNN runs (model optical_cnn, e.g. '
            "`mixsig train configs/runs/optical_p_4bit.yaml`) produce this figure."
        )
        return f
    if (opt.distortion == "none").any():
        opt = opt[opt.distortion == "none"]
    dig = s[(s.model == DIGITAL_REFERENCE_MODEL) & (s.method == "P") & (s.distortion == "none")]
    dig = dig[dig.tag == "optical"] if (dig.tag == "optical").any() else dig[dig.tag == "methods"]
    if dig.data.isin(opt.data.unique()).any():
        dig = dig[dig.data.isin(opt.data.unique())]
    bits_list = sorted(int(b) for b in opt.adc_bits.unique())
    fig, axes = new_figure(len(bits_list), (4.6, 3.6))
    missing_digital = []
    for ax, bits in zip(axes, bits_list):
        ob = opt[opt.adc_bits == bits]
        i = 0
        for (model, method), g in sorted(
            ob.groupby(["model", "method"]), key=lambda kg: (kg[0][0], method_sort_key(kg[0][1]))
        ):
            st = choose_sigma_train(g)
            x, y, e = sorted_columns(
                g[is_close(g.sigma_train_lsb, st)], "sigma_test_lsb", "mean", "std_over_seeds"
            )
            label = f"{model} {method}" + (f" (σ_train {st:g})" if st else "")
            ax.errorbar(x, y, yerr=e, label=label, color=f"C{i}", marker="o", capsize=3, ms=5)
            i += 1
        db = dig[dig.adc_bits == bits]
        if not db.empty:
            st = choose_sigma_train(db)
            x, y, e = sorted_columns(
                db[is_close(db.sigma_train_lsb, st)], "sigma_test_lsb", "mean", "std_over_seeds"
            )
            ax.errorbar(
                x,
                y,
                yerr=e,
                label=f"{DIGITAL_REFERENCE_MODEL} P (digital, σ_train {st:g})",
                color="black",
                ls="--",
                marker="s",
                capsize=3,
                ms=4,
            )
        else:
            missing_digital.append(bits)
        ax.set(
            xlabel="σ_test (LSB of the camera ADC)", ylabel="test accuracy", title=f"{bits}-bit ADC"
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    f.png = to_png(fig)
    f.caption = (
        'The optical CNN (tag "optical") next to the digital small CNN trained with P at the '
        "same ADC bits (dashed): test accuracy vs σ_test; error bars: std over seeds."
        + (
            f" No digital small_cnn P rows at {', '.join(map(str, missing_digital))} bits."
            if missing_digital
            else ""
        )
    )
    return f
