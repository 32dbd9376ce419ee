"""Which rows the headline, the methods figures and the P verdict show: the default setting.

Owns `Selection` and `select_default`: among the rows of tag ``methods`` without distortion and
not of the optical CNN, the (model, data) setting with the most groups (the others stay in the
summary table only), and per (method, bits) the one σ_train shown (`choose_sigma_train`: the
one equal to the hardware's σ_hw when trained, else the one closest to 0.5 LSB) — and the words
for that choice in legends, table rows and captions (`method_label`, `chosen_text`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from .table import OPTICAL_MODEL, is_close, most_common, ordered_methods


@dataclass
class Selection:
    """The default setting of the methods comparison and the σ_train shown per method/bits."""

    model: str | None = None
    data: str | None = None
    all_rows: pd.DataFrame | None = None  # tag methods, digital, no distortion, this setting
    shown: pd.DataFrame | None = None  # one σ_train per (method, bits)
    chosen: dict[tuple[str, int], float] = field(default_factory=dict)
    several: set[str] = field(default_factory=set)  # methods with > 1 σ_train somewhere
    other_settings: list[tuple[str, str]] = field(default_factory=list)


def choose_sigma_train(g: pd.DataFrame) -> float:
    values = sorted(g.sigma_train_lsb.unique())
    if len(values) == 1:
        return float(values[0])
    hw = most_common(g.sigma_hw_lsb)
    for v in values:
        if is_close(v, hw):
            return float(v)
    return float(min(values, key=lambda v: (abs(v - 0.5), v)))


def select_default(s: pd.DataFrame) -> Selection:
    m = s[(s.tag == "methods") & (s.model != OPTICAL_MODEL) & (s.distortion == "none")]
    sel = Selection()
    if m.empty:
        return sel
    counts = m.groupby(["model", "data"]).size().reset_index(name="n")
    counts = counts.sort_values(["n", "model", "data"], ascending=[False, True, True])
    sel.model, sel.data = str(counts.model.iloc[0]), str(counts.data.iloc[0])
    sel.other_settings = [(str(a), str(b)) for a, b in zip(counts.model, counts.data)][1:]
    rows = m[(m.model == sel.model) & (m.data == sel.data)]
    sel.all_rows = rows
    keep = []
    for (method, bits), g in rows.groupby(["method", "adc_bits"]):
        st = choose_sigma_train(g)
        sel.chosen[str(method), int(bits)] = st
        if g.sigma_train_lsb.nunique() > 1:
            sel.several.add(str(method))
        keep.append(g[is_close(g.sigma_train_lsb, st)])
    sel.shown = pd.concat(keep)
    return sel


def method_label(sel: Selection, method: str, bits_list: Iterable[int]) -> str:
    if method not in sel.several:
        return method
    sts = sorted({sel.chosen[method, b] for b in bits_list if (method, b) in sel.chosen})
    return f"{method} (σ_train {'/'.join(f'{x:g}' for x in sts)} LSB)"


def chosen_text(sel: Selection) -> str:
    parts = []
    for method in ordered_methods(sel.several):
        per = {b: st for (m, b), st in sel.chosen.items() if m == method}
        if len(set(per.values())) == 1:
            parts.append(f"{method} at σ_train = {next(iter(per.values())):g} LSB")
        else:
            parts.append(
                f"{method} at σ_train = "
                + ", ".join(f"{st:g} LSB ({b} bits)" for b, st in sorted(per.items()))
            )
    if not parts:
        return ""
    return (
        " Shown: " + "; ".join(parts) + " (the σ_train equal to the hardware's σ_hw when "
        "trained, else the one closest to 0.5 LSB; all σ_train values are in the summary)."
    )
