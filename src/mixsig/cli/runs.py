"""Commands of one run and its comparisons: `train`, `eval`, `compare`."""

from __future__ import annotations

from pathlib import Path

import typer

from mixsig.cli._device import checked_device, device_option, with_device
from mixsig.cli._errors import explained, fail, finite, int_list
from mixsig.cli.app import app


@app.command()
@explained
def train(
    config: Path = typer.Argument(..., help="run config (YAML, see configs/runs/)"),
    out: Path | None = typer.Option(None, help="run folder (default: runs/<name>)"),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="continue the run in --out (only the evaluation if training is complete; starts "
        "it when there is no checkpoint yet)",
    ),
    progress: bool = typer.Option(True, help="progress bars"),
    device: str | None = device_option(),
) -> None:
    """Train (float pre-training, calibration, hardware-aware training) and evaluate one run.

    Examples:

      mixsig train configs/runs/p_4bit.yaml

      mixsig train configs/runs/p_4bit.yaml --resume      # after an interruption, even kill -9

      mixsig train configs/runs/p_4bit.yaml --device cuda:1
    """
    from mixsig.train import run_training
    from mixsig.train.config import load_train_config

    cfg = with_device(load_train_config(config), device)
    folder = out or Path("runs") / cfg.name
    try:
        run_training(
            cfg, folder, resume=resume, progress=progress, echo=typer.echo, config_dir=config.parent
        )
    except FileExistsError as err:  # a finished or foreign run folder (RunFolderError)
        fail(str(err))
    typer.echo(f"results: {folder / 'results.json'}")


@app.command("eval")
@explained
def eval_(
    checkpoint: Path = typer.Argument(..., help="a run folder or its checkpoint/ folder"),
    sigma_lsb: float = typer.Option(..., "--sigma-lsb", min=0.0, help="test noise, LSB"),
    bits: int | None = typer.Option(
        None, "--bits", min=1, max=16, help="ADC bits (default: the trained ones)"
    ),
    draws: int = typer.Option(20, "--draws", min=1, help="Monte-Carlo noise draws"),
    seed: int = typer.Option(0, help="seed of the noise draws"),
    json_path: Path | None = typer.Option(None, "--json", help="write the result as JSON"),
    data_root: Path | None = typer.Option(
        None, "--data-root", help="where the run's local data set (data.root) is now, if moved"
    ),
    device: str | None = device_option(),
    batchnorm_at_test_noise: bool = typer.Option(
        False,
        "--batchnorm-at-test-noise",
        help="re-estimate batch-norm statistics at --sigma-lsb first (the run's method.bn_batches "
        "training batches, 20 if 0): a deployment calibration with unlabelled images",
    ),
) -> None:
    """Monte-Carlo accuracy of a trained run on its test set at one noise level.

    Example: mixsig eval runs/p_4bit --sigma-lsb 1.0 --draws 20 --json p_1lsb.json
    """
    import json

    from mixsig._atomic import atomic_write_text
    from mixsig.eval import EQUIVALENT_DEFINITION, evaluate, is_equivalent
    from mixsig.signal import set_adc_bits
    from mixsig.train import load_trained
    from mixsig.train.deploy import TEST_NOISE_BN_BATCHES, at_test_noise

    finite(sigma_lsb, "--sigma-lsb")
    if json_path is not None and not json_path.parent.is_dir():
        raise typer.BadParameter(
            f"the folder of {json_path} does not exist; create it first", param_hint="--json"
        )
    model, cfg, data = load_trained(checkpoint, data_root=data_root, device=checked_device(device))
    if bits is not None:
        set_adc_bits(model, bits)
    tested = model
    if batchnorm_at_test_noise:
        batches = cfg.method.bn_batches or TEST_NOISE_BN_BATCHES
        tested = at_test_noise(model, sigma_lsb, data.x_train, cfg.batch_size, batches, seed)
    r = evaluate(tested, data.x_test, data.y_test, sigma_lsb=sigma_lsb, draws=draws, seed=seed)
    ref = evaluate(model, data.x_test, data.y_test, sigma_lsb=0.0, draws=1, seed=seed)
    eq = is_equivalent(r, ref)
    typer.echo(f"{cfg.name} ({cfg.method.name}) on {data.name}: {r}")
    typer.echo(f"noise-free quantized: {ref.mean:.4f}; equivalent: {'yes' if eq else 'no'}")
    typer.echo(f"({EQUIVALENT_DEFINITION})")
    if json_path is not None:
        payload = {
            "run": cfg.name,
            "method": cfg.method.name,
            "bits": bits,
            "batchnorm_at_test_noise": batchnorm_at_test_noise,
            **r.as_dict(),
            "noise_free_quantized_accuracy": ref.mean,
            "equivalent": eq,
            "definition": EQUIVALENT_DEFINITION,
        }
        atomic_write_text(json_path, json.dumps(payload, indent=1))


@app.command()
@explained
def compare(
    config: Path = typer.Argument(..., help="base run config (YAML)"),
    out: Path = typer.Option(..., help="folder for the runs and the summary tables"),
    methods: str | None = typer.Option(
        None, help="comma-separated methods (default: every one of mixsig.train.METHODS)"
    ),
    seeds: str = typer.Option("0,1,2", help="comma-separated seeds"),
    device: str | None = device_option(),
) -> None:
    """Train and evaluate several methods x seeds on one chain; write summary.csv/.md.

    Re-running skips finished runs and resumes interrupted ones.

    Example: mixsig compare configs/runs/p_4bit.yaml --out runs/compare_4bit
    """
    from mixsig.experiments import compare_methods
    from mixsig.train import METHODS
    from mixsig.train.config import load_train_config

    ms = list(METHODS) if methods is None else [m.strip() for m in methods.split(",") if m.strip()]
    bad = [m for m in ms if m not in METHODS]
    if bad or not ms:
        raise typer.BadParameter(
            f"must be from {', '.join(METHODS)}, got {methods!r}", param_hint="--methods"
        )
    seed_list = int_list(seeds, "--seeds")
    cfg = with_device(load_train_config(config), device)
    compare_methods(
        cfg, out, methods=ms, seeds=seed_list, echo=typer.echo, config_dir=config.parent
    )
    typer.echo((out / "summary.md").read_text())
