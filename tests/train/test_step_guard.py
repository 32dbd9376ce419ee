"""The warning for a learned quantizer step that Adam would overrun (`check_learned_steps`)."""

import warnings

import pytest
import torch
from torch import nn

from mixsig.signal.quantizer import ADC
from mixsig.train.loop import fit
from mixsig.train.step_guard import RATIO, check_learned_steps


def _calibrated(step: float, mode: str = "learned") -> nn.Module:
    adc = ADC(bits=8, range=mode)
    adc.start_observing()
    adc(torch.linspace(0.0, 255 * step, 1000))
    adc.finish_observing()
    return nn.Sequential(nn.Linear(4, 4), adc)


def test_a_small_learned_step_warns_and_is_named():
    model = _calibrated(1e-4)
    with pytest.warns(UserWarning, match=r"1: the learned step Δ = 9.98e-05 .* 0.003"):
        assert check_learned_steps(model, 3e-3) == ["1"]


def test_the_threshold_is_ratio_times_lr():
    model = _calibrated(1e-4)
    step = float(model[1].step.detach())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_learned_steps(model, step / RATIO * 0.99) == []
    with pytest.warns(UserWarning):
        assert check_learned_steps(model, step / RATIO * 1.01) == ["1"]


@pytest.mark.parametrize("mode", ["calibrated", "fixed"])
def test_other_ranges_and_uncalibrated_steps_are_not_checked(mode):
    model = nn.Sequential(ADC(bits=8, range="learned"))  # learned, not calibrated yet
    other = _calibrated(1e-4, "calibrated") if mode == "calibrated" else nn.Sequential(ADC(8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_learned_steps(model, 1.0) == []
        assert check_learned_steps(other, 1.0) == []


def test_fit_warns_before_it_trains():
    torch.manual_seed(0)
    model = nn.Sequential(_calibrated(1e-4)[1], nn.Flatten(), nn.Linear(4, 2))
    x, y = torch.rand(8, 4) * 0.02, torch.randint(0, 2, (8,))
    with pytest.warns(UserWarning, match="learned step"):
        fit(model, x, y, epochs=1, lr=3e-3, batch_size=8)
