"""The studies: `demo`, `mismatch` (hidden device errors), `robustness` (calibration error),
`optics-realism` (what ignoring the pixelated DOE and the broadband source costs),
`photons` (accuracy against detected photons per MAC) and `energy` (accuracy against energy
per inference)."""

from __future__ import annotations

from pathlib import Path

import typer

from mixsig.cli._errors import explained, fail, float_list, int_list
from mixsig.cli.app import app


@app.command()
@explained
def demo(
    epochs: int = typer.Option(4, min=1, help="float training epochs"),
    aware_epochs: int = typer.Option(2, min=1, help="hardware-aware fine-tuning epochs"),
    draws: int = typer.Option(10, min=1, help="Monte-Carlo noise draws per evaluation"),
    seed: int = typer.Option(0, help="seed of data split, initialisation and noise"),
    progress: bool = typer.Option(True, help="progress bars"),
) -> None:
    """Train on the bundled MNIST digits; compare float-trained and hardware-aware networks
    on the analog chain (4-bit / 0.5 LSB and 3-bit / 1.0 LSB).

    Example: mixsig demo --draws 20
    """
    from mixsig.experiments import run_demo

    run_demo(
        float_epochs=epochs,
        aware_epochs=aware_epochs,
        draws=draws,
        seed=seed,
        progress=progress,
        echo=typer.echo,
    )


@app.command("mismatch")
@explained
def mismatch_cmd(
    seeds: str = typer.Option("0,1,2", help="comma-separated seeds"),
    draws: int = typer.Option(20, min=1, help="Monte-Carlo noise draws"),
    calibration: str = typer.Option(
        "exact",
        help="exact; realistic (misses the crosstalk, gamma off by 7 %); or measured (as "
        "realistic, with the PRNU map measured)",
    ),
    severity: str = typer.Option(
        "1",
        help="scale of the device's errors (PRNU 5 %·s, kernel mismatch 10 %·s, missed "
        "crosstalk 10 %·s); several, comma-separated, draw accuracy against s into --out",
    ),
    out: Path = typer.Option(
        Path("runs/mismatch/mismatch_severity.png"),
        help="figure (and .json) of a severity sweep",
    ),
) -> None:
    """A network trained in silico meets a device with hidden mismatches: compare it with
    calibration + retraining and with physics-aware training (forward on the device).

    Examples:

      mixsig mismatch --seeds 0,1,2

      mixsig mismatch --seeds 0,1,2 --calibration realistic

      mixsig mismatch --calibration realistic --severity 0.5,1,2,3 --out docs/mismatch_severity.png
    """
    import statistics

    from mixsig.experiments._spread import spread
    from mixsig.experiments.mismatch import CALIBRATIONS, run_mismatch_experiment, run_severity

    if calibration not in CALIBRATIONS:
        fail(f"--calibration must be one of {', '.join(CALIBRATIONS)}, got {calibration!r}")
    seed_list = int_list(seeds, "--seeds")
    try:
        levels = [float(s) for s in severity.split(",") if s.strip()]
    except ValueError:
        levels = []
    if not levels or not all(0 <= s <= 5 for s in levels):
        raise typer.BadParameter(
            f"must be comma-separated numbers in [0, 5], got {severity!r}", param_hint="--severity"
        )
    if len(levels) > 1:
        run_severity(
            levels, seeds=seed_list, calibration=calibration, draws=draws, out=out, echo=typer.echo
        )
        typer.echo(f"wrote {out} and {out.with_suffix('.json')}")
        return
    rows = [
        run_mismatch_experiment(
            seed=s, draws=draws, calibration=calibration, severity=levels[0], echo=typer.echo
        )
        for s in seed_list
    ]
    typer.echo(f"mean ± std over {len(rows)} seed(s), accuracy on the device:")
    for k in rows[0]:
        vals = [r[k] for r in rows]
        typer.echo(f"  {k}: {statistics.fmean(vals):.4f} ± {spread(vals):.4f}")


@app.command("robustness")
@explained
def robustness_cmd(
    out: Path = typer.Option(Path("runs/robustness/robustness_gamma.png"), help="figure to write"),
    randomize: float = typer.Option(0.3, min=0.0, max=0.99, help="training randomisation ±"),
    seeds: str = typer.Option("0,1,2", help="comma-separated seeds"),
) -> None:
    """Accuracy vs calibration error of the camera gamma: training with the calibrated value
    fixed vs randomised per batch within ±randomize (mean ± std over seeds).

    Example: mixsig robustness --out docs/robustness_gamma.png --seeds 0,1,2
    """
    from mixsig.experiments.robustness import run_robustness

    seed_list = int_list(seeds, "--seeds")
    run_robustness(randomize=randomize, seeds=seed_list, out=out, echo=typer.echo)
    typer.echo(f"wrote {out}")


