"""Bad input at the command line ends with one line naming the option, field or file and exit
status 2 — never a traceback — and demo-like commands never write into the repository."""

import numpy as np
import pytest
import typer
import yaml
from helpers import REPO
from typer.testing import CliRunner

from mixsig.cli.main import app

runner = CliRunner()
CONFIGS = REPO / "configs"

TINY = {
    "name": "tiny",
    "data": {"name": "bundled-mnist", "limit_train": 200, "limit_test": 100},
    "method": {"name": "P", "sigma_train_lsb": 0.5},
    "pretrain": {"epochs": 1, "lr": 0.01},
    "aware": {"epochs": 1, "lr": 0.003},
    "eval": {"draws": 2, "sigma_test_lsb": [0.5]},
}


def _invoke(*args: str):
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res


def _write(path, data) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_eval_refuses_a_noise_that_is_not_finite(tmp_path, value):
    res = _invoke("eval", tmp_path, "--sigma-lsb", value)
    assert res.exit_code == 2 and "--sigma-lsb" in res.output


def test_eval_refuses_a_json_path_in_a_missing_folder_before_evaluating(tmp_path):
    res = _invoke("eval", tmp_path, "--sigma-lsb", "0.5", "--json", tmp_path / "nodir" / "x.json")
    assert res.exit_code == 2 and "--json" in res.output and "nodir" in res.output


def test_eval_of_a_folder_without_a_run_names_it(tmp_path):
    res = _invoke("eval", tmp_path / "nothing", "--sigma-lsb", "0.5")
    assert res.exit_code == 2 and "nothing" in res.output


@pytest.mark.parametrize("seeds", ["a,b", "", "1,x"])
def test_compare_names_a_bad_seed_list(tmp_path, seeds):
    cfg = _write(tmp_path / "run.yaml", TINY)
    res = _invoke("compare", cfg, "--out", tmp_path / "out", "--seeds", seeds)
    assert res.exit_code == 2 and "--seeds" in res.output


def test_compare_with_a_missing_hardware_yaml_names_it(tmp_path):
    cfg = _write(tmp_path / "run.yaml", {**TINY, "hardware": "missing_camera.yaml"})
    res = _invoke("compare", cfg, "--out", tmp_path / "out", "--methods", "P", "--seeds", "0")
    assert res.exit_code == 2 and "missing_camera.yaml" in res.output


@pytest.mark.parametrize("cmd", ["mismatch", "robustness"])
def test_demo_like_commands_write_under_runs_by_default(cmd):
    command = typer.main.get_command(app).commands[cmd]
    out = next(p for p in command.params if p.name == "out")
    assert str(out.default).startswith("runs/"), out.default


def test_robustness_and_mismatch_name_a_bad_seed_list():
    for cmd in ("robustness", "mismatch"):
        res = _invoke(cmd, "--seeds", "a,b")
        assert res.exit_code == 2 and "--seeds" in res.output
    res = _invoke("mismatch", "--severity", "1,x")
    assert res.exit_code == 2 and "--severity" in res.output


def test_a_failed_sweep_run_is_named_with_its_error(tmp_path):
    spec = {
        "name": "broken",
        "base": TINY,
        "runs": [{"tag": "nodata", "data.name": "mnist", "data.root": str(tmp_path / "gone")}],
    }
    res = _invoke(
        "sweep",
        _write(tmp_path / "sweep.yaml", spec),
        "--scheduler",
        "inline",
        "--out",
        tmp_path / "out",
        "--no-progress",
    )
    assert res.exit_code == 2, res.output
    assert "broken-" in res.output and "[nodata]" in res.output and "DataError" in res.output
    assert "gone" in res.output and "Traceback" not in res.output


def test_a_sensor_too_small_for_the_optical_tiles_is_refused_with_exit_2(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "cam.maps.npz", gain=rng.normal(0, 0.05, (12, 12)), offset=np.zeros((12, 12))
    )
    hw = {
        "weights": {"realisation": "differential"},
        "distortion": [{"kind": "gain_offset", "maps": "cam.maps.npz"}],
    }
    _write(tmp_path / "camera.yaml", hw)
    run = {**TINY, "model": {"name": "optical_cnn"}, "hardware": "camera.yaml"}
    res = _invoke("train", _write(tmp_path / "run.yaml", run), "--out", tmp_path / "out")
    assert res.exit_code == 2, res.output
    assert "outside the measured 12×12 sensor" in res.output


@pytest.mark.parametrize("option", ["--mnist", "--cifar10"])
def test_reproduce_checks_local_data_before_the_sweep_starts(tmp_path, option):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    res = _invoke("reproduce", "--quick", "--out", out, option, tmp_path / "empty")
    assert res.exit_code == 2, res.output
    assert "empty" in res.output and not out.exists()


def test_check_config_validates_run_configs_and_sweep_specs(tmp_path):
    res = _invoke("check-config", CONFIGS / "runs" / "p_4bit.yaml")
    assert res.exit_code == 0 and "name: p_4bit" in res.output
    res = _invoke("check-config", CONFIGS / "sweeps" / "bits.yaml")
    assert res.exit_code == 0 and "sweep bits: 12 valid runs" in res.output
    bad_run = _write(tmp_path / "run.yaml", {**TINY, "method": {"name": "P9"}})
    res = _invoke("check-config", bad_run)
    assert res.exit_code == 2 and "method.name" in res.output
    bad_sweep = _write(tmp_path / "sweep.yaml", {"base": TINY, "grid": {"hardware.adc.bits": [40]}})
    res = _invoke("check-config", bad_sweep)
    assert res.exit_code == 2 and "hardware.adc.bits" in res.output
    res = _invoke("check-config", bad_run, "--kind", "nonsense")
    assert res.exit_code == 2 and "--kind" in res.output


NEWCOMER_CONFIGS = [  # (run config text, what the message must name)
    ("data: {name: mnist}\n", "data.root"),
    ("hardware: {noise: {seed: 1e23}}\n", "hardware.noise.seed"),
    ("hardware: {adc: {gain: {init: 1e39}}}\n", "hardware.adc.gain.init"),
    ("hardware: {adc: {bits: true}}\n", "hardware.adc.bits"),
    ("hardware: {noise: {shot_electrons_per_unit: 1e39}}\n", "shot_electrons_per_unit"),
    ("adc: {bits: 4\n", "not valid YAML"),
    ("", "empty"),
    ("false\n", "mapping"),
    ("seed: 1\nseed: 2\n", "duplicate key 'seed'"),
]


@pytest.mark.parametrize("text, named", NEWCOMER_CONFIGS, ids=[n for _, n in NEWCOMER_CONFIGS])
def test_train_refuses_the_newcomer_trials_configs_by_name(tmp_path, text, named):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(text)
    res = _invoke("train", cfg, "--out", tmp_path / "out")
    assert res.exit_code == 2, res.output
    assert named in res.output and "run.yaml" in res.output
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_train_names_a_run_config_that_is_not_utf8(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_bytes(b"\xff\xfe name: x\n")
    res = _invoke("train", cfg)
    assert res.exit_code == 2 and "run.yaml" in res.output and "UTF-8" in res.output
