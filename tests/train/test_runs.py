"""Training runs: kill -9 and resume is bitwise identical, checkpoints refuse bad files,
the baselines differ from P exactly where design §4 says, evaluation is reproducible."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from torch import nn
from typer.testing import CliRunner

import mixsig
from mixsig.cli.main import app
from mixsig.eval import evaluate
from mixsig.signal import chains, collect_rng_state
from mixsig.train import CheckpointError, TrainConfig, load_checkpoint, run_training
from mixsig.train.runner import Run, _sigma_at, reestimate_batchnorm

TINY = {
    "name": "tiny",
    "seed": 0,
    "data": {"name": "bundled-digits", "test_fraction": 0.25},
    "method": {"name": "P", "sigma_train_lsb": 0.5},
    "pretrain": {"epochs": 2, "lr": 0.003},
    "aware": {"epochs": 3, "lr": 0.001},
    "batch_size": 64,
    "checkpoint_every": 5,
    "eval": {"draws": 3, "sigma_test_lsb": [0.0, 0.5]},
}
STEPS_PER_EPOCH = 22  # 1,347 training digits / 64


def _cli(*args: str, **kw) -> subprocess.Popen:
    exe = Path(sys.executable).parent / "mixsig"
    return subprocess.Popen([str(exe), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _model_tensors(run_dir: Path) -> dict:
    ck = json.loads((run_dir / "checkpoint" / "checkpoint.json").read_text())
    t = load_file(run_dir / "checkpoint" / ck["weights"])
    return {k: v for k, v in t.items() if k.startswith("model.")}


def test_kill_9_mid_epoch_then_resume_gives_bitwise_identical_weights(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    p = _cli("train", str(cfg), "--out", str(whole), "--no-progress")
    assert p.wait(timeout=300) == 0, p.stderr.read().decode()

    p = _cli("train", str(cfg), "--out", str(cut), "--no-progress")
    sidecar = cut / "checkpoint" / "checkpoint.json"
    kill_after = 2 * STEPS_PER_EPOCH + 12  # inside the first hardware-aware epoch
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        try:
            if json.loads(sidecar.read_text())["global_step"] >= kill_after:
                break
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            pass
        time.sleep(0.02)
    assert p.poll() is None, "the run ended before it could be killed"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    meta = json.loads(sidecar.read_text())
    assert meta["phase"] == "aware" and 0 < meta["step_in_epoch"] < STEPS_PER_EPOCH
    assert not (cut / "results.json").exists()

    p = _cli("train", str(cfg), "--out", str(cut), "--resume", "--no-progress")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err.decode()
    assert "resumed" in out.decode()
    a, b = _model_tensors(whole), _model_tensors(cut)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ra = json.loads((whole / "results.json").read_text())["results"]
    rb = json.loads((cut / "results.json").read_text())["results"]
    assert [r["accuracies"] for r in ra] == [r["accuracies"] for r in rb]
    # the metrics log has each step exactly once
    steps = [int(line.split(",")[2]) for line in (cut / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == list(range(1, len(steps) + 1))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig.model_validate({**TINY, "aware": {"epochs": 1, "lr": 0.001}})
    results = run_training(cfg, out, progress=False, echo=lambda s: None)
    return out, results


def test_results_state_the_definition_and_noise_free_reference(finished_run):
    out, results = finished_run
    stored = json.loads((out / "results.json").read_text())
    assert stored["definition"].startswith("equivalent accuracy: mean accuracy within 0.5")
    r0 = stored["results"][0]
    assert r0["sigma_lsb"] == 0.0 and r0["std"] == 0.0
    assert r0["mean"] == pytest.approx(stored["noise_free_quantized_accuracy"])
    assert len(stored["results"][1]["accuracies"]) == 3


def test_a_second_run_into_the_same_folder_needs_resume(finished_run):
    out, _ = finished_run
    with pytest.raises(FileExistsError, match="--resume"):
        run_training(TrainConfig.model_validate(TINY), out, progress=False)


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda w, s: w.write_bytes(w.read_bytes()[:-100]), "truncated"),
        (lambda w, s: w.write_bytes(w.read_bytes()[:-8] + b"\x00" * 8), "corrupt"),
        (lambda w, s: s.write_text("{not json"), "not JSON"),
        (lambda w, s: s.write_text('{"format": "other/1"}'), "not a mixsig-checkpoint/1"),
        (lambda w, s: w.unlink(), "missing"),
    ],
)
def test_damaged_checkpoints_are_refused_with_a_message(finished_run, tmp_path, damage, words):
    out, _ = finished_run
    ck = tmp_path / "checkpoint"
    ck.mkdir()
    for f in (out / "checkpoint").iterdir():
        (ck / f.name).write_bytes(f.read_bytes())
    sidecar = ck / "checkpoint.json"
    weights = ck / json.loads(sidecar.read_text())["weights"]
    damage(weights, sidecar)
    with pytest.raises(CheckpointError, match=words):
        load_checkpoint(ck)
    res = CliRunner().invoke(app, ["eval", str(tmp_path), "--sigma-lsb", "0.5", "--draws", "2"])
    assert res.exit_code == 2
    assert words in res.output and "Traceback" not in res.output


def test_a_foreign_safetensors_file_is_refused(finished_run, tmp_path):
    out, _ = finished_run
    ck = load_checkpoint(out / "checkpoint")
    other = mixsig.convert(nn.Sequential(nn.Linear(3, 2)))
    from mixsig.train.checkpoint import restore_model

    with pytest.raises(CheckpointError, match="does not fit this model"):
        restore_model(other, ck)


def test_cli_eval_reports_mean_std_and_equivalence(finished_run, tmp_path):
    out, _ = finished_run
    js = tmp_path / "e.json"
    res = CliRunner().invoke(
        app, ["eval", str(out), "--sigma-lsb", "0.5", "--draws", "4", "--json", str(js)]
    )
    assert res.exit_code == 0, res.output
    assert "±" in res.output and "equivalent:" in res.output
    data = json.loads(js.read_text())
    assert len(data["accuracies"]) == 4 and "definition" in data


def test_cli_train_refuses_a_bad_config_by_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**TINY, "method": {"name": "B9"}}))
    res = CliRunner().invoke(app, ["train", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "method.name" in res.output


# -- the baselines differ from P exactly where design §4 says ------------------------------
@pytest.mark.parametrize(
    "method, rounding, sigma_mid, sigma_end",
    [
        ("P", True, 0.25, 0.5),
        ("B2", False, 0.0, 0.0),
        ("B3", False, 0.5, 0.5),
        ("B4", True, 0.0, 0.0),
    ],
)
def test_training_chain_of_each_method(method, rounding, sigma_mid, sigma_end):
    cfg = TrainConfig.model_validate(
        {
            **TINY,
            "method": {"name": method, "sigma_train_lsb": 0.5, "noise_ramp": 0.5},
            "aware": {"epochs": 2, "lr": 1e-3},
        }
    )
    # P ramps over 0.5 × 2 epochs = 1 epoch: half-way at 0.5 epochs
    assert _sigma_at(cfg, 0, 11, 22) == pytest.approx(sigma_mid)
    assert _sigma_at(cfg, 1, 5, 22) == pytest.approx(sigma_end)
    run = Run(cfg, Path("."), progress=False, echo=lambda s: None)
    run.convert_and_calibrate()
    run.configure_chain(sigma_end)
    for c in chains(run.model):
        assert c.quantize_output is rounding
        assert c.noise.sigma_lsb == sigma_end
    # without rounding the analog values reach the digital side unquantized
    c = chains(run.model)[0]
    x = torch.linspace(-1, 1, 1001) * c.adc.full_scale
    y = c(x) if sigma_end == 0 else None
    if y is not None:
        levels = torch.unique(y).numel()
        assert (levels <= c.adc.levels) is rounding


def test_batchnorm_is_reestimated_under_the_deployed_forward():
    torch.manual_seed(0)
    hw = mixsig.HardwareConfig.model_validate({"noise": {"sigma_lsb": 0.0}})
    model = mixsig.convert(nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4)), hw)
    x = torch.rand(256, 6)
    mixsig.calibrate(model, [x])
    reestimate_batchnorm(model, x, batch_size=64, batches=4)
    with torch.no_grad():
        pre = model[0](x)  # the quantized analog layer's outputs
    torch.testing.assert_close(model[1].running_mean, pre.mean(0), atol=1e-5, rtol=0)


def test_evaluate_is_reproducible_and_leaves_the_model_random_state_alone(finished_run):
    out, _ = finished_run
    from mixsig.train import load_trained

    model, cfg, data = load_trained(out)
    before = collect_rng_state(model)
    a = evaluate(model, data.x_test, data.y_test, sigma_lsb=1.0, draws=4, seed=3)
    b = evaluate(model, data.x_test, data.y_test, sigma_lsb=1.0, draws=4, seed=3)
    c = evaluate(model, data.x_test, data.y_test, sigma_lsb=1.0, draws=4, seed=4)
    assert a.accuracies == b.accuracies and a.accuracies != c.accuracies
    after = collect_rng_state(model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    conf = torch.tensor(a.confusion)
    assert int(conf.sum()) == 4 * len(data.y_test)
    assert a.mean == pytest.approx(float(conf.diag().sum()) / float(conf.sum()))
    assert len(a.per_class) == 10


def test_shared_prefix_draws_are_bookkept_like_plain_batches():
    # with the noise off both paths are deterministic: their predictions must agree exactly,
    # whatever the chunking (this checks the indexing of the draw-batched fast path)
    from mixsig.eval.montecarlo import (
        _predict_batched,
        _predict_shared_prefix,
        _split_at_first_readout,
    )
    from mixsig.models import small_cnn
    from mixsig.signal import set_sigma_lsb

    torch.manual_seed(0)
    model = mixsig.convert(small_cnn(28))
    x = torch.rand(37, 1, 28, 28)
    mixsig.calibrate(model, [x])
    model.eval()
    set_sigma_lsb(model, 0.0)
    split = _split_at_first_readout(model)
    assert split is not None and split[1] is model[0]
    with torch.no_grad():
        ref = _predict_batched(model, x, 5, 16)
        for bs in (1, 7, 64, 500):
            assert torch.equal(_predict_shared_prefix(*split, x, 5, bs), ref), bs


def test_extensions_learned_range_and_gain_randomised_distortion_noise_above_target(tmp_path):
    hw = {
        "adc": {"range": "learned", "gain": {"init": 1.0, "learned": True}},
        "distortion": [{"kind": "gamma", "gamma": 0.8, "randomize": 0.1, "seed": 1}],
        "noise": {"sigma_lsb": 0.5},
    }
    cfg = TrainConfig.model_validate(
        {
            **TINY,
            "hardware": hw,
            "method": {"name": "P", "sigma_train_lsb": 0.75},
            "pretrain": {"epochs": 1, "lr": 0.003},
            "aware": {"epochs": 1, "lr": 0.003},
            "checkpoint_every": 1000,
        }
    )
    run_training(cfg, tmp_path, progress=False, echo=lambda s: None)
    ck = load_checkpoint(tmp_path / "checkpoint")
    steps = {k: v for k, v in ck.model.items() if k.endswith("chain.adc.step")}
    gains = {k: v for k, v in ck.model.items() if k.endswith("log_gain")}
    assert steps and gains
    # the learned gains moved away from their initial value (log 1 = 0) and stayed finite
    assert all(float(v) != 0.0 for v in gains.values())
    assert all(torch.isfinite(v).all() for v in steps.values())
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["sigma_train_lsb"] == 0.75  # trained above the 0.5 LSB target


def test_optical_cnn_trains_in_a_run_and_its_checkpoint_reloads(tmp_path):
    cfg = TrainConfig.model_validate(
        {
            "name": "optical",
            "data": {"name": "bundled-mnist", "limit_train": 256, "limit_test": 100},
            "model": {"name": "optical_cnn", "optical": {"out_channels": 4}},
            "hardware": {"weights": {"bits": None}, "adc": {"bits": 4}},
            "method": {"name": "P", "sigma_train_lsb": 0.5},
            "pretrain": {"epochs": 1, "lr": 0.01},
            "aware": {"epochs": 1, "lr": 0.01},
            "checkpoint_every": 3,
            "eval": {"draws": 2, "sigma_test_lsb": [0.5]},
        }
    )
    results = run_training(cfg, tmp_path, progress=False, echo=lambda s: None)
    assert 0.0 <= results["results"][0]["mean"] <= 1.0
    from mixsig.nn import OpticalConv2d
    from mixsig.train import load_trained

    model, _, data = load_trained(tmp_path)
    assert isinstance(model[0], OpticalConv2d)
    assert not any(isinstance(m, mixsig.MixedLinear) for m in model.modules())  # digital rest
    r = evaluate(model, data.x_test, data.y_test, sigma_lsb=0.5, draws=2, seed=cfg.seed)
    assert r.accuracies == results["results"][0]["accuracies"]


def test_optical_cnn_in_kernel_space_synthesises_a_doe_and_trains_only_the_digital_rest(
    tmp_path,
):
    """The kernel-space recipe as run phases: ideal kernels in pre-training, a DOE fitted to
    them, the realised PSF frozen through hardware-aware training and after a resume."""
    from mixsig.train import load_trained

    cfg = TrainConfig.model_validate(
        {
            "name": "optical-kernel",
            "data": {"name": "bundled-mnist", "limit_train": 256, "limit_test": 100},
            "model": {
                "name": "optical_cnn",
                "optical": {"parameterisation": "kernel", "out_channels": 2},
            },
            "hardware": {"weights": {"bits": None}, "adc": {"bits": 4}},
            "method": {"name": "P", "sigma_train_lsb": 0.5},
            "pretrain": {"epochs": 1, "lr": 0.01},
            "aware": {"epochs": 1, "lr": 0.01},
            "checkpoint_every": 2,
            "eval": {"draws": 2, "sigma_test_lsb": [0.5]},
        }
    )
    lines: list[str] = []
    cache = tmp_path / "pretrained"
    results = run_training(cfg, tmp_path, progress=False, echo=lines.append, pretrained=cache)
    assert any(s.startswith("DOE synthesised") for s in lines)
    assert 0.0 < results["doe_fit_error"] < 1.0 and 0.0 < results["doe_throughput"] <= 1.0
    model, _, _ = load_trained(tmp_path)
    layer = model[0]
    assert layer.mode == "realised" and not layer.weight.requires_grad
    # the optics did not move in the hardware-aware phase: the kernels are those the DOE was
    # fitted to, and the stored phase is the fitted one
    ck = load_checkpoint(tmp_path / "checkpoint")
    assert ck.meta["synthesis"]["doe_fit_error"] == results["doe_fit_error"]
    assert torch.equal(ck.model["0.fitted_phase_rad"], layer.fitted_phase_rad)
    (pre,) = [load_checkpoint(d) for d in cache.iterdir()]  # the state at the end of phase 1
    assert torch.equal(pre.model["0.weight"], ck.model["0.weight"])  # kernels untouched
    assert not torch.equal(pre.model["0.fitted_phase_rad"], ck.model["0.fitted_phase_rad"])
    assert not torch.equal(pre.model["1.weight"], ck.model["1.weight"])  # the rest trained


def test_optical_cnn_refuses_colour_images(monkeypatch):
    import mixsig.train.runner as runner
    from mixsig.data import Split

    rgb = torch.rand(4, 3, 32, 32)
    fake = Split(
        rgb, torch.zeros(4, dtype=torch.long), rgb, torch.zeros(4, dtype=torch.long), "cifar10"
    )
    monkeypatch.setattr(runner, "load_data", lambda cfg, seed: fake)
    cfg = TrainConfig.model_validate({"model": {"name": "optical_cnn"}})
    with pytest.raises(ValueError, match="single-channel.*3×32×32.*grayscale"):
        Run(cfg, Path("."), progress=False, echo=lambda s: None)


def test_shared_pretraining_gives_the_same_run_bit_for_bit(finished_run, tmp_path):
    """A run that takes phase 1 from the cache of `pretrain` ends with exactly the weights and
    results of the run that pre-trained itself; the key ignores what comes after phase 1."""
    from mixsig.train import pretrain, pretrain_key

    run_dir, ref = finished_run
    cfg = TrainConfig.model_validate({**TINY, "aware": {"epochs": 1, "lr": 0.001}})
    cache = tmp_path / "pretrained"
    d = pretrain(cfg, cache, echo=lambda s: None)
    assert d.name == pretrain_key(cfg) and (d / "checkpoint.json").exists()
    other = cfg.model_copy(update={"method": cfg.method.model_copy(update={"name": "B4"})})
    assert pretrain_key(other) == pretrain_key(cfg)
    assert pretrain_key(cfg.model_copy(update={"seed": 1})) != pretrain_key(cfg)
    lines: list[str] = []
    shared = tmp_path / "shared"
    res = run_training(cfg, shared, progress=False, echo=lines.append, pretrained=cache)
    assert any("pre-training taken from" in s for s in lines)
    assert [r["mean"] for r in res["results"]] == [r["mean"] for r in ref["results"]]
    a, b = _model_tensors(run_dir), _model_tensors(shared)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
