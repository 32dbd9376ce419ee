"""One small figure shared by the experiments: lines of mean ± std over seeds, written
atomically as a PNG (matplotlib's Agg canvas, no display needed)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from mixsig._atomic import atomic_write_bytes

_STYLES = ("o--", "s-", "^-.", "d:")


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
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, buf.getvalue())
    return out
