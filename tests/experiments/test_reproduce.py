"""The reproduction plan answers the issue's questions, and the sweep/report commands work
from the command line (a tiny inline sweep, then the report rebuilt from its stored table)."""

from pathlib import Path

import pytest
import yaml
from helpers import REPO
from typer.testing import CliRunner

from mixsig.cli.main import app
from mixsig.experiments.reproduce import (
    FULL_BITS,
    FULL_SIGMA_TRAIN,
    SIGMA_TEST,
    describe_plan,
    plan,
)
from mixsig.experiments.sweep import SweepConfig, expand

runner = CliRunner()


def _runs(quick: bool, seeds: int = 3):
    return expand(SweepConfig.model_validate(plan(quick, seeds=seeds)), Path.cwd())


def test_the_full_plan_covers_bits_sigma_train_methods_seeds_and_draws():
    runs = _runs(quick=False)
    methods = [r for r in runs if r.tag == "methods"]
    got = {
        (r.config.method.name, r.config.hardware.adc.bits, r.config.sigma_train, r.config.seed)
        for r in methods
    }
    for bits in FULL_BITS:
        for seed in range(3):
            for m in ("B1", "B2", "B4"):
                assert (m, bits, 0.5, seed) in got  # their σ_train is unused (no noise)
            for m in ("P", "B3"):
                for st in FULL_SIGMA_TRAIN:
                    assert (m, bits, st, seed) in got
    for r in runs:
        assert r.config.eval.draws >= 20
        assert r.config.eval.sigma_test_lsb == list(SIGMA_TEST)
        assert r.config.hardware.dac.bits == 4  # the ADC is what varies
    assert min(SIGMA_TEST) == 0.0 and max(SIGMA_TEST) == 2.0
    optical = [r for r in runs if r.tag == "optical"]
    assert {r.config.model.name for r in optical} == {"optical_cnn"}
    assert {r.config.hardware.adc.bits for r in optical} == {4}
    assert {r.config.model.optical.doe_levels for r in optical} == {16}
    dist = {(r.labels["distortion"], r.labels["distortion_strength"]) for r in runs if r.labels}
    assert {"gamma", "prnu", "crosstalk", "realistic", "none"} == {k for k, _ in dist}
    realistic = next(r for r in runs if r.labels.get("distortion") == "realistic")
    kinds = {d.kind: d for d in realistic.config.hardware.distortion}
    assert kinds["gamma"].gamma == 0.8 and kinds["gain_offset"].gain_std == 0.05
    assert kinds["crosstalk"].strength == 0.1


def test_the_quick_plan_answers_the_4_bit_question_with_every_method_and_three_seeds():
    runs = _runs(quick=True)
    at4 = {
        (r.config.method.name, r.config.seed)
        for r in runs
        if r.tag == "methods" and r.config.hardware.adc.bits == 4
    }
    assert at4 == {(m, s) for m in ("P", "B1", "B2", "B3", "B4") for s in range(3)}
    assert len({r.key for r in runs}) < 45  # shared runs are trained once


def test_the_plan_says_how_many_runs_train_and_what_they_share():
    # it used to say "47 runs" and run 41
    said = describe_plan(_runs(quick=True))
    assert said == (
        "41 runs (47 listed: 6 appear under two tags and run once), "
        "4 float pre-trainings shared among them"
    )


def test_sweep_then_report_from_the_command_line(tmp_path):
    spec = {
        "name": "cli",
        "base": {
            "data": {"name": "bundled-digits", "limit_train": 200, "limit_test": 100},
            "hardware": {
                "dac": {"calibration": "percentile"},
                "adc": {"calibration": "percentile"},
            },
            "pretrain": {"epochs": 1, "lr": 0.003},
            "aware": {"epochs": 1, "lr": 0.001},
            "calibration_batches": 1,
            "eval": {"draws": 2, "sigma_test_lsb": [0.0, 0.5]},
        },
        "runs": [{"tag": "methods", "method.name": m} for m in ("P", "B1", "B4")],
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "sw"
    args = ["sweep", str(path), "--out", str(out), "--scheduler", "inline", "--no-progress"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert (out / "results.csv").exists() and "3 done" in res.output
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "3 skipped" in res.output
    res = runner.invoke(app, ["report", str(out / "results.csv"), "--out", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "rep" / "index.html").read_text()
    assert "data:image/png;base64," in html and "equivalent" in html


def test_sweep_and_report_refuse_bad_input_with_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"base": {}, "grid": {"hardware.adc.bits": [40]}}))
    res = runner.invoke(app, ["sweep", str(bad), "--scheduler", "inline"])
    assert res.exit_code == 2 and "hardware.adc.bits" in res.output
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    res = runner.invoke(app, ["report", str(empty), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "empty.csv" in res.output


def test_local_data_sets_add_the_optical_cnn_next_to_chang_et_al_and_it_runs(tmp_path):
    """--cifar10 adds the optical CNN (grey images, 9 × 9 kernels) and a digital reference;
    the optical run works end to end on a small CIFAR-10 binary folder."""
    from helpers.data import write_cifar

    from mixsig.train import run_training

    write_cifar(tmp_path / "cifar")
    runs = expand(
        SweepConfig.model_validate(plan(True, seeds=1, local={"cifar10": str(tmp_path / "cifar")})),
        Path.cwd(),
    )
    local = [r for r in runs if r.tag == "optical-cifar10"]
    assert {(r.config.model.name, r.config.method.name) for r in local} == {
        ("optical_cnn", "P"),
        ("optical_cnn", "B1"),
        ("small_cnn", "P"),
    }
    assert all(r.config.data.grayscale and r.config.data.name == "cifar10" for r in local)
    opt = next(r for r in local if r.config.model.name == "optical_cnn")
    assert opt.config.model.optical.kernel_size == 9
    tiny = opt.config.model_copy(
        update={
            "data": opt.config.data.model_copy(update={"limit_train": 64, "limit_test": 32}),
            "pretrain": opt.config.pretrain.model_copy(update={"epochs": 1}),
            "aware": opt.config.aware.model_copy(update={"epochs": 1}),
            "model": opt.config.model.model_copy(
                update={"optical": opt.config.model.optical.model_copy(update={"out_channels": 2})}
            ),
            "eval": opt.config.eval.model_copy(update={"draws": 2, "sigma_test_lsb": [0.0, 0.5]}),
        }
    )
    res = run_training(tiny, tmp_path / "run", progress=False, echo=lambda s: None)
    assert res["data"].startswith("cifar10") and len(res["results"]) == 2
    with pytest.raises(ValueError, match="local data sets are"):
        plan(local={"imagenet": "/x"})


def test_the_shipped_sweep_specs_expand_into_valid_runs():
    from mixsig.experiments.sweep import load_sweep

    specs = sorted((REPO / "configs" / "sweeps").glob("*.yaml"))
    assert specs
    for path in specs:
        spec, runs = load_sweep(path)
        assert runs and len({r.key for r in runs}) == len(runs), path
