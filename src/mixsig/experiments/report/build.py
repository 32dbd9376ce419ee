"""The entry point: `build_report` runs table → verdict → figures → page into one folder.

Owns `build_report`: reads the table, summarises it, cuts it into sections (one per data set
when several hold the methods comparison, `sections`), selects each one's default setting,
draws the figures (removing a figure of an earlier build that this table has no data for),
writes summary.csv, summary.md, headline.md, verdict.json (`_jsonable`: NaN and numpy scalars
made JSON-safe) and index.html — every file atomically (`mixsig._atomic`). A section of one
data set puts its figures in the sub-folder named after it (``mnist/accuracy_vs_sigma.png``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mixsig._atomic import atomic_write_bytes, atomic_write_text

from .figures import FIGURES
from .page import calibration_section, page_html
from .sections import Section, combined_verdict, sections
from .summary_tables import headline_md, summary_md
from .table import GROUP_KEYS, read_table, summarise


def build_report(
    table: str | Path,
    out: str | Path,
    *,
    title: str = "mixsig reproduction",
    command: str | None = None,
    calibration: str | Path | None = None,
) -> Path:
    """Read the tidy table (CSV), write figures (PNG), tables (CSV + Markdown), verdict and one
    self-contained HTML page ``index.html`` into ``out``; return the path of index.html.

    ``calibration``: the report folder of `mixsig calibrate` (``<stem>_report/``: one PNG per
    fit and ``report.md``); its fits join the page as a "Calibration" section."""
    cal = None if calibration is None else calibration_section(Path(calibration))
    df = read_table(table)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    s = summarise(df)
    parts = sections(s)
    notes = []
    dup = df.duplicated(list(GROUP_KEYS) + ["seed"])
    if dup.any():
        notes.append(
            f"{int(dup.sum())} row(s) repeat a (group, seed) of another row — runs differing "
            "in a setting the table does not record? They are averaged as separate seeds."
        )
    _write_figures(parts, out)
    atomic_write_text(out / "summary.csv", s.to_csv(index=False))
    atomic_write_text(out / "summary.md", summary_md(s, title))
    headline = "\n".join(
        headline_md(p.sel, p.headline, title if p.data is None else f"{title} — {p.data}")
        for p in parts
    )
    atomic_write_text(out / "headline.md", headline)
    v = combined_verdict(parts)
    atomic_write_text(out / "verdict.json", json.dumps(_jsonable(v), indent=2, allow_nan=False))
    if command is None:
        command = (
            'python -c "from mixsig.experiments.report import build_report; '
            f'build_report({str(table)!r}, {str(out)!r})"'
        )
    page = page_html(title, command, parts, s, notes, Path(table).name, len(df), cal)
    index = out / "index.html"
    atomic_write_text(index, page)
    return index


def _write_figures(parts: list[Section], out: Path) -> None:
    """Each section's figures (in ``out`` or its data set's sub-folder); a figure of an
    earlier build that this table has no data for is removed, as is, when the report is cut
    by data set, a figure of the whole table in ``out`` itself."""
    for p in parts:
        (out / p.folder).mkdir(parents=True, exist_ok=True)
        for f in p.figures:
            if f.png is not None:
                atomic_write_bytes(out / f.file, f.png)
            else:  # a figure of an earlier build from another table would mislead
                (out / f.file).unlink(missing_ok=True)
    if len(parts) > 1:
        for name in FIGURES:
            (out / name).unlink(missing_ok=True)


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(val) for k, val in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(i) for i in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if hasattr(x, "item"):  # numpy scalars
        return _jsonable(x.item())
    return x
