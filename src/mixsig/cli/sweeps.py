"""Many runs at once: `reproduce` (the main job), `sweep` (any grid, on Dask) and `report`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from mixsig.cli._device import checked_device, device_option
from mixsig.cli._errors import explained
from mixsig.cli.app import app
from mixsig.experiments.plans import DATA_SETS, PLANS

DataSet = Enum("DataSet", [(name, name) for name in DATA_SETS], type=str)
Plan = Enum("Plan", [(name, name) for name in PLANS], type=str)


@app.command()
@explained
def reproduce(
    out: Path = typer.Option(Path("runs/reproduce"), help="folder of the runs and the report"),
    data: list[DataSet] = typer.Option(
        [DataSet("bundled-mnist")],
        "--data",
        help="data set; repeat it for several, side by side in one report",
    ),
    root: Path = typer.Option(
        Path("data"), help="folder holding mnist/ and fashion-mnist/ (what `make data` fills)"
    ),
    plan: Plan | None = typer.Option(
        None, help="standard (the default; about 90 min on 2 cores on a full set), quick or full"
    ),
    quick: bool = typer.Option(False, "--quick", help="the same as --plan quick"),
    seeds: int = typer.Option(3, min=1, max=100, help="training seeds per configuration"),
    draws: int = typer.Option(20, min=1, max=10_000, help="Monte-Carlo draws per sigma_test"),
    scheduler: str | None = typer.Option(
        None, help="dask scheduler address; 'inline' runs in this process; default: local cluster"
    ),
    workers: int = typer.Option(2, min=1, help="workers of the local cluster"),
    mnist: Path | None = typer.Option(
        None, help="folder of the full MNIST: adds the optical CNN next to Chang et al. on it"
    ),
    cifar10: Path | None = typer.Option(None, help="folder of CIFAR-10 (binary version)"),
    progress: bool = typer.Option(True, help="progress bar"),
    device: str | None = device_option(),
) -> None:
    """Reproduce the paper's claim and go past it, on the bundled MNIST digits (default) or the
    full MNIST / Fashion-MNIST: P and B1-B4 across ADC bits and sigma_train, distortions, the
    optical CNN; then the report (figures, tables, verdict, one HTML page; one section per
    data set) in OUT/report. Resumable: run it again.

    Examples:

      mixsig reproduce --quick --out runs/reproduce-quick     # what `make demo` runs

      mixsig reproduce --data mnist --out runs/mnist           # full MNIST, about 90 min on 2 cores

      mixsig reproduce --data mnist --data fashion-mnist --plan full --scheduler tcp://head:8786

      mixsig reproduce --cifar10 /data/cifar10 --mnist /data/mnist   # + optical vs Chang et al.
    """
    from mixsig.experiments.reproduce import reproduce as run

    if quick and plan not in (None, Plan("quick")):
        raise typer.BadParameter(
            f"--quick is --plan quick; got --plan {plan.value} too", param_hint="--quick"
        )
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
        device=checked_device(device),
        data=[d.value for d in data],
        plan_name=None if plan is None else plan.value,
        root=root,
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
    device: str | None = device_option(),
) -> None:
    """Run a grid or list of training runs on Dask; each run is keyed by the hash of its
    config, finished runs are skipped, interrupted ones resumed; results go to one tidy
    table OUT/results.csv.

    Examples:

      mixsig sweep configs/sweeps/bits.yaml

      mixsig sweep configs/sweeps/bits.yaml --scheduler tcp://10.0.0.5:8786
    """
    from mixsig.experiments.sweep import load_sweep, on_device, run_sweep

    spec, runs = load_sweep(config)
    runs = on_device(runs, checked_device(device))
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
