"""The report's parts per data set: `Section`, `sections` and `combined_verdict`.

Owns how the report is cut when the table holds the methods comparison (tag ``methods``,
digital, undistorted) on several data sets — the ``data`` column, e.g. the bundled digits, the
full MNIST and Fashion-MNIST side by side: one `Section` per data set, its selection, verdict,
figures and headline computed from that data set's rows alone (the data sets with the methods
comparison first, then any other, each group sorted by name). With one such data set or none,
one section holds the whole table, exactly as a report of one data set always was.
`combined_verdict` is verdict.json of several sections: their verdicts by data set, and their
sentences, each prefixed with its data set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from mixsig.eval import EQUIVALENT_DEFINITION, EQUIVALENT_PP

from .figures import ReportFigure, draw_figures
from .selection import Selection, select_default
from .summary_tables import headline_tables
from .table import OPTICAL_MODEL, REFERENCE_NOTE
from .verdicts import verdict_from_summary


@dataclass
class Section:
    """The verdict, headline and figures of one data set (``data`` None: the whole table)."""

    data: str | None
    sel: Selection
    verdict: dict
    figures: list[ReportFigure]
    headline: list
    folder: str = ""  # where its figures go, relative to the report folder: "" or "<name>/"


def _with_methods(s: pd.DataFrame) -> list[str]:
    """The data sets with the methods comparison (digital, undistorted), sorted by name."""
    m = s[(s.tag == "methods") & (s.model != OPTICAL_MODEL) & (s.distortion == "none")]
    return sorted(set(m.data))


def data_sets(s: pd.DataFrame) -> list[str]:
    """The data sets of the summary: those with the methods comparison first, then the others,
    each group sorted by name."""
    first = _with_methods(s)
    return first + sorted(set(s.data) - set(first))


def _folder(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip(".") or "data"


def _section(s: pd.DataFrame, data: str | None) -> Section:
    sel = select_default(s)
    folder = "" if data is None else _folder(data) + "/"
    figures = draw_figures(s, sel)
    for f in figures:
        f.file = folder + f.file
    return Section(data, sel, verdict_from_summary(s, sel), figures, headline_tables(sel), folder)


def sections(s: pd.DataFrame) -> list[Section]:
    """One section per data set when two or more have the methods comparison; else one."""
    if len(_with_methods(s)) < 2:
        return [_section(s, None)]
    return [_section(s[s.data == name], name) for name in data_sets(s)]


def combined_verdict(parts: list[Section]) -> dict:
    """verdict.json: the one section's verdict, or each data set's under ``data_sets`` with
    the sentences of all, each prefixed with ``[<data set>]``."""
    if len(parts) == 1:
        return parts[0].verdict
    return {
        "definition": EQUIVALENT_DEFINITION,
        "reference": REFERENCE_NOTE,
        "equivalent_pp": EQUIVALENT_PP,
        "data_sets": {p.data: p.verdict for p in parts},
        "sentences": [f"[{p.data}] {x}" for p in parts for x in p.verdict["sentences"]],
    }


__all__ = ["Section", "combined_verdict", "data_sets", "sections"]
