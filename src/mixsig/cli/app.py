"""The Typer application every command module registers with (`mixsig.cli.main` assembles it)."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="mixsig: train mixed-signal (analog/optical) neural networks that survive few-level "
    "ADCs, noise and distortion.",
    no_args_is_help=True,
    add_completion=False,
)
