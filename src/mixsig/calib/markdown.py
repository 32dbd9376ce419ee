"""The Markdown report of `calibrate_folder`: every fit's parameters ± standard errors.

``report.md`` in the report folder: the measurements, the dark level and full scale, one
section per fit (in the order the fits ran, with its confidence, its parameter table, notes on
the linear domain and the figure), the hardware written, what was not calibrated and why, the
warnings, and how the measured maps are applied.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mixsig.calib.fits import Param

if TYPE_CHECKING:
    from mixsig.calib.outcome import CalibrationReport

__all__ = ["markdown"]


def _fmt(x: float) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.6g}"


def _table(params: list[Param]) -> list[str]:
    lines = ["| parameter | value | ± std. error | unit |", "|---|---|---|---|"]
    for p in params:
        lines.append(f"| {p.name} | {_fmt(p.value)} | {_fmt(p.stderr)} | {p.unit} |")
    return lines


_TITLES = {
    "ptc": "Photon transfer curve (conversion gain, read noise, full well)",
    "fixed_pattern": "Fixed pattern (PRNU / DSNU)",
    "transfer_gamma": "Transfer curve: gamma",
    "transfer_polynomial": "Transfer curve: polynomial",
    "transfer_lut": "Transfer curve: monotone LUT",
    "crosstalk": "Crosstalk (impulse response)",
    "misregistration": "Misregistration",
}

_FIGURE_OF = {
    "ptc": "ptc",
    "fixed_pattern": "fixed_pattern",
    "transfer_gamma": "transfer",
    "transfer_polynomial": "transfer",
    "transfer_lut": "transfer",
    "crosstalk": "crosstalk",
    "misregistration": "misregistration",
}


def _linearised(fit: Any) -> bool:
    return bool(getattr(fit, "linearised", False))


def _header(r: CalibrationReport, folder: Path, adc_bits: int, tol: float) -> list[str]:
    """The title, the measurements and units, and the transfer curve chosen."""
    lsb_dn = r.full_scale_dn / (2**adc_bits - 1)
    lines = [
        "# Camera calibration report",
        "",
        f"- measurements: `{folder}`",
        f"- hardware YAML: `{r.yaml_path}` (load with `mixsig.load_hardware`)",
        f"- measured maps: `{r.maps_path}`" if r.maps_path else "- measured maps: none",
        f"- dark level: {_fmt(r.dark_dn)} DN",
        f"- full scale: {_fmt(r.full_scale_dn)} DN above dark ({r.full_scale_source})",
        f"- ADC: {adc_bits} bits over [0, 1] signal units; 1 LSB = {_fmt(lsb_dn)} DN",
        "- signal units: x = (DN − dark_dn) / full_scale_dn; uncertainties are 1-sigma "
        "standard errors",
        "",
    ]
    if r.transfer_choice:
        lines += [
            f"Transfer curve in the hardware: **{r.transfer_choice}** (auto picks the first of "
            f"gamma, polynomial, LUT with max residual ≤ {tol:g} of full scale).",
            "",
        ]
    return lines


def _fit_section(r: CalibrationReport, key: str, f: Any, adc_bits: int) -> list[str]:
    """One fit: confidence, parameters, notes (linear domain, read noise in LSB), figure."""
    lines = [f"## {_TITLES.get(key, key)}", "", f"Confidence: {f.confidence}.", ""]
    lines += _table(f.parameters())
    if key == "ptc" and f.linearised:
        lines += [
            "",
            f"Fitted through the **{r.transfer_choice}** transfer curve f: var = "
            "f′(x)²·full_scale·x/K + read², x = f⁻¹(mean/full_scale), so K and the full "
            "well in electrons refer to the linear signal (mixsig adds shot noise before "
            "the transfer curve).",
        ]
    if key in ("fixed_pattern", "crosstalk") and _linearised(f):
        lines += [
            "",
            f"Fitted in the linear domain, through the **{r.transfer_choice}** transfer "
            "curve f: frames mapped to full_scale·f⁻¹((DN − dark)/full_scale), as mixsig's "
            "chain applies "
            + (
                "the gain g and offset o before f (o = f⁻¹(offset_dn/full_scale); "
                "dsnu_std_dn and offset_dn are the dark frames as measured, in DN)."
                if key == "fixed_pattern"
                else "crosstalk to the light, before f."
            ),
        ]
    if key == "ptc" and math.isfinite(r.full_scale_dn):
        lsb = f.read_noise_lsb(full_scale_dn=r.full_scale_dn, adc_bits=adc_bits)
        lsb_se = f.read_noise_dn_stderr * (2**adc_bits - 1) / r.full_scale_dn
        lines += [
            "",
            f"Read noise in LSB of the {adc_bits}-bit ADC: {_fmt(lsb)} ± {_fmt(lsb_se)}; "
            f"shot noise: {_fmt(f.conversion_gain_e_per_dn * r.full_scale_dn)} electrons "
            "per unit of signal (K · full_scale_dn).",
        ]
    fig = r.figures.get(_FIGURE_OF.get(key, key))
    if fig is not None:
        lines += ["", f"![{key}]({fig.name})"]
    lines.append("")
    return lines


def _footer(r: CalibrationReport) -> list[str]:
    """The hardware written, what was not calibrated, the warnings, how to apply the maps."""
    import yaml

    lines = ["## Hardware written", "", "```yaml"]
    lines += [yaml.safe_dump(r.hardware.model_dump(mode="json"), sort_keys=False).rstrip(), "```"]
    if r.skipped:
        lines += ["", "## Not calibrated", ""]
        lines += [f"- {k}: {v}" for k, v in r.skipped.items()]
    if r.warnings:
        lines += ["", "## Warnings", ""]
        lines += [f"- {w}" for w in r.warnings]
    lines += [
        "",
        "## Applying the measured maps",
        "",
        (
            "The YAML's `gain_offset` and `crosstalk` entries name the measured maps file: an "
            "`OpticalConv2d` read by this camera crops the sensor maps to its channels' tiles "
            "(optical axis on the sensor's centre pixel unless `sensor_axis_px` is set) and "
            "uses the measured crosstalk kernel."
            if any(getattr(d, "maps", None) for d in r.hardware.distortion)
            else "The YAML's `gain_offset` entry holds only the stds of the maps (mixsig then "
            "draws a statistically equal device). To use the measured device itself, "
            "calibrate with maps='measured' (the default), or crop the maps by hand: "
            "`gain, offset = tile_maps(load_maps(path), origins, tile_shape)`, then "
            "`GainOffset.set_(gain=gain, offset=offset)` (y = x·(1 + g) + o·full_scale)."
        ),
        "",
    ]
    return lines


def markdown(r: CalibrationReport, folder: Path, adc_bits: int, tol: float) -> str:
    """The text of ``report.md`` for the report ``r`` of a calibration of ``folder``."""
    lines = _header(r, folder, adc_bits, tol)
    for key, f in r.fits.items():
        lines += _fit_section(r, key, f, adc_bits)
    lines += _footer(r)
    return "\n".join(lines)