@app.command("optics-realism")
@explained
def optics_realism_cmd(
    seeds: str = typer.Option("0,1,2", help="comma-separated seeds"),
    draws: int = typer.Option(20, help="Monte-Carlo noise draws per evaluation, 1-10000"),
    sigmas: str = typer.Option("0,0.5,1", help="comma-separated test noise levels (LSB)"),
    data: str = typer.Option("auto", help="auto (mnist when under --root), bundled-mnist, mnist"),
    root: Path = typer.Option(Path("data"), help="folder of the full data sets"),
    out: Path = typer.Option(Path("runs/optics-realism"), help="run folders and results"),
    limit_train: int = typer.Option(0, min=0, help="first N training images (0: all)"),
    limit_test: int = typer.Option(0, min=0, help="first N test images (0: all)"),
    epochs: int = typer.Option(3, min=0, help="pre-training epochs of each run"),
    aware_epochs: int = typer.Option(2, min=1, help="hardware-aware epochs of each run"),
    pat_epochs: int = typer.Option(2, help="physics-aware epochs on the device, 1-100"),
    figure: Path = typer.Option(None, help="the figure (default: OUT/optics_realism.png)"),
) -> None:
    """The optical CNN trained on the idealised layer (point-sampled DOE, one wavelength) and
    deployed on a realistic one (pixelated DOE, 30 nm-FWHM source at 532 nm), against one
    trained on the realistic layer and against physics-aware training on it. Re-running skips
    finished runs.

    Example: mixsig optics-realism --seeds 0,1,2 --draws 20 --out runs/optics-realism
    """
    from mixsig.cli._provenance import footer
    from mixsig.experiments.optics_realism import figure as draw
    from mixsig.experiments.optics_realism import run_optics_realism

    seed_list = int_list(seeds, "--seeds")
    levels = float_list(sigmas, "--sigmas")
    result = run_optics_realism(
        seeds=seed_list, draws=draws, sigmas=levels, data=data, root=root, out=out,
        limit_train=limit_train or None, limit_test=limit_test or None, pretrain_epochs=epochs,
        aware_epochs=aware_epochs, pat_epochs=pat_epochs, echo=typer.echo,
    )  # fmt: skip
    from mixsig.experiments.optics_realism import markdown_table

    typer.echo(f"{result['data']}, mean ± std over {len(seed_list)} seed(s) × {draws} draws:")
    typer.echo(markdown_table(result).rstrip())
    png = figure or out / "optics_realism.png"
    draw(result, png, footer=footer())
    typer.echo(f"wrote {png} and {out / 'optics_realism.json'}")


def _photon_grid(photons: str) -> list[float]:
    grid = float_list(photons, "--photons")
    if any(p <= 0 for p in grid):
        raise typer.BadParameter(f"must all be > 0, got {photons!r}", param_hint="--photons")
    return grid


def _write_study(out: Path, stem: str, result: dict, table: str, figure) -> None:
    """OUT/STEM.json, .md (``table``) and .png (``figure(result, path, footer=...)``)."""
    import json

    from mixsig._atomic import atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{stem}.json", json.dumps(result, indent=1) + "\n")
    atomic_write_text(out / f"{stem}.md", table)
    figure(result, out / f"{stem}.png", footer=result["command"])
    typer.echo(f"wrote {out / stem}.json, {stem}.md and {stem}.png")


def _study_runs(runs: list[Path] | None, sweep: Path | None, tag: str, data: str | None):
    """The run folders named, or those of ``tag`` (and ``data``) in the sweep folder."""
    if bool(runs) == (sweep is not None):
        fail("name trained run folders or --sweep DIR (with --tag), one of the two")
    if sweep is None:
        return runs
    from mixsig.experiments.sweep import runs_of

    return runs_of(sweep, tag, data)


