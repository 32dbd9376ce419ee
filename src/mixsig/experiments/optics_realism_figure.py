"""The table and the figure of the optics-realism study (`mixsig.experiments.optics_realism`).

Owns how a study result (its ``arms``: per σ_test the mean and std over seeds) is shown: the
arms' labels, `markdown_table` and `figure` (accuracy against σ_test, error bars the std over
seeds, with a footer naming the command, date and hardware).
"""

from __future__ import annotations

from pathlib import Path

from mixsig.experiments._errorbars import save_png

ARMS = (
    "idealised_on_idealised",
    "idealised_on_device",
    "idealised_on_device_bn",
    "realistic_on_device",
    "physics_aware_on_device",
)
LABELS = {
    "idealised_on_idealised": "idealised, on the idealised layer (what the designer believed)",
    "idealised_on_device": "idealised, deployed (ADC re-calibrated on the device)",
    "idealised_on_device_bn": "idealised, deployed (ADC and batch norm re-calibrated)",
    "realistic_on_device": "trained on the realistic layer from the start",
    "physics_aware_on_device": "idealised + physics-aware training on the device",
}


def markdown_table(result: dict) -> str:
    """The table: one row per arm, one column per σ_test, mean ± std over seeds."""
    sig = result["sigma_test_lsb"]
    head = "| network | " + " | ".join(f"σ_test = {s:g} LSB" for s in sig) + " |\n"
    head += "|---|" + "---|" * len(sig) + "\n"
    body = ""
    for arm in ARMS:
        r = result["arms"][arm]
        cells = " | ".join(f"{m:.4f} ± {d:.4f}" for m, d in zip(r["mean"], r["std"]))
        body += f"| {LABELS[arm]} | {cells} |\n"
    return head + body


def figure(result: dict, out: str | Path, *, footer: str = "") -> Path:
    """Accuracy against σ_test for each arm, error bars the std over seeds (a PNG); ``footer``:
    lines under the plot (command, date, hardware)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 6.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = result["sigma_test_lsb"]
    styles = ("o--", "s-", "v-", "D-", "^-")
    for i, (arm, style) in enumerate(zip(ARMS, styles)):
        r = result["arms"][arm]
        xs = [v + 0.012 * (i - 2) for v in x]  # side by side, so the error bars do not hide
        ax.errorbar(xs, r["mean"], yerr=r["std"], fmt=style, capsize=3, label=LABELS[arm])
    ax.set_xticks(list(x))
    ax.set_xlabel("camera read noise at test σ_test (LSB of the 4-bit camera)")
    ax.set_ylabel("test accuracy")
    ax.set_title(
        f"optical CNN on {result['data']} ({result['n_train']} train / {result['n_test']} test);"
        f"\nrealistic device: pixelated DOE, source 532 nm, FWHM 30 nm; mean ± std over "
        f"{len(result['seeds'])} seed(s) × {result['draws']} draws",
        fontsize=8,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13))
    return save_png(fig, out, footer=footer)


__all__ = ["ARMS", "LABELS", "figure", "markdown_table"]
