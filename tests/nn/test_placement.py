"""`to_device` / `without_float64` / `model_device`: what moving a mixed-signal model does."""

import torch
from torch import nn

import mixsig
from mixsig.config.hardware import HardwareConfig
from mixsig.nn import model_device, to_device
from mixsig.nn.placement import without_float64


def _converted() -> nn.Module:
    torch.manual_seed(0)
    hw = HardwareConfig.model_validate(
        {"distortion": [{"kind": "gamma", "gamma": 0.8}], "noise": {"sigma_lsb": 0.0}}
    )
    model = mixsig.convert(nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU()), hw)
    mixsig.calibrate(model, [torch.rand(32, 16)])
    return model.eval()


def test_the_chain_keeps_float64_buffers_and_mps_needs_them_float32():
    model = _converted()
    f64 = [n for n, b in model.named_buffers() if b.dtype == torch.float64]
    assert f64, "the chain's calibration buffers are float64 (exact levels for float64 inputs)"
    x = torch.rand(256, 16)
    lsb = float(model[1].chain.adc.lsb)
    before = model(x)
    without_float64(model)
    assert not [n for n, b in model.named_buffers() if b.dtype == torch.float64]
    after = model(x)
    # the same levels, float32-rounded: a value next to a decision level (of the input DAC or
    # the ADC) may move by a level; almost all stay put
    assert torch.all((after - before).abs() <= 2 * lsb * 1.001)
    assert (after != before).float().mean() < 0.01


def test_to_device_on_the_cpu_is_model_to_and_keeps_dtypes():
    model = _converted()
    dtypes = {n: b.dtype for n, b in model.named_buffers()}
    assert to_device(model, "cpu") is model
    assert {n: b.dtype for n, b in model.named_buffers()} == dtypes
    assert model_device(model) == torch.device("cpu")
    assert model_device(nn.Sequential()) == torch.device("cpu")
    assert model_device(nn.BatchNorm1d(3, affine=False)) == torch.device("cpu")  # buffers only