@app.command("photons")
@explained
def photons_cmd(
    runs: list[Path] = typer.Argument(None, help="trained optical-CNN run folders (e.g. seeds)"),
    sweep: Path = typer.Option(None, help="or: a sweep folder, with --tag (and --data)"),
    tag: str = typer.Option("optical", help="with --sweep: the runs of this tag"),
    data: str = typer.Option(None, help="with --sweep: the runs of this data set"),
    photons: str = typer.Option(
        ",".join(f"{p:g}" for p in (0.03125, 0.0625, 0.125, 0.25, 0.5, 1, 2, 3.1, 4, 8, 16)),
        help="comma-separated detected photons per MAC",
    ),
    draws: int = typer.Option(10, min=1, max=10000, help="Monte-Carlo draws per point"),
    sigma_test: float = typer.Option(None, help="camera read noise (LSB; default: each run's own)"),
    data_root: Path = typer.Option(None, help="where the runs' data folder is now, if moved"),
    out: Path = typer.Option(Path("runs/photons"), help="folder of photons.json/.md/.png"),
) -> None:
    """Accuracy of a trained optical CNN against detected photons per MAC (shot noise,
    Poisson, on top of the camera's read noise), next to Wang et al. 2022 (3.1 photons per
    multiplication at 99 % MNIST).

    Examples: mixsig photons runs/optical/seed0 runs/optical/seed1 --draws 10 --out runs/photons;
    mixsig photons --sweep runs/mnist --tag optical --data mnist
    """
    from mixsig.cli._provenance import footer
    from mixsig.experiments.photons import run_photon_study
    from mixsig.experiments.photons_figure import figure, markdown_table

    grid = _photon_grid(photons)
    runs = _study_runs(runs, sweep, tag, data)
    result = run_photon_study(
        runs, grid, draws=draws, sigma_lsb=sigma_test, data_root=data_root, echo=typer.echo
    )
    result["command"] = footer()
    table = markdown_table(result)
    typer.echo(table.rstrip())
    best = result["summary"]["fewest_equivalent_photons_per_mac"]
    typer.echo(f"fewest photons per MAC at which it stays equivalent: {best}")
    net = result["runs"][0]["network"]
    typer.echo(
        f"per image: {net['optical_macs']:,} optical MACs, {net['digital_macs']:,} digital "
        f"({net['optical_share_of_macs']:.1%} optical); {net['digital_parameters']:,} digital "
        "parameters"
    )
    _write_study(out, "photons", result, table, figure)


@app.command("energy")
@explained
def energy_cmd(
    runs: list[Path] = typer.Argument(None, help="trained optical-CNN run folders (bits, seeds)"),
    sweep: Path = typer.Option(None, help="or: a sweep folder, with --tag (and --data)"),
    tag: str = typer.Option("energy", help="with --sweep: the runs of this tag"),
    data: str = typer.Option(None, help="with --sweep: the runs of this data set"),
    photons: str = typer.Option(
        "0.25,1,4,16", help="comma-separated detected photons per MAC (the exposures)"
    ),
    draws: int = typer.Option(10, min=1, max=10000, help="Monte-Carlo draws per point"),
    constants: Path = typer.Option(
        None, help="YAML of the energy constants (mixsig.config.energy.EnergyConfig fields)"
    ),
    data_root: Path = typer.Option(None, help="where the runs' data folder is now, if moved"),
    out: Path = typer.Option(Path("runs/energy"), help="folder of energy.json/.md/.png"),
) -> None:
    """Accuracy against energy per inference of trained optical CNNs across camera bits and
    exposure (camera conversions, modulator, digital back end, light), the Pareto front,
    and the same network computed all-digitally at 8 bits (docs/energy.md).

    Examples: mixsig energy runs/optical-2bit runs/optical-4bit --photons 0.5,2,8;
    mixsig energy --sweep runs/mnist --tag energy --data mnist --out runs/energy
    """
    from mixsig.cli._provenance import footer
    from mixsig.config.energy import EnergyConfig
    from mixsig.config.io import load_yaml
    from mixsig.experiments.energy_study import run_energy_study
    from mixsig.experiments.energy_study_figure import figure, markdown_table

    grid = _photon_grid(photons)
    cfg = load_yaml(constants, EnergyConfig) if constants is not None else EnergyConfig()
    runs = _study_runs(runs, sweep, tag, data)
    result = run_energy_study(
        runs, grid, draws=draws, constants=cfg, data_root=data_root, echo=typer.echo
    )
    result["command"] = footer()
    table = markdown_table(result)
    typer.echo(table.rstrip())
    _write_study(out, "energy", result, table, figure)
