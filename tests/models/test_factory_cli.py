"""A factory network through the command line, as a built-in goes: `mixsig check-config`
imports it (and refuses a broken one with exit 2), `mixsig train` trains, converts and
checkpoints it, a resume after an interruption ends with the same weights as the run that was
not interrupted, `mixsig eval` rebuilds it, a sweep spans its kwargs; the repository's
configs/runs/factory_example.yaml checks from the repository's root."""

import json
import shutil
import sys

import pytest
import yaml
from helpers import REPO
from safetensors.torch import load_file
from typer.testing import CliRunner

import mixsig.train.runner as runner
from mixsig.cli.main import app
from mixsig.experiments.sweep import load_sweep
from mixsig.nn import MixedConv2d, MixedLinear
from mixsig.train import load_trained
from mixsig.train.config import check_config_file

cli = CliRunner()

CONFIG = {
    "name": "fx",
    "seed": 0,
    "data": {"name": "bundled-digits", "limit_train": 128, "limit_test": 64},
    "model": {"factory": "fxmodels.nets:build", "kwargs": {"width": 4}},
    "method": {"name": "P", "sigma_train_lsb": 0.5},
    "pretrain": {"epochs": 1, "lr": 0.003},
    "aware": {"epochs": 2, "lr": 0.001},
    "batch_size": 64,  # 2 steps an epoch, 6 in all
    "checkpoint_every": 1,
    "eval": {"draws": 2, "sigma_test_lsb": [0.5]},
}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A working directory holding the package ``fxmodels`` and a run config naming it."""
    (tmp_path / "fxmodels").mkdir()
    (tmp_path / "fxmodels" / "__init__.py").write_text("")
    shutil.copy(REPO / "examples" / "my_model.py", tmp_path / "fxmodels" / "nets.py")
    (tmp_path / "fx.yaml").write_text(yaml.safe_dump(CONFIG))
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for name in ("fxmodels", "fxmodels.nets"):
        sys.modules.pop(name, None)


def _weights(run) -> dict:
    ck = sorted((run / "checkpoint").glob("state-*.safetensors"))[-1]
    return load_file(ck)


def test_check_config_imports_the_factory_and_refuses_a_broken_one(project):
    res = cli.invoke(app, ["check-config", "fx.yaml"])
    assert res.exit_code == 0, res.output
    assert "factory: fxmodels.nets:build" in res.output
    for model, words in [
        ({"factory": "fxmodels.nets:nope"}, "has no attribute 'nope'"),
        ({"factory": "fxmodels.gone:build"}, "cannot import module 'fxmodels.gone'"),
        ({"factory": "fxmodels.nets:build", "kwargs": {"depth": 2}}, "do not fit its signature"),
        ({"name": "small_cnn", "factory": "fxmodels.nets:build"}, "give either name"),
    ]:
        (project / "bad.yaml").write_text(yaml.safe_dump({**CONFIG, "model": model}))
        res = cli.invoke(app, ["check-config", "bad.yaml"])
        assert res.exit_code == 2 and words in res.output, res.output
        assert "Traceback" not in res.output


def test_train_converts_checkpoints_and_resumes_a_factory_network(project, monkeypatch, one_thread):
    res = cli.invoke(app, ["train", "fx.yaml", "--out", "whole", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert (project / "whole" / "checkpoint" / "checkpoint.json").exists()
    model, cfg, _ = load_trained(project / "whole")  # rebuilt from the recorded config
    assert cfg.model.factory == "fxmodels.nets:build" and cfg.model.kwargs == {"width": 4}
    kinds = [type(m) for m in model.modules()]
    assert kinds.count(MixedConv2d) == 2 and kinds.count(MixedLinear) == 1

    save = runner.Run.save

    def save_then_stop(self):
        save(self)
        if self.state.global_step == 3:  # mid-way through the hardware-aware phase
            raise KeyboardInterrupt

    with monkeypatch.context() as mp:
        mp.setattr(runner.Run, "save", save_then_stop)
        res = cli.invoke(app, ["train", "fx.yaml", "--out", "cut", "--no-progress"])
    assert res.exit_code == 130  # Typer's exit on KeyboardInterrupt
    assert (project / "cut" / "checkpoint" / "checkpoint.json").exists()
    res = cli.invoke(app, ["train", "fx.yaml", "--out", "cut", "--resume", "--no-progress"])
    assert res.exit_code == 0 and "resumed" in res.output, res.output
    a, b = _weights(project / "whole"), _weights(project / "cut")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)  # bit for bit
    results = [json.loads((project / r / "results.json").read_text()) for r in ("whole", "cut")]
    assert results[0]["results"] == results[1]["results"]  # the same accuracies, draw by draw
    res = cli.invoke(app, ["eval", "whole", "--sigma-lsb", "1.0", "--draws", "2"])
    assert res.exit_code == 0, res.output


def test_a_sweep_spans_a_factory_networks_kwargs(project):
    grid = {"model.kwargs": [{"width": 2}, {"width": 3}]}
    spec = {"name": "fxsweep", "base": "fx.yaml", "grid": grid}
    (project / "sweep.yaml").write_text(yaml.safe_dump(spec))
    kind, (_, runs) = check_config_file(project / "sweep.yaml", load_sweep=load_sweep)
    assert kind == "sweep" and [r.config.model.kwargs["width"] for r in runs] == [2, 3]
    assert len({r.key for r in runs}) == 2
    res = cli.invoke(app, ["check-config", "sweep.yaml"])
    assert res.exit_code == 0 and "2 valid runs" in res.output, res.output


def test_the_repository_factory_example_checks_from_the_repository_root(monkeypatch):
    monkeypatch.chdir(REPO)
    try:
        res = cli.invoke(app, ["check-config", "configs/runs/factory_example.yaml"])
    finally:
        for name in ("examples", "examples.my_model"):
            sys.modules.pop(name, None)
    assert res.exit_code == 0, res.output
    assert "factory: examples.my_model:build" in res.output
