"""The table and the figure of the energy study (`mixsig.experiments.energy_study`).

Owns how its result is shown: `markdown_table` (per camera bit depth and exposure: accuracy,
energy per inference and its parts, on the Pareto front or not; the all-digital 8-bit network
last) and `figure` (accuracy against energy per inference, log axis, one marker per camera bit
depth, the Pareto front as a line, the all-digital network as a star, a footer naming the
command, date and hardware).
"""

from __future__ import annotations

from pathlib import Path

from mixsig.experiments._errorbars import save_png


def _parts(run: dict, photons: float) -> dict:
    p = next(p for p in run["points"] if p["photons_per_mac"] == photons)
    return p["breakdown"]


def markdown_table(result: dict) -> str:
    """One row per (camera bits, photons per MAC), energies in nJ per inference."""
    s = result["summary"]
    runs = {r["camera_bits"]: r for r in result["runs"]}
    out = (
        "| camera bits | photons per MAC | accuracy (mean ± std over runs) | energy (nJ) "
        "| camera ADC | modulator | digital back end | light | Pareto |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    for p in s["points"]:
        b = _parts(runs[p["camera_bits"]], p["photons_per_mac"])  # a run of these bits
        out += (
            f"| {p['camera_bits']} | {p['photons_per_mac']:g} | {p['accuracy']:.4f} ± "
            f"{p['std']:.4f} | {p['energy_j'] * 1e9:.3f} | {b['adc_j'] * 1e9:.3f} | "
            f"{b['dac_j'] * 1e9:.3f} | {b['digital_j'] * 1e9:.3f} | "
            f"{b['optical_source_j'] * 1e9:.2e} | {'yes' if p['pareto'] else ''} |\n"
        )
    d = s["digital"]
    out += (
        f"| all-digital, {d['bits']}-bit (the {d['trained_with_camera_bits']}-bit network) | — | "
        f"{d['accuracy']:.4f} ± {d['std']:.4f} | "
        f"{d['energy_j'] * 1e9:.3f} | — | — | {d['energy_j'] * 1e9:.3f} | — | |\n"
    )
    return out


def figure(result: dict, out: str | Path, *, footer: str = "") -> Path:
    """Accuracy against energy per inference (a PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    s = result["summary"]
    fig = Figure(figsize=(6.4, 4.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for i, bits in enumerate(sorted({p["camera_bits"] for p in s["points"]})):
        pts = [p for p in s["points"] if p["camera_bits"] == bits]
        ax.errorbar(
            [p["energy_j"] * 1e9 for p in pts], [p["accuracy"] for p in pts],
            yerr=[p["std"] for p in pts], fmt="os^vD<>"[i % 7], capsize=2, ls="none",
            label=f"optical CNN, {bits}-bit camera (exposures)",
        )  # fmt: skip
    front = s["front"]
    ax.plot([p["energy_j"] * 1e9 for p in front], [p["accuracy"] for p in front], "k-", lw=0.8,
            label="Pareto front")  # fmt: skip
    d = s["digital"]
    label = f"the {d['trained_with_camera_bits']}-bit network, all-digital {d['bits']}-bit"
    ax.plot([d["energy_j"] * 1e9], [d["accuracy"]], "*", ms=12, color="C3", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("energy per inference (nJ)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{result['runs'][0]['data']}: accuracy against energy per inference", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    return save_png(fig, out, footer=footer)


__all__ = ["figure", "markdown_table"]
