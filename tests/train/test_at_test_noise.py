"""Batch-norm re-estimated at the test noise (`at_test_noise`, ``eval.batchnorm_at_test_noise``,
``mixsig eval --batchnorm-at-test-noise``): the statistics are those of the noisy deployed
forward, the model itself is untouched, the run and the CLI evaluate the same network."""

import json

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import mixsig
from mixsig.cli.main import app
from mixsig.eval import evaluate
from mixsig.train import TrainConfig, load_trained, run_training
from mixsig.train.deploy import at_test_noise

TINY = {
    "name": "tiny-bn",
    "seed": 0,
    "data": {"name": "bundled-digits", "test_fraction": 0.25},
    "method": {"name": "P", "sigma_train_lsb": 0.5},
    "pretrain": {"epochs": 2, "lr": 0.003},
    "aware": {"epochs": 1, "lr": 0.001},
    "batch_size": 64,
    "checkpoint_every": 50,
    "eval": {"draws": 3, "sigma_test_lsb": [0.0, 2.0], "batchnorm_at_test_noise": True},
}


def _constant_signal_model(sigma_lsb: float) -> tuple[nn.Module, float]:
    """Linear(6→4, bias 0) → 4-bit signed ADC → BN; every input 0, so the analog signal is 0
    and what reaches BN is Δ·round(n), n ~ N(0, σ²) in LSB."""
    torch.manual_seed(0)
    hw = mixsig.HardwareConfig.model_validate(
        {"noise": {"sigma_lsb": sigma_lsb}, "adc": {"bits": 4, "signed": True}}
    )
    lin = nn.Linear(6, 4)
    nn.init.zeros_(lin.bias)
    model = mixsig.convert(nn.Sequential(lin, nn.BatchNorm1d(4)), hw)
    mixsig.calibrate(model, [torch.rand(256, 6)])
    step = float(mixsig.signal.chains(model)[0].adc.lsb)
    return model, step


def test_the_statistics_are_the_noisy_quantized_signals():
    sigma = 2.0
    model, step = _constant_signal_model(sigma)
    twin = at_test_noise(model, sigma, torch.zeros(4096, 6), 64, batches=40, seed=0)
    # Gaussian dither of σ ≥ 0.5 LSB: round(n) has variance σ² + 1/12 (uniform rounding error
    # independent of n); 40 × 64 samples estimate a variance to ~3 %, so 12 % is 4 std
    expected = step**2 * (sigma**2 + 1 / 12)
    torch.testing.assert_close(twin[1].running_var, torch.full((4,), expected), rtol=0.12, atol=0)
    assert twin[1].running_mean.abs().max() < 4 * step * sigma / (40 * 64) ** 0.5


def test_the_model_is_left_alone_and_the_copy_is_reproducible():
    model, _ = _constant_signal_model(1.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(1024, 6)
    a = at_test_noise(model, 1.0, x, 64, batches=8, seed=3)
    b = at_test_noise(model, 1.0, x, 64, batches=8, seed=3)
    c = at_test_noise(model, 1.0, x, 64, batches=8, seed=4)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(a[1].running_var, b[1].running_var)
    assert not torch.equal(a[1].running_var, c[1].running_var)
    assert not torch.equal(a[1].running_var, model[1].running_var)


def test_the_field_is_left_out_of_the_dump_when_false():
    off = TrainConfig.model_validate({k: v for k, v in TINY.items() if k != "eval"})
    assert "batchnorm_at_test_noise" not in off.model_dump()["eval"]  # run keys unchanged
    assert off.model_dump(context={"every_field": True})["eval"]["batchnorm_at_test_noise"] is False
    on = TrainConfig.model_validate(TINY)
    assert on.model_dump()["eval"]["batchnorm_at_test_noise"] is True
    with pytest.raises(ValueError, match="batchnorm_at_test_noise"):
        TrainConfig.model_validate({**TINY, "eval": {"batchnorm_at_test_noise": "sometimes"}})


@pytest.fixture(scope="module")
def run_at_test_noise(tmp_path_factory):
    out = tmp_path_factory.mktemp("bn-run")
    results = run_training(TrainConfig.model_validate(TINY), out, progress=False, echo=print)
    return out, results


def test_the_run_and_the_cli_evaluate_the_re_estimated_network(run_at_test_noise, tmp_path):
    out, results = run_at_test_noise
    model, cfg, data = load_trained(out)
    twin = at_test_noise(model, 2.0, data.x_train, cfg.batch_size, cfg.method.bn_batches, 0)
    mine = evaluate(twin, data.x_test, data.y_test, sigma_lsb=2.0, draws=3, seed=0)
    stored = next(r for r in results["results"] if r["sigma_lsb"] == 2.0)
    assert stored["accuracies"] == mine.accuracies
    plain = evaluate(model, data.x_test, data.y_test, sigma_lsb=2.0, draws=3, seed=0)
    assert plain.accuracies != mine.accuracies  # it is another network's accuracy
    js = tmp_path / "e.json"
    args = ["eval", str(out), "--sigma-lsb", "2", "--draws", "3", "--json", str(js)]
    res = CliRunner().invoke(app, [*args, "--batchnorm-at-test-noise"])
    assert res.exit_code == 0, res.output
    payload = json.loads(js.read_text())
    assert payload["accuracies"] == mine.accuracies and payload["batchnorm_at_test_noise"]
