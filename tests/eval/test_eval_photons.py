"""`mixsig.eval.photons`: MACs, the camera signal and the exposure against their definitions."""

from __future__ import annotations

import math

import pytest
import torch
from helpers.optics import IDEAL
from torch import nn

from mixsig.eval.photons import camera_signal, optical_macs, set_exposure
from mixsig.nn.optical import OpticalConv2d
from mixsig.signal import ShotNoise

pytestmark = pytest.mark.usefixtures("one_thread")


def _model(signed: bool = True) -> nn.Sequential:
    torch.manual_seed(0)
    layer = OpticalConv2d(3, 3, image_size=(6, 5), hardware=IDEAL, signed=signed)
    return nn.Sequential(layer, nn.Flatten(), nn.Linear(3 * 30, 4))


def _images(n: int = 7) -> torch.Tensor:
    return torch.rand(n, 1, 6, 5, generator=torch.Generator().manual_seed(1))


def test_macs_are_channels_times_pixels_times_kernel_elements():
    assert optical_macs(_model()[0]) == 3 * 6 * 5 * 9
    assert optical_macs(_model(signed=False)[0]) == 3 * 6 * 5 * 9  # the network's MACs


@pytest.mark.parametrize("signed", [True, False])
def test_camera_signal_is_the_mean_sum_of_the_camera_pixels(signed):
    model, x = _model(signed), _images()
    layer = model[0]
    with torch.no_grad():
        a = layer.analog_result(x)  # IDEAL: no gain, no distortion before the shot noise
    assert a.shape[1] == (6 if signed else 3)  # both halves of each pair are read
    expected = a.clamp_min(0).double().sum().item() / len(x)
    assert camera_signal(model, x, batch_size=3) == pytest.approx(expected, rel=1e-6)
    assert layer.chain.shot is None and model.training  # restored


def test_exposure_sets_electrons_per_unit_and_the_detected_photons():
    model, x = _model(), _images(200)
    layer = model[0]
    s = camera_signal(model, x)
    e = set_exposure(model, 2.0, s, seed=3)
    macs = optical_macs(layer)
    assert e.macs_per_image == macs and e.photons_per_image == pytest.approx(2.0 * macs)
    assert e.electrons_per_unit == pytest.approx(2.0 * macs / s)
    shot = layer.chain.shot
    assert isinstance(shot, ShotNoise) and shot.electrons_per_unit == e.electrons_per_unit
    # Poisson counts: E Σ counts = k·S̄ = P·M per image; std of the mean sqrt(P·M / n)
    shot.eval()
    with torch.no_grad():
        a = layer.analog_result(x)
        counts = (shot(a) * e.electrons_per_unit).round().sum() / len(x)
    assert abs(counts.item() - 2.0 * macs) < 5 * math.sqrt(2.0 * macs / len(x))
    # a second exposure keeps the module (and its generator); None takes it out
    set_exposure(model, 0.5, s)
    assert layer.chain.shot is shot and shot.electrons_per_unit == pytest.approx(0.5 * macs / s)
    assert set_exposure(model, None, s) is None and layer.chain.shot is None


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_bad_exposures_are_refused(bad):
    model = _model()
    with pytest.raises(ValueError, match="photons_per_mac"):
        set_exposure(model, bad, 1.0)
    with pytest.raises(ValueError, match="camera signal"):
        set_exposure(model, 1.0, 0.0)


def test_a_model_without_one_optical_layer_is_refused():
    with pytest.raises(ValueError, match="exactly one optical layer"):
        camera_signal(nn.Sequential(nn.Flatten()), _images())


def test_the_optical_layer_is_found_and_a_model_with_two_is_refused():
    from mixsig.eval.photons import optical_layer

    model = _model()
    assert optical_layer(model) is model[0]
    with pytest.raises(ValueError, match="exactly one optical layer, found 2"):
        optical_layer(nn.Sequential(model[0], _model()[0]))
