"""The figures' common ends: `save_png` (a footer naming the command, date and hardware, then
the PNG written atomically) and one small figure shared by the experiments, `errorbar_png`
(lines of mean ± std over seeds); matplotlib's Agg canvas, no display needed."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from mixsig._atomic import atomic_write_bytes

_STYLES = ("o--", "s-", "^-.", "d:")


def save_png(fig, out: str | Path, *, footer: str = "") -> Path:
    """Lay out ``fig`` (with ``footer``, small, under the plot) and write it to ``out``."""
    if footer:
        fig.text(0.01, 0.01, footer, fontsize=6, color="0.35", va="bottom")
    fig.tight_layout(rect=(0, 0.05 if footer else 0, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, buf.getvalue())
    return out


def errorbar_png(
    x: Sequence[float],
    lines: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    out: Path,
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    xticks: Sequence[float] | None = None,
) -> Path:
    """Write ``lines`` ({label: (means, stds)} over ``x``) as error-bar lines to ``out``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for (label, (means, stds)), style in zip(lines.items(), _STYLES * 4):
        ax.errorbar(list(x), list(means), yerr=list(stds), fmt=style, capsize=3, label=label)
    if xticks is not None:
        ax.set_xticks(list(xticks))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(fig, out)
