"""A checkpoint states every converter as the forward uses it, and no buffer disagrees: a
reader who rebuilds the ADC from the sidecar's lo/hi gets the trained network's outputs."""

import json

import pytest
import torch
from torch import nn

import mixsig
from mixsig.signal import ADC, converter_settings
from mixsig.train.checkpoint import save_checkpoint


def _learned_adc_after_training() -> ADC:
    torch.manual_seed(0)
    adc = ADC(bits=4, signed=True, range="learned")
    adc.start_observing()
    adc(torch.randn(4096))
    adc.finish_observing()
    with torch.no_grad():
        adc.step.mul_(1.37)  # what training does to a learned step
    return adc


def test_a_learned_adcs_stored_lo_follows_its_step():
    adc = _learned_adc_after_training()
    step = float(adc.step.detach())
    lo_forward = -8 * step  # signed 4-bit: codes −8..7
    state = adc.state_dict()
    assert float(state["_lo"]) == lo_forward  # it kept the calibration's lo before
    assert adc.settings()["lo"] == lo_forward
    assert adc.settings()["hi"] == pytest.approx(7 * step, rel=1e-6)


def test_the_stated_range_reproduces_the_learned_adc():
    adc = _learned_adc_after_training()
    s = adc.settings()
    fixed = ADC(bits=s["bits"], lo=s["lo"], hi=s["hi"], range="fixed")
    x = torch.randn(10_000) * 3
    torch.testing.assert_close(fixed(x), adc(x), rtol=0, atol=1e-6)


def test_the_checkpoint_sidecar_states_every_converter(tmp_path):
    hw = mixsig.HardwareConfig.model_validate(
        {"adc": {"bits": 3, "range": "learned", "signed": True}}
    )
    model = mixsig.convert(nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2)), hw)
    mixsig.calibrate(model, [torch.rand(64, 6)])
    with torch.no_grad():
        for adc in (m for m in model.modules() if isinstance(m, ADC)):
            adc.step.mul_(0.8)
    path = save_checkpoint(tmp_path, model, meta={"global_step": 1})
    stated = json.loads(path.read_text())["converters"]
    assert stated == json.loads(json.dumps(converter_settings(model)))
    assert set(stated) == {"0.dac", "0.chain.adc", "2.dac", "2.chain.adc"}
    adc = stated["0.chain.adc"]
    assert adc["role"] == "adc" and adc["bits"] == 3 and adc["range"] == "learned"
    assert adc["lo"] == -4 * adc["step"] and adc["hi"] == pytest.approx(3 * adc["step"])
    assert stated["0.dac"]["role"] == "dac"
