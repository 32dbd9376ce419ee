"""The `mixsig` command line (Typer). Owns argument parsing and messages, nothing else."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="mixsig: train mixed-signal (analog/optical) neural networks that survive few-level "
    "ADCs, noise and distortion.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def demo(
    epochs: int = typer.Option(4, min=1, help="float training epochs"),
    aware_epochs: int = typer.Option(2, min=1, help="hardware-aware fine-tuning epochs"),
    draws: int = typer.Option(10, min=1, help="Monte-Carlo noise draws per evaluation"),
    seed: int = typer.Option(0, help="seed of data split, initialisation and noise"),
) -> None:
    """Train on the bundled MNIST digits; compare float-trained and hardware-aware networks
    on the analog chain (4-bit / 0.5 LSB and 3-bit / 1.0 LSB).

    Example: mixsig demo --draws 20
    """
    from mixsig.experiments import run_demo

    run_demo(
        float_epochs=epochs, aware_epochs=aware_epochs, draws=draws, seed=seed, echo=typer.echo
    )


@app.command("check-config")
def check_config(path: Path = typer.Argument(..., help="hardware YAML file")) -> None:
    """Validate a hardware YAML file and print it with every default filled in.

    Example: mixsig check-config configs/optical_camera.yaml
    """
    import yaml

    from mixsig.config import ConfigError, load_yaml

    try:
        hw = load_yaml(path)
    except ConfigError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from None
    typer.echo(yaml.safe_dump(hw.model_dump(mode="json"), sort_keys=False))


if __name__ == "__main__":
    app()
