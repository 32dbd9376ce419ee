"""The `mixsig` command line (Typer). Owns argument parsing and messages, nothing else."""

from __future__ import annotations

from pathlib import Path

import typer

from mixsig.cli._errors import explained, fail, finite, int_list

app = typer.Typer(
    help="mixsig: train mixed-signal (analog/optical) neural networks that survive few-level "
    "ADCs, noise and distortion.",
    no_args_is_help=True,
    add_completion=False,
)


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
) -> None:
    """Train (float pre-training, calibration, hardware-aware training) and evaluate one run.

    Examples:

      mixsig train configs/runs/p_4bit.yaml

      mixsig train configs/runs/p_4bit.yaml --resume      # after an interruption, even kill -9
    """
    from mixsig.train import run_training
    from mixsig.train.config import load_train_config

    cfg = load_train_config(config)
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
) -> None:
    """Monte-Carlo accuracy of a trained run on its test set at one noise level.

    Example: mixsig eval runs/p_4bit --sigma-lsb 1.0 --draws 20 --json p_1lsb.json
    """
    import json

    from mixsig._atomic import atomic_write_text
    from mixsig.eval import EQUIVALENT_DEFINITION, evaluate, is_equivalent
    from mixsig.signal import set_adc_bits
    from mixsig.train import load_trained

    finite(sigma_lsb, "--sigma-lsb")
    if json_path is not None and not json_path.parent.is_dir():
        raise typer.BadParameter(
            f"the folder of {json_path} does not exist; create it first", param_hint="--json"
        )
    model, cfg, data = load_trained(checkpoint, data_root=data_root)
    if bits is not None:
        set_adc_bits(model, bits)
    r = evaluate(model, data.x_test, data.y_test, sigma_lsb=sigma_lsb, draws=draws, seed=seed)
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
    methods: str = typer.Option("P,B1,B2,B3,B4", help="comma-separated methods"),
    seeds: str = typer.Option("0,1,2", help="comma-separated seeds"),
) -> None:
    """Train and evaluate several methods x seeds on one chain; write summary.csv/.md.

    Re-running skips finished runs and resumes interrupted ones.

    Example: mixsig compare configs/runs/p_4bit.yaml --out runs/compare_4bit
    """
    from mixsig.experiments import compare_methods
    from mixsig.train import METHODS
    from mixsig.train.config import load_train_config

    ms = [m.strip() for m in methods.split(",") if m.strip()]
    bad = [m for m in ms if m not in METHODS]
    if bad or not ms:
        typer.echo(f"error: --methods must be from {', '.join(METHODS)}, got {methods!r}", err=True)
        raise typer.Exit(2)
    seed_list = int_list(seeds, "--seeds")
    cfg = load_train_config(config)
    compare_methods(
        cfg, out, methods=ms, seeds=seed_list, echo=typer.echo, config_dir=config.parent
    )
    typer.echo((out / "summary.md").read_text())


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
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        typer.echo(f"  {k}: {statistics.fmean(vals):.4f} ± {sd:.4f}")


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
    from mixsig.experiments.sweep import SweepFailed

    local = {k: str(v) for k, v in (("mnist", mnist), ("cifar10", cifar10)) if v is not None}
    try:
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
    except SweepFailed as err:
        fail(str(err))


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
    from mixsig.experiments.sweep import SweepFailed, load_sweep, run_sweep

    spec, runs = load_sweep(config)
    try:
        table = run_sweep(
            runs,
            out or Path("runs") / spec.name,
            scheduler=scheduler,
            workers=workers,
            retries=retries,
            progress=progress,
            echo=typer.echo,
        )
    except SweepFailed as err:
        fail(str(err))
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


if __name__ == "__main__":
    app()
