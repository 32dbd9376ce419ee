"""The page index.html: one self-contained HTML file, readable offline.

Owns `page_html` — the verdict, the headline table, the figures inline as base64 PNG (or the
note naming the run that would produce a missing one), the calibration section, the parts of
the table the report has no figure for and the full summary table, with inline CSS, no script
and no external link; every text from the table is HTML-escaped; with several data sets
(`mixsig.experiments.report.sections`) a table of their verdicts side by side, then verdict,
headline and figures once per data set — and `calibration_section` (a `mixsig calibrate`
report folder as a section of the page).
"""

from __future__ import annotations

import base64
import datetime
import html
import importlib.metadata
from pathlib import Path
from typing import Any

import pandas as pd

from mixsig.eval import EQUIVALENT_DEFINITION

from .figures import ReportFigure
from .sections import Section
from .selection import Selection
from .summary_tables import SUMMARY_HEADER, summary_cells
from .table import KNOWN_TAGS, REFERENCE_NOTE

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd}
pre{background:#f5f5f5;padding:.6em;overflow-x:auto;white-space:pre-wrap}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}
figure{margin:1.2em 0}img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#444}.note{color:#8a5a00;font-style:italic}
.definition{background:#eef5ff;padding:.5em}footer{margin-top:3em;font-size:.8em;color:#666}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _version() -> str:
    try:
        return importlib.metadata.version("mixsig")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def page_html(
    title: str,
    command: str,
    sections: list[Section],
    s: pd.DataFrame,
    notes: list[str],
    source: str,
    n_rows: int,
    calibration: list[str] | None = None,
) -> str:
    """The page, section by section: the head; for one data set its verdict, headline,
    figures, calibration and other settings; for several, the data sets side by side, then
    per data set its verdict, headline, figures and other settings, then the calibration;
    last the other tags and all results."""
    parts = _head(title, command, s, source, n_rows)
    definition = _definition(notes)
    if len(sections) > 1:
        parts += _side_by_side(sections) + definition
    for sec in sections:
        parts += _verdict_section(sec.verdict, sec.data)
        if len(sections) == 1:
            parts += definition
        parts += _headline_section(sec.sel, sec.headline, sec.data)
        parts += _figures_section(sec.figures, sec.data)
        if len(sections) == 1:
            parts += calibration or []
        parts += _other_settings_section(sec.sel)
    if len(sections) > 1:
        parts += calibration or []
    parts += _other_tags_sections(s)
    parts += _all_results_and_footer(s)
    return "\n".join(parts) + "\n"


def _of(data: str | None) -> str:
    """The suffix of a section's headings: "" for the whole table, " — <data set>" else."""
    return "" if data is None else f" — {_e(data)}"


def _head(title: str, command: str, s: pd.DataFrame, source: str, n_rows: int) -> list[str]:
    return [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p>Built from the results table <code>{_e(source)}</code> ({n_rows} rows, "
        f"{len(s)} groups) without retraining, by:</p>",
        f"<pre>{_e(command)}</pre>",
    ]


def _verdict_section(v: dict, data: str | None) -> list[str]:
    return [
        f"<h2>Verdict{_of(data)}</h2><ul>",
        *(f"<li>{_e(x)}</li>" for x in v["sentences"]),
        "</ul>",
    ]


def _definition(notes: list[str]) -> list[str]:
    """What "equivalent" means and against which reference, then the notes on the table."""
    parts = [
        f'<p class="definition"><strong>Definition</strong> — {_e(EQUIVALENT_DEFINITION)}. '
        f"{_e(REFERENCE_NOTE)}</p>"
    ]
    return parts + [f'<p class="note">{_e(n)}</p>' for n in notes]


def _side_by_side(sections: list[Section]) -> list[str]:
    """The data sets side by side: the verdict's answers, one row per data set."""
    header = ["data set", "P equivalent up to, 4-bit ADC (LSB)", "fewest bits at 0.5 LSB"]
    header += ["P − B1 at 4 bits, 1 LSB (pp)", "realistic distortion, P (pp)"]
    rows = []
    for sec in sections:
        v = sec.verdict
        reach = v.get("max_equivalent_sigma", {}).get(4)
        gap = v.get("p_minus_b1_pp", {}).get(4, {})
        real = [e for e in v.get("distortion", []) if e["kind"] == "realistic"]
        rows.append(
            [
                str(sec.data),
                "—" if 4 not in v.get("max_equivalent_sigma", {}) else _num(reach, "g"),
                _num(v.get("fewest_bits_equivalent_at_0.5"), "d"),
                _num(next((pp for sig, pp in gap.items() if abs(sig - 1.0) < 1e-9), None), "+.1f"),
                _num(real[0]["diff_pp"] if real else None, "+.2f"),
            ]
        )
    return [
        "<h2>Data sets side by side</h2>",
        "<p>Each data set's verdict (its own sections follow); — where the table has no such "
        "run, or P is never equivalent.</p>",
        _html_table(header, rows),
    ]


def _num(x: float | int | None, fmt: str) -> str:
    return "—" if x is None else format(x, fmt)


def _headline_section(sel: Selection, headline: list, data: str | None = None) -> list[str]:
    parts = [f"<h2>Headline{_of(data)}</h2>"]
    if headline:
        parts.append(
            f"<p>{_e(sel.model)} on {_e(sel.data)}, tag “methods”, no distortion; cells: mean "
            "over seeds ± std over seeds.</p>"
        )
        for bits, header, rows in headline:
            parts += [f"<h3>{bits}-bit ADC</h3>", _html_table(header, rows)]
    else:
        parts.append(
            '<p class="note">No rows of tag “methods” (digital, no distortion): the methods '
            "comparison (P and B1–B4) produces the headline table.</p>"
        )
    return parts


def _figures_section(figures: list[ReportFigure], data: str | None = None) -> list[str]:
    parts = [f"<h2>Figures{_of(data)}</h2>"]
    for f in figures:
        parts.append(f"<h3>{_e(f.title)}</h3>")
        if f.png is None:
            parts.append(f'<p class="note">Not drawn: {_e(f.note)}</p>')
            continue
        b64 = base64.b64encode(f.png).decode("ascii")
        parts.append(
            f'<figure><img src="data:image/png;base64,{b64}" alt="{_e(f.alt)}">'
            f"<figcaption><strong>{_e(f.file)}</strong> — {_e(f.caption)}</figcaption></figure>"
        )
    return parts


def _other_settings_section(sel: Selection) -> list[str]:
    if not sel.other_settings:
        return []
    return [
        "<h2>Other settings of the methods comparison</h2>",
        "<p>Also in the table (tag “methods”), only in the summary below: "
        + "; ".join(f"{_e(m)} on {_e(d)}" for m, d in sel.other_settings)
        + ".</p>",
    ]


def _other_tags_sections(s: pd.DataFrame) -> list[str]:
    parts: list[str] = []
    for tag in sorted(t for t in s.tag.unique() if t not in KNOWN_TAGS):
        sub = s[s.tag == tag]
        parts += [
            f"<h2>Tag “{_e(tag)}”</h2>",
            f"<p>{len(sub)} groups of a part of the experiment this report has no figure for.</p>",
            _html_table(SUMMARY_HEADER, summary_cells(sub)),
        ]
    return parts


def _all_results_and_footer(s: pd.DataFrame) -> list[str]:
    return [
        "<h2>All results</h2>",
        f"<details><summary>Full summary table ({len(s)} groups)</summary>",
        _html_table(SUMMARY_HEADER, summary_cells(s)),
        "</details>",
        f"<footer>mixsig {_e(_version())} · built "
        f"{_e(datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))} · "
        "files next to this page: summary.csv, summary.md, headline.md, verdict.json and the "
        "figures as PNG</footer>",
        "</body></html>",
    ]


def calibration_section(folder: Path) -> list[str]:
    """HTML of a `mixsig calibrate` report folder: its parameters (report.md) and each fit's
    figure, embedded. A folder without report.md is refused by name."""
    md = folder / "report.md"
    if not md.is_file():
        raise ValueError(
            f"{folder} is not a calibration report: expected report.md and the fit figures "
            "(*.png) there, as `mixsig calibrate` writes them (<out stem>_report/)"
        )
    parts = [
        "<h2>Calibration</h2>",
        f"<p>Fits of the camera chain from measured frames (<code>{_e(folder)}</code>); "
        "parameters ± standard errors:</p>",
        f"<pre>{_e(md.read_text())}</pre>",
    ]
    for png in sorted(folder.glob("*.png")):
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        name = png.stem.replace("_", " ")
        parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="calibration fit: {_e(name)}">'
            f"<figcaption><strong>{_e(png.name)}</strong> — {_e(name)}: data vs fit and "
            "residuals.</figcaption></figure>"
        )
    return parts
