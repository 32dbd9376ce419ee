"""The table and the figure of the photon study (`mixsig.experiments.photons`).

Owns how a study result is shown: `markdown_table` (the references, then one row per
photons-per-MAC point, mean ± std over the runs, equivalent or not) and `figure` (accuracy
against detected photons per MAC on a log axis, the equivalence band under the better
reference, Wang et al.'s 3.1 photons per multiplication marked, a footer naming the command,
date and hardware).
"""

from __future__ import annotations

from pathlib import Path

from mixsig.eval import EQUIVALENT_PP
from mixsig.experiments._errorbars import save_png


def markdown_table(result: dict) -> str:
    """Rows: the noise-free and unlimited-light references, then each photons-per-MAC point."""
    s = result["summary"]
    n = s["noise_free"]["runs"]
    ref = s["reference"]

    def row(label: str, r: dict) -> str:
        ok = "yes" if r["mean"] >= ref - EQUIVALENT_PP / 100 else "no"
        return f"| {label} | {r['mean']:.4f} ± {r['std']:.4f} | {ok} |\n"

    out = f"| detected photons per MAC | accuracy (mean ± std over {n} run(s)) | equivalent |\n"
    out += "|---|---|---|\n"
    out += row("∞, no noise", s["noise_free"])
    out += row(f"∞, read noise {result['runs'][0]['read_noise_lsb']:g} LSB", s["unlimited_light"])
    for p in sorted(s["points"], key=lambda p: -p["photons_per_mac"]):
        out += row(f"{p['photons_per_mac']:g}", p)
    return out


def figure(result: dict, out: str | Path, *, footer: str = "") -> Path:
    """Accuracy against photons per MAC (log axis), error bars the std over runs (a PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    s = result["summary"]
    first = result["runs"][0]
    fig = Figure(figsize=(6.4, 4.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    pts = sorted(s["points"], key=lambda p: p["photons_per_mac"])
    x = [p["photons_per_mac"] for p in pts]
    ax.errorbar(
        x, [p["mean"] for p in pts], yerr=[p["std"] for p in pts], fmt="o-", capsize=3,
        label=f"optical CNN, read noise {first['read_noise_lsb']:g} LSB + shot noise",
    )  # fmt: skip
    ref = s["reference"]
    ax.axhline(s["noise_free"]["mean"], color="k", lw=0.8, label="no noise (σ_test = 0, no shot)")
    ax.axhline(s["unlimited_light"]["mean"], color="C2", ls=":", label="unlimited light")
    ax.axhspan(ref - EQUIVALENT_PP / 100, ref, color="0.85",
               label="equivalent: within 0.5 pp of the better reference")  # fmt: skip
    ax.axvline(s["wang_2022_photons_per_mac"], color="C3", ls="--",
               label="Wang et al. 2022: 99 % MNIST, optical MLP")  # fmt: skip
    best = s["fewest_equivalent_photons_per_mac"]
    if best is not None:
        ax.axvline(best, color="C1", ls="-.", label=f"fewest equivalent: {best:g} photons/MAC")
    ax.set_xscale("log")
    ax.set_xticks(x, [f"{v:g}" for v in x])  # the grid's own values, not powers of ten
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("detected photons per MAC")
    ax.set_ylabel("test accuracy")
    ax.set_title(
        f"{first['data']}: {first['macs_per_image']:,} optical MACs per image; mean ± std "
        f"over {s['noise_free']['runs']} run(s)",
        fontsize=9,
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    return save_png(fig, out, footer=footer)


__all__ = ["figure", "markdown_table"]
