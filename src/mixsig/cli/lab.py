"""Commands for the lab: `calibrate` (the chain from measured frames) and `check-config`."""

from __future__ import annotations

from pathlib import Path

import typer

from mixsig.cli._errors import explained
from mixsig.cli.app import app


@app.command("calibrate")
@explained
def calibrate_cmd(
    folder: Path = typer.Argument(..., help="measurement folder (darks/, flats/, ptc/, ...)"),
    out: Path = typer.Option(..., help="hardware YAML to write (maps and report beside it)"),
    adc_bits: int = typer.Option(..., "--adc-bits", min=1, max=16, help="ADC bits to model"),
    camera_bits: int | None = typer.Option(None, "--camera-bits", min=1, max=16),
    transfer: str = typer.Option("auto", help="auto, gamma, polynomial, lut or none"),
    maps: str = typer.Option(
        "measured",
        help="measured: the YAML names the measured PRNU/DSNU maps and crosstalk kernel "
        "(an optical layer crops the sensor maps to its tiles); statistics: their stds only",
    ),
) -> None:
    """Fit the signal chain from measured frames and write a hardware YAML for `mixsig train`.

    The folder layout (each part optional) is documented in mixsig.calib.report: darks/,
    flats/, ptc/levels.csv, exposure/levels.csv, impulse/, registration/. The measured maps go
    to <out stem>.maps.npz beside the YAML, which names them (keep the two together).

    Example: mixsig calibrate lab/camera1 --out configs/camera1.yaml --adc-bits 4
    """
    from mixsig.calib import CalibrationError, calibrate_folder

    if transfer not in ("auto", "gamma", "polynomial", "lut", "none"):
        typer.echo("error: --transfer must be auto, gamma, polynomial, lut or none", err=True)
        raise typer.Exit(2)
    if maps not in ("measured", "statistics"):
        typer.echo("error: --maps must be measured or statistics", err=True)
        raise typer.Exit(2)
    try:
        _, report = calibrate_folder(
            folder,
            out,
            adc_bits=adc_bits,
            camera_bits=camera_bits,
            transfer=transfer,
            maps=maps,  # type: ignore[arg-type]
        )
    except CalibrationError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(report.markdown_path.read_text())
    typer.echo(f"wrote {out} and the report {report.markdown_path}")


@app.command("check-config")
@explained
def check_config(
    path: Path = typer.Argument(..., help="a hardware YAML, a run config or a sweep spec"),
    kind: str = typer.Option(
        "auto",
        help="hardware, run or sweep; auto: told from the keys (a sweep has base/runs/grid, "
        "a hardware config only its sections, a run config the fields of a run)",
    ),
) -> None:
    """Validate a hardware YAML (and the measured-maps files it names), a run config (and its
    hardware) or a sweep spec (every expanded run): every field, every maps file, and that
    each chain maps its input range to finite values; print it with every default filled in.

    Examples:

      mixsig check-config configs/optical_camera.yaml

      mixsig check-config configs/runs/p_4bit.yaml

      mixsig check-config configs/sweeps/bits.yaml
    """
    import yaml

    from mixsig.experiments.sweep import load_sweep
    from mixsig.train.config import check_config_file

    if kind not in ("auto", "hardware", "run", "sweep"):
        raise typer.BadParameter(
            f"must be auto, hardware, run or sweep, got {kind!r}", param_hint="--kind"
        )
    found, cfg = check_config_file(path, None if kind == "auto" else kind, load_sweep=load_sweep)
    if found == "sweep":
        spec, runs = cfg
        typer.echo(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
        typer.echo(f"# sweep {spec.name}: {len(runs)} valid runs")
        return
    typer.echo(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
