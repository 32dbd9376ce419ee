"""The command line: help texts carry examples, calibrate → check-config, bad input exits 2."""

import pytest
from typer.testing import CliRunner

from mixsig import load_hardware
from mixsig.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize(
    "cmd",
    [
        "train",
        "eval",
        "compare",
        "calibrate",
        "mismatch",
        "robustness",
        "demo",
        "check-config",
        "reproduce",
        "sweep",
        "report",
    ],
)
def test_every_command_has_help_with_an_example(cmd):
    res = runner.invoke(app, [cmd, "--help"])
    assert res.exit_code == 0
    assert "Example" in res.output


def test_calibrate_a_lab_folder_into_a_config_that_loads(tmp_path):
    from mixsig.calib.synthetic import CameraParams, SyntheticCamera, write_calibration_folder

    write_calibration_folder(SyntheticCamera(CameraParams(), seed=0), tmp_path / "lab")
    out = tmp_path / "hw.yaml"
    res = runner.invoke(
        app, ["calibrate", str(tmp_path / "lab"), "--out", str(out), "--adc-bits", "4"]
    )
    assert res.exit_code == 0, res.output
    hw = load_hardware(out)
    assert hw.adc.bits == 4 and hw.noise.sigma_lsb > 0
    res = runner.invoke(app, ["check-config", str(out)])
    assert res.exit_code == 0 and "gain_offset" in res.output
    assert "hw.maps.npz" in res.output  # the YAML names the measured maps beside it
    (tmp_path / "hw.maps.npz").unlink()  # check-config reads the files the YAML names
    res = runner.invoke(app, ["check-config", str(out)])
    assert res.exit_code == 2 and "measured maps file not found" in res.output


def test_bad_inputs_exit_2_with_a_message(tmp_path):
    res = runner.invoke(
        app,
        [
            "calibrate",
            str(tmp_path / "nothing"),
            "--out",
            str(tmp_path / "x.yaml"),
            "--adc-bits",
            "4",
        ],
    )
    assert res.exit_code == 2 and "error" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("adc: {bits: 99}\n")
    res = runner.invoke(app, ["check-config", str(bad)])
    assert res.exit_code == 2 and "adc.bits" in res.output
    res = runner.invoke(app, ["compare", str(bad), "--out", str(tmp_path), "--methods", "P,Q"])
    assert res.exit_code == 2 and "--methods" in res.output
