"""Many runs at once: `reproduce` (the main job), `sweep` (any grid, on Dask) and `report`."""

from __future__ import annotations

from pathlib import Path

import typer

from mixsig.cli._errors import explained
from mixsig.cli.app import app


@app.command()
@explained
def reproduce(
    out: Path = typer.Option(Path("runs/reproduce"), help="folder of the runs and the report"),
    quick: bool = typer.Option(False, "--quick", help="4-bit answer in under 10 minutes"),
    seeds: int = typer.Option(3, min=1, max=100, help="training seeds per configuration"),
    draws: int = typer.Option(20, min=1, max=10_000, help="Monte-Carlo draws per sigma_test"),
    scheduler: str | None = typer.Option(
        None, help="dask scheduler address; 'inline' runs in this process; default: local cluster"
    ),
    workers: int = typer.Option(2, min=1, help="workers of the local cluster"),
    mnist: Path | None = typer.Option(None, help="folder of the full MNIST (IDX files)"),
    cifar10: Path | None = typer.Option(None, help="folder of CIFAR-10 (binary version)"),
    progress: bool = typer.Option(True, help="progress bar"),
) -> None:
    """Reproduce the paper's claim on the bundled MNIST digits and go past it: P and B1-B4
    across ADC bits and sigma_train, distortions, the optical CNN; then the report
    (figures, tables, verdict, one HTML page) in OUT/report. Resumable: run it again.

    Examples:

      mixsig reproduce --quick --out runs/reproduce-quick     # what `make demo` runs

      mixsig reproduce --out runs/reproduce --scheduler tcp://10.0.0.5:8786

      mixsig reproduce --cifar10 /data/cifar10 --mnist /data/mnist   # + optical vs Chang et al.
    """
    from mixsig.experiments.reproduce import reproduce as run

    local = {k: str(v) for k, v in (("mnist", mnist), ("cifar10", cifar10)) if v is not None}
    run(
        out,
        quick=quick,
        seeds=seeds,
        draws=draws,
        scheduler=scheduler,
        workers=workers,
        local=local,
        progress=progress,
        echo=typer.echo,
    )


@app.command()
@explained
def sweep(
    config: Path = typer.Argument(..., help="sweep spec (YAML: base, runs, grid)"),
    out: Path | None = typer.Option(None, help="sweep folder (default: runs/<name>)"),
    scheduler: str | None = typer.Option(
        None, help="dask scheduler address; 'inline' runs in this process; default: local cluster"
    ),
    workers: int = typer.Option(2, min=1, help="workers of the local cluster"),
    retries: int = typer.Option(2, min=0, help="retries of a run whose worker died"),
    progress: bool = typer.Option(True, help="progress bar"),
) -> None:
    """Run a grid or list of training runs on Dask; each run is keyed by the hash of its
    config, finished runs are skipped, interrupted ones resumed; results go to one tidy
    table OUT/results.csv.

    Examples:

      mixsig sweep configs/sweeps/bits.yaml

      mixsig sweep configs/sweeps/bits.yaml --scheduler tcp://10.0.0.5:8786
    """
    from mixsig.experiments.sweep import load_sweep, run_sweep

    spec, runs = load_sweep(config)
    table = run_sweep(
        runs,
        out or Path("runs") / spec.name,
        scheduler=scheduler,
        workers=workers,
        retries=retries,
        progress=progress,
        echo=typer.echo,
    )
    typer.echo(f"table: {table}")


@app.command()
@explained
def report(
    table: Path = typer.Argument(..., help="tidy results table (results.csv of a sweep)"),
    out: Path = typer.Option(..., help="report folder"),
    title: str = typer.Option("mixsig reproduction", help="title of the page"),
    calibration: Path | None = typer.Option(
        None,
        help="report folder of `mixsig calibrate --out <stem>.yaml` (<stem>_report/): adds "
        "its fits",
    ),
) -> None:
    """Build the report (figures, CSV/Markdown tables, verdict, self-contained HTML) from a
    stored results table, without retraining.

    Examples:

      mixsig report runs/reproduce/results.csv --out runs/reproduce/report

      mixsig report runs/lab/results.csv --out runs/lab/report --calibration configs/camera1_report
    """
    from mixsig.experiments.report import build_report

    cmd = f"mixsig report {table} --out {out}"
    if calibration is not None:
        cmd += f" --calibration {calibration}"
    try:
        index = build_report(table, out, title=title, command=cmd, calibration=calibration)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"report: {index}")
