"""The figures of the calibration report: one PNG per fit, data vs fit and residuals.

`draw_figures` is the step of `calibrate_folder` that draws them into the report folder
(``transfer.png``, ``ptc.png``, ``fixed_pattern.png``, ``crosstalk.png``,
``misregistration.png``; whichever fits ran), with matplotlib's object API (no pyplot state)
at 80 dpi. Without matplotlib it draws nothing and says so in the warnings.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from mixsig._atomic import atomic_write_bytes
from mixsig.calib.fits import (
    CrosstalkFit,
    FixedPatternFit,
    MisregistrationFit,
    PTCFit,
    warp_bilinear,
)
from mixsig.calib.fits.crosstalk import _default_kernel
from mixsig.calib.pipeline import State

__all__ = ["draw_figures"]


def _figure(nrows: int, ncols: int, size: tuple[float, float]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)  # no layout engine: it costs more than the drawing itself
    axes = fig.subplots(nrows, ncols, squeeze=False)
    fig.subplots_adjust(left=0.12, right=0.95, bottom=0.1, top=0.93, wspace=0.35, hspace=0.35)
    return fig, axes


def _save_figure(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _plot_transfer(fits: dict[str, Any], chosen: str | None, path: Path) -> Path:
    fig, ax = _figure(2, 1, (6, 6))
    first = next(iter(fits.values()))
    l_fs = first.full_scale_level
    ax[0, 0].plot(first.levels / l_fs, first.response, "ko", ms=4, label="measured")
    u = np.linspace(0, max(1.0, float(first.levels.max() / l_fs)), 200)
    for name, f in fits.items():
        uu = f.levels / f.full_scale_level
        style = "-" if name == chosen else "--"
        ax[0, 0].plot(
            u, f.predict(u), style, label=f"{name}{' (chosen)' if name == chosen else ''}"
        )
        ax[1, 0].plot(uu, f.response - f.predict(uu), "o" + style, ms=3, label=name)
    ax[0, 0].plot([0, 1], [0, 1], ":", color="grey", label="identity")
    ax[0, 0].set(
        xlabel="u = level / full_scale_level",
        ylabel="v = response / full scale",
        title="transfer curve",
    )
    ax[0, 0].legend(fontsize=8)
    ax[1, 0].axhline(0, color="grey", lw=0.5)
    ax[1, 0].set(xlabel="u", ylabel="residual (of full scale)")
    return _save_figure(fig, path)


def _plot_ptc(f: PTCFit, path: Path) -> Path:
    fig, ax = _figure(2, 1, (6, 6))
    d = f.data
    ax[0, 0].plot(
        d.mean_dn[~f.used], d.variance_dn2[~f.used], "x", color="grey", label="not fitted"
    )
    ax[0, 0].plot(d.mean_dn[f.used], d.variance_dn2[f.used], "ko", ms=4, label="fitted")
    m = np.linspace(0, d.mean_dn.max(), 200)
    k = f.conversion_gain_e_per_dn
    ax[0, 0].plot(
        m,
        f.predicted_variance(m),
        label=f"K = {k:.4g} e-/DN, read = {f.read_noise_dn:.3g} DN"
        + (" (through the transfer curve)" if f.linearised else ""),
    )
    ax[0, 0].axvline(
        f.full_well_dn,
        ls=":",
        color="r",
        label=f"full well {f.full_well_dn:.4g} DN"
        + ("" if f.full_well_reached else " (lower bound)"),
    )
    ax[0, 0].set(
        xlabel="mean signal above dark (DN)",
        ylabel="temporal variance (DN²)",
        title="photon transfer curve",
    )
    ax[0, 0].legend(fontsize=8)
    pred = f.predicted_variance(d.mean_dn)
    ax[1, 0].plot(d.mean_dn[f.used], (d.variance_dn2 - pred)[f.used], "ko", ms=4)
    ax[1, 0].axhline(0, color="grey", lw=0.5)
    ax[1, 0].set(xlabel="mean signal above dark (DN)", ylabel="residual (DN²)")
    return _save_figure(fig, path)


def _plot_fixed_pattern(f: FixedPatternFit, path: Path) -> Path:
    fig, ax = _figure(2, 2, (8, 7))
    im = ax[0, 0].imshow(f.gain, cmap="RdBu_r")
    fig.colorbar(im, ax=ax[0, 0])
    ax[0, 0].set_title(f"PRNU gain g (std {f.prnu_std:.4g})")
    im = ax[0, 1].imshow(f.offset_dn, cmap="RdBu_r")
    fig.colorbar(im, ax=ax[0, 1])
    ax[0, 1].set_title(f"DSNU offset (DN, std {f.dsnu_std_dn:.4g})")
    ax[1, 0].hist(f.gain.ravel(), bins=60)
    ax[1, 0].set(xlabel="g", ylabel="pixels")
    ax[1, 1].hist(f.offset_dn.ravel(), bins=60)
    ax[1, 1].set(xlabel="offset (DN)", ylabel="pixels")
    return _save_figure(fig, path)


def _plot_crosstalk(f: CrosstalkFit, path: Path) -> Path:
    fig, ax = _figure(1, 3, (11, 3.6))
    model = _default_kernel(f.strength, f.kernel.shape)
    for a, img, title in (
        (ax[0, 0], f.kernel, f"measured kernel ({f.n_impulses} impulses)"),
        (ax[0, 1], model, f"3×3 model, strength {f.strength:.4g}"),
        (ax[0, 2], f.kernel - model, "residual (measured − model)"),
    ):
        im = a.imshow(img, cmap="viridis" if a is not ax[0, 2] else "RdBu_r")
        fig.colorbar(im, ax=a)
        a.set_title(title, fontsize=9)
    return _save_figure(fig, path)


def _plot_registration(
    intended: np.ndarray, recorded: np.ndarray, f: MisregistrationFit, path: Path
) -> Path:
    fig, ax = _figure(1, 3, (11, 3.6))
    model = f.gain * warp_bilinear(intended, f.shift_px, f.scale) + f.offset
    m = f.margin_px
    resid = (recorded - model)[m:-m, m:-m]
    dy, dx = f.shift_px
    for a, img, title in (
        (ax[0, 0], intended, "intended"),
        (ax[0, 1], recorded, f"recorded\nshift ({dy:.3f}, {dx:.3f}) px, scale {f.scale:.5f}"),
        (ax[0, 2], resid, "residual (recorded − fitted model)"),
    ):
        im = a.imshow(img, cmap="gray" if a is not ax[0, 2] else "RdBu_r")
        fig.colorbar(im, ax=a)
        a.set_title(title, fontsize=9)
    return _save_figure(fig, path)


def draw_figures(s: State) -> None:
    """One figure per fit into ``report_dir`` (``figures``), unless ``figures=False``."""
    if not s.opts.figures:
        return
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        s.warnings.append("matplotlib is not installed: no figures were drawn")
        return
    rdir: Path = s.report_dir  # type: ignore[assignment]  # set by make_report_dir
    figs = s.figures
    if s.transfer_fits:
        figs["transfer"] = _plot_transfer(s.transfer_fits, s.chosen, rdir / "transfer.png")
    if s.ptc is not None:
        figs["ptc"] = _plot_ptc(s.ptc, rdir / "ptc.png")
    if s.fixed is not None:
        figs["fixed_pattern"] = _plot_fixed_pattern(s.fixed, rdir / "fixed_pattern.png")
    if s.crosstalk is not None:
        figs["crosstalk"] = _plot_crosstalk(s.crosstalk, rdir / "crosstalk.png")
    if s.misreg is not None and s.reg_pair is not None:
        figs["misregistration"] = _plot_registration(
            *s.reg_pair, s.misreg, rdir / "misregistration.png"
        )
