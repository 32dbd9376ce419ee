"""The headline and summary tables: their cells, and the files headline.md and summary.md.

Owns `headline_tables` (per bit depth shown — 4 bits when run, else every one — one row per
method of the default setting, one column per σ_test, "mean ± std over seeds"), `headline_md`,
`SUMMARY_HEADER` and `summary_cells` (one row per group of the summary; the HTML page shows the
same cells) and `summary_md`.
"""

from __future__ import annotations

import pandas as pd

from mixsig.eval import EQUIVALENT_DEFINITION

from .selection import Selection, method_label
from .table import REFERENCE_NOTE, ordered_methods


def _cell(mean: float, std: float) -> str:
    return f"{mean:.3f} ± {std:.3f}"


def headline_tables(sel: Selection) -> list[tuple[int, list[str], list[list[str]]]]:
    """Per bit depth shown: the header (method, σ_test …) and one row per method."""
    if sel.shown is None:
        return []
    sh = sel.shown
    bits_all = sorted(int(b) for b in sh.adc_bits.unique())
    out = []
    for bits in [4] if 4 in bits_all else bits_all:
        b = sh[sh.adc_bits == bits]
        sigs = sorted(b.sigma_test_lsb.unique())
        header = ["method"] + [f"σ_test {x:g} LSB" for x in sigs]
        rows = []
        for method in ordered_methods(b.method):
            g = b[b.method == method].set_index("sigma_test_lsb")
            rows.append(
                [method_label(sel, method, [bits])]
                + [
                    _cell(g.loc[x, "mean"], g.loc[x, "std_over_seeds"]) if x in g.index else "—"
                    for x in sigs
                ]
            )
        out.append((bits, header, rows))
    return out


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    esc = lambda c: str(c).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
    return lines


def headline_md(sel: Selection, tables, title: str) -> str:
    lines = [f"# {title}: headline", ""]
    if not tables:
        lines.append('No rows of tag "methods" (digital, no distortion) in the table.')
        return "\n".join(lines) + "\n"
    lines += [
        f'{sel.model} on {sel.data}, tag "methods", no distortion. Cells: mean over seeds of '
        "the per-seed mean accuracy over noise draws ± std over seeds.",
        f"Definition — {EQUIVALENT_DEFINITION}.",
        "",
    ]
    for bits, header, rows in tables:
        lines += [f"## {bits}-bit ADC", ""] + _md_table(header, rows) + [""]
    return "\n".join(lines)


SUMMARY_HEADER = [
    "tag",
    "method",
    "model",
    "data",
    "bits",
    "σ_train",
    "σ_hw",
    "distortion",
    "strength",
    "σ_test",
    "seeds",
    "draws",
    "accuracy",
    "± seeds",
    "noise std",
    "noise-free quantized",
    "reference",
    "equivalent (seeds)",
    "equivalent",
]


def summary_cells(s: pd.DataFrame) -> list[list[str]]:
    return [
        [
            r.tag,
            r.method,
            r.model,
            r.data,
            str(r.adc_bits),
            f"{r.sigma_train_lsb:g}",
            f"{r.sigma_hw_lsb:g}",
            r.distortion,
            f"{r.distortion_strength:g}",
            f"{r.sigma_test_lsb:g}",
            str(r.seeds),
            str(r.draws),
            f"{r.mean:.4f}",
            f"{r.std_over_seeds:.4f}",
            f"{r.mean_std_over_draws:.4f}",
            f"{r.noise_free_quantized_accuracy:.4f}",
            f"{r.reference_accuracy:.4f}",
            r.equivalent_in_seeds,
            "yes" if r.equivalent else "no",
        ]
        for r in s.itertuples()
    ]


def summary_md(s: pd.DataFrame, title: str) -> str:
    lines = [
        f"# {title}: summary",
        "",
        "Accuracy: mean over seeds of the per-seed mean over noise draws; ± std over seeds; "
        "noise std: mean std over draws; σ in LSB of the ADC.",
        f"Definition — {EQUIVALENT_DEFINITION}. A group is equivalent when its mean accuracy is "
        "≥ its reference − 0.5 pp.",
        REFERENCE_NOTE,
        "",
    ]
    return "\n".join(lines + _md_table(SUMMARY_HEADER, summary_cells(s))) + "\n"
