"""A run on an explicit device: every tensor of the model there, a checkpoint resumed with
another ``device`` (saved on one, resumed on another), `load_trained` onto a device, the run key
blind to the device, and the command line refusing devices it does not have."""

import json

import pytest
import torch
from typer.testing import CliRunner

from mixsig.cli.main import app
from mixsig.experiments.sweep import SweepRun, on_device, run_key
from mixsig.train import TrainConfig, load_trained, run_training
from mixsig.train.run_checkpoint import config_changes

FAST = {
    "name": "device",
    "data": {"name": "bundled-digits", "test_fraction": 0.25, "limit_train": 128, "limit_test": 64},
    "method": {"name": "P", "sigma_train_lsb": 0.5},
    "pretrain": {"epochs": 1, "lr": 0.003},
    "aware": {"epochs": 1, "lr": 0.001},
    "batch_size": 64,
    "checkpoint_every": 1,
    "eval": {"draws": 2, "sigma_test_lsb": [0.5]},
    "device": "cpu",
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("device") / "run"
    results = run_training(TrainConfig.model_validate(FAST), out, progress=False, echo=lambda s: 0)
    return out, results


def test_explicit_cpu_run_records_its_device_and_loads_anywhere(finished):
    out, results = finished
    assert json.loads((out / "config.json").read_text())["device"] == "cpu"
    model, cfg, _ = load_trained(out, device="cpu")
    tensors = list(model.parameters()) + list(model.buffers())
    assert tensors and {t.device for t in tensors} == {torch.device("cpu")}
    assert cfg.device == "cpu"


def test_a_resume_may_change_the_device(finished):
    out, results = finished
    stored = json.loads((out / "config.json").read_text())
    assert config_changes(stored, {**stored, "device": "cuda:1"}, "aware") == []
    again = run_training(
        TrainConfig.model_validate({**FAST, "device": "auto"}),
        out,
        resume=True,
        progress=False,
        echo=lambda s: 0,
    )
    assert again["results"][0]["accuracies"] == results["results"][0]["accuracies"]


def test_run_key_is_blind_to_the_device():
    cfg = TrainConfig.model_validate(FAST)
    assert run_key(cfg) == run_key(cfg.model_copy(update={"device": "cuda"}))
    runs = on_device([SweepRun(run_key(cfg), "t", {}, cfg)], "cpu")
    assert runs[0].key == run_key(cfg) and runs[0].config.device == "cpu"
    assert on_device(runs, None) is runs


@pytest.mark.parametrize(
    "device,message",
    [("gpu", "is not a device name"), ("cuda", "no CUDA device"), ("cuda:7", "no CUDA device")],
)
def test_cli_refuses_a_device_it_does_not_have(tmp_path, monkeypatch, device, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = tmp_path / "run.yaml"
    cfg.write_text(json.dumps(FAST))
    runner = CliRunner()
    for args in (
        ["train", str(cfg), "--out", str(tmp_path / "r"), "--device", device],
        ["compare", str(cfg), "--out", str(tmp_path / "c"), "--device", device],
        ["eval", str(tmp_path / "r"), "--sigma-lsb", "0.5", "--device", device],
        ["reproduce", "--quick", "--out", str(tmp_path / "q"), "--device", device],
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        assert message in res.output, res.output
    assert not (tmp_path / "r").exists() and not (tmp_path / "q").exists()


def test_a_config_asking_for_cuda_where_there_is_none_is_refused_before_training(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = tmp_path / "run.yaml"
    cfg.write_text(json.dumps({**FAST, "device": "cuda"}))
    res = CliRunner().invoke(app, ["train", str(cfg), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "no CUDA device" in res.output, res.output
    assert not (tmp_path / "r").exists()
