"""The optics-realism study: the command runs end to end on tiny data, the deployed idealised
network really computes the realistic PSF, a re-run skips finished work, bad options exit 2."""

import json
import math

import pytest
import torch
from typer.testing import CliRunner

import mixsig
from mixsig.cli.main import app
from mixsig.experiments import optics_realism as study
from mixsig.models import optical_cnn
from mixsig.nn import OpticalConv2d
from mixsig.optics.psf_model import decode_state
from mixsig.train.runner import load_trained

TINY = [
    "optics-realism", "--seeds", "0", "--draws", "2", "--sigmas", "0,0.5",
    "--data", "bundled-mnist", "--limit-train", "128", "--limit-test", "64",
    "--epochs", "1", "--aware-epochs", "1", "--pat-epochs", "1",
]  # fmt: skip


def _fast_init(self, kind, steps=150):
    """A seeded random phase instead of the 150-step Gabor synthesis (seconds per layer)."""
    n = self.sampling.doe_pixels
    g = torch.Generator().manual_seed(n)
    return 2 * math.pi * torch.rand(n, n, generator=g, dtype=torch.float64)


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("optics-realism")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(OpticalConv2d, "_synthesised_init", _fast_init)
        first = CliRunner().invoke(app, [*TINY, "--out", str(out)])
        stamps = {p: p.stat().st_mtime_ns for p in out.rglob("results.json")}
        again = CliRunner().invoke(app, [*TINY, "--out", str(out)])
    return out, first, stamps, again


def test_the_command_runs_end_to_end_and_writes_the_table(tiny_study):
    out, first, _, _ = tiny_study
    assert first.exit_code == 0, first.output
    res = json.loads((out / "optics_realism.json").read_text())
    assert res["data"] == "bundled-mnist" and res["n_train"] == 128 and res["n_test"] == 64
    assert res["sigma_test_lsb"] == [0.0, 0.5] and res["seeds"] == [0]
    for arm in study.ARMS:
        means = res["arms"][arm]["mean"]
        assert len(means) == 2 and all(0.0 <= m <= 1.0 for m in means)
        assert res["arms"][arm]["runs"] == [[m] for m in means]  # one seed: its own value
    table = (out / "optics_realism.md").read_text()
    assert table.count("\n") == 2 + len(study.ARMS) and "σ_test = 0.5 LSB" in table
    assert (out / "optics_realism.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for arm in ("idealised", "realistic", "deployed", "physics_aware"):
        assert (out / "seed0" / arm / "results.json").is_file()


def test_a_rerun_skips_finished_work(tiny_study):
    out, _, stamps, again = tiny_study
    assert again.exit_code == 0, again.output
    assert again.output.count("done, skipped") == 3  # idealised, realistic, physics-aware
    assert "starting the run" not in again.output
    assert {p: p.stat().st_mtime_ns for p in out.rglob("results.json")} == stamps


def test_the_deployed_trained_idealised_layer_computes_the_realistic_psf(tiny_study, monkeypatch):
    out = tiny_study[0]
    monkeypatch.setattr(OpticalConv2d, "_synthesised_init", _fast_init)
    model, cfg, data = load_trained(out / "seed0" / "idealised")
    ideal = model[0]
    assert not ideal.psf_model.pixel_envelope and ideal.sampling.doe_pixels == 132
    device = study.deploy_on_device(model, data.x_train, cfg)
    dev = device[0]
    assert dev.phase_rad is ideal.phase_rad  # the same DOE, not a copy of it
    assert decode_state(device.state_dict()["0._extra_state"]) == study.device_psf()
    assert ideal.psf_model != study.device_psf()  # the model itself keeps its own PSF
    phase = ideal.phase_rad.detach()
    fresh = OpticalConv2d(
        8, 5, image_size=28, parameterisation="doe", doe_init=phase, **study.realistic_optics()
    )
    assert fresh.sampling == dev.sampling
    with torch.no_grad():
        torch.testing.assert_close(dev.psf(), fresh.psf(), rtol=0, atol=1e-7)
        gap = (dev.psf() - ideal.psf()).norm() / ideal.psf().norm()
    assert gap > 0.1  # the realistic PSF differs from the idealised one (~0.47)
    # and the camera range was calibrated on the device, not kept from the model
    assert float(dev.chain.adc.step) != float(ideal.chain.adc.step)


def test_deploy_on_device_computes_the_realistic_psf_on_the_same_doe(monkeypatch):
    monkeypatch.setattr(OpticalConv2d, "_synthesised_init", _fast_init)
    cfg = study.run_config("idealised", 0, data="bundled-mnist", root="data", sigmas=[0.0], draws=1)
    torch.manual_seed(0)
    model = optical_cnn(
        28, 10, parameterisation="doe", hardware=cfg.resolved_hardware(),
        **study.idealised_optics(),
    )  # fmt: skip
    x = torch.rand(16, 1, 28, 28)
    mixsig.calibrate(model, [x])
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    device = study.deploy_on_device(model, x, cfg)
    dev, ideal = device[0], model[0]
    assert dev.phase_rad is ideal.phase_rad and device[5] is model[5]  # same DOE and weights
    assert dev.psf_model == study.device_psf() and ideal.psf_model != study.device_psf()
    fresh = OpticalConv2d(
        8, 5, image_size=28, parameterisation="doe", doe_init=ideal.phase_rad.detach(),
        **study.realistic_optics(),
    )  # fmt: skip
    with torch.no_grad():
        torch.testing.assert_close(dev.psf(), fresh.psf(), rtol=0, atol=1e-7)
        assert float((dev.psf() - ideal.psf()).norm() / ideal.psf().norm()) > 0.1
    assert float(dev.chain.adc.step) != float(ideal.chain.adc.step)  # calibrated on the device
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the model is untouched


def test_the_idealised_layer_is_the_point_sampled_monochromatic_one():
    torch.manual_seed(0)
    trick = OpticalConv2d(
        8, 5, image_size=28, parameterisation="doe", doe_init="random_phase",
        **study.idealised_optics(),
    )  # fmt: skip
    plain = OpticalConv2d(
        8, 5, image_size=28, parameterisation="doe", pixel_envelope=False,
        sampling=trick.sampling, doe_init=trick.phase_rad.detach(),
    )  # fmt: skip
    real = OpticalConv2d(
        8, 5, image_size=28, parameterisation="doe", doe_init=trick.phase_rad.detach(),
        **study.realistic_optics(),
    )  # fmt: skip
    assert trick.sampling.doe_pixels == real.sampling.doe_pixels == 132  # plain default: 128
    with torch.no_grad():
        a, b = trick.psf().double(), plain.psf().double()
    assert float((a - b).norm() / b.norm()) < 1e-5  # float32 round-off of two routes


@pytest.mark.parametrize(
    "extra",
    [
        ["--draws", "0"],
        ["--data", "cifar10"],
        ["--seeds", "x"],
        ["--seeds", "1,1"],
        ["--sigmas", "-1"],
        ["--sigmas", "a"],
        ["--pat-epochs", "0"],
    ],
)
def test_bad_options_exit_2_before_any_training(extra, tmp_path):
    r = CliRunner().invoke(app, [*TINY, "--out", str(tmp_path / "o"), *extra])
    assert r.exit_code == 2, r.output
    assert not (tmp_path / "o").exists()
