"""The optical CNN's PSF model from a run config (``model.optical``: pixel_envelope,
fill_factor, spectrum, material) and through checkpoints: stored with the weights, and a
checkpoint written before it loads as the point-sampled, monochromatic network it was."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from helpers.optics import IDEAL

from mixsig.config.run import TrainConfig
from mixsig.models import model_from_config, optical_cnn
from mixsig.optics.dispersion import Cauchy
from mixsig.optics.psf_model import POINT_SAMPLED, PSFModel
from mixsig.optics.spectrum import Spectrum
from mixsig.train.checkpoint import load_checkpoint, restore_model, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

OPTICAL = {"parameterisation": "kernel", "out_channels": 2, "kernel_size": 3}


def _model(optical: dict):
    cfg = TrainConfig.model_validate({"model": {"name": "optical_cnn", "optical": optical}})
    return model_from_config(cfg.model, (1, 12, 12), 10, IDEAL)


def test_the_config_sets_the_layers_psf_model():
    assert _model(OPTICAL)[0].psf_model == PSFModel()  # the defaults: pixelated, monochromatic
    optical = {
        **OPTICAL,
        "pixel_envelope": True,
        "fill_factor": 0.7,
        "spectrum": {"center_m": 5.32e-7, "fwhm_m": 1e-8, "samples": 3},
        "material": {"model": "cauchy", "a": 1.45, "b_um2": 0.0036, "valid_m": [4e-7, 7e-7]},
    }
    model = _model(optical)[0].psf_model
    assert model.fill_factor == 0.7 and model.spectrum == Spectrum.gaussian(5.32e-7, 1e-8, 3)
    assert model.material == Cauchy(name="cauchy model", valid_m=(4e-7, 7e-7), a=1.45, b_um2=0.0036)
    lines = {**OPTICAL, "spectrum": {"wavelengths_m": [5.2e-7, 5.4e-7], "weights": [1, 3]}}
    assert _model(lines)[0].psf_model.spectrum.weights == (0.25, 0.75)
    assert _model({**OPTICAL, "pixel_envelope": False})[0].psf_model == POINT_SAMPLED


def test_a_checkpoint_stores_the_psf_model_and_restores_it(tmp_path):
    band = Spectrum.lines([5.2e-7, 5.32e-7], [1.0, 2.0])
    torch.manual_seed(0)
    src = optical_cnn(12, out_channels=2, kernel_size=3, parameterisation="doe", hardware=IDEAL,
                      fill_factor=0.9, spectrum=band)  # fmt: skip
    path = save_checkpoint(tmp_path / "ck", src)
    meta = json.loads(path.read_text())
    assert meta["optics"]["0"]["fill_factor"] == 0.9  # for a reader
    assert meta["optics"]["0"]["spectrum"]["wavelengths_m"] == [5.2e-7, 5.32e-7]
    torch.manual_seed(1)
    dst = optical_cnn(12, out_channels=2, kernel_size=3, parameterisation="doe", hardware=IDEAL)
    restore_model(dst, load_checkpoint(path))
    assert dst[0].psf_model == src[0].psf_model
    x = torch.rand(2, 1, 12, 12)
    src.eval(), dst.eval()
    assert torch.equal(dst[0].optical_forward(x), src[0].optical_forward(x))


def test_a_checkpoint_written_before_the_psf_model_loads_point_sampled(tmp_path):
    """Weights without ``0._extra_state`` (as every checkpoint before the PSF model) restore
    into the network a config now builds (pixelated by default) as the point-sampled,
    monochromatic one: bit for bit the optics it computed."""
    torch.manual_seed(2)
    old = optical_cnn(12, out_channels=2, kernel_size=3, parameterisation="doe", hardware=IDEAL,
                      pixel_envelope=False)  # fmt: skip
    path = save_checkpoint(tmp_path / "ck", old)
    ck = load_checkpoint(path)
    ck = replace(ck, model={k: v for k, v in ck.model.items() if k != "0._extra_state"})
    torch.manual_seed(3)
    new = optical_cnn(12, out_channels=2, kernel_size=3, parameterisation="doe", hardware=IDEAL)
    assert new[0].psf_model == PSFModel()
    restore_model(new, ck)
    assert new[0].psf_model == POINT_SAMPLED
    x = torch.rand(2, 1, 12, 12)
    assert torch.equal(new[0].optical_forward(x), old[0].optical_forward(x))


def _dump(optical: dict) -> dict:
    cfg = TrainConfig.model_validate({"model": {"name": "optical_cnn", "optical": optical}})
    return cfg.model_dump()["model"]["optical"]


def test_the_config_sets_the_back_end_and_leaves_its_defaults_out_of_the_dump():
    def shapes(model):
        return [(m.in_features, m.out_features) for m in model if isinstance(m, torch.nn.Linear)]

    model = _model({**OPTICAL, "pool": 2, "hidden": 16})
    assert [m.kernel_size for m in model if isinstance(m, torch.nn.MaxPool2d)] == [2]
    assert shapes(model) == [(2 * 6 * 6, 16), (16, 10)]  # 2 channels × (12 / 2)² → 16 → 10
    assert shapes(_model(OPTICAL)) == [(2 * 3 * 3, 10)]  # pool 4, no hidden layer
    # run keys of configs written before the fields existed stay the same
    assert "pool" not in _dump(OPTICAL) and "hidden" not in _dump({**OPTICAL, "pool": 4})
    d = _dump({**OPTICAL, "pool": 2, "hidden": 16})
    assert (d["pool"], d["hidden"]) == (2, 16)


def test_the_back_ends_digital_conv_block_sits_between_the_pools():
    model = _model({**OPTICAL, "pool": 2, "conv": 5, "hidden": 7})
    convs = [m for m in model if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (2, 5, (3, 3), (1, 1))
    ]
    kinds = [type(m).__name__ for m in model][1:]
    assert kinds == [
        "BatchNorm2d", "ReLU", "MaxPool2d",  # the camera's 12 × 12 → 6 × 6
        "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d",  # 6 × 6 → 3 × 3
        "Flatten", "Linear", "ReLU", "Linear",
    ]  # fmt: skip
    linear = [m for m in model if isinstance(m, torch.nn.Linear)]
    assert (linear[0].in_features, linear[0].out_features) == (5 * 3 * 3, 7)
    assert model(torch.rand(3, 1, 12, 12)).shape == (3, 10)
    assert "conv" not in _dump(OPTICAL) and _dump({**OPTICAL, "conv": 5})["conv"] == 5
    with pytest.raises(ValueError, match="leaves nothing"):
        _model({**OPTICAL, "pool": 12, "conv": 4})
    with pytest.raises(ValueError, match="conv"):
        TrainConfig.model_validate({"model": {"name": "optical_cnn", "optical": {"conv": -1}}})
