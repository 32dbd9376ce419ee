"""Mixed-signal layers: the order of the chain, differential pairs, convert, state_dict."""

import pytest
import torch
from torch import nn

import mixsig
from mixsig import HardwareConfig, MixedConv2d, MixedLinear

IDEAL = {  # a near-ideal chain: 16-bit everything over a fixed range, no noise
    "dac": None,
    "weights": {"bits": None},
    "noise": {"sigma_lsb": 0.0},
    "adc": {"bits": 16, "signed": True, "range": "fixed", "lo": -40.0, "hi": 40.0},
}


def test_ideal_chain_matches_float_layers():
    torch.manual_seed(0)
    lin, conv = nn.Linear(20, 7), nn.Conv2d(3, 5, 3, padding=1)
    hw = HardwareConfig.model_validate(IDEAL)
    ml, mc = MixedLinear(20, 7, hardware=hw), MixedConv2d(3, 5, 3, padding=1, hardware=hw)
    ml.load_state_dict(lin.state_dict(), strict=False)
    mc.load_state_dict(conv.state_dict(), strict=False)
    x, xi = torch.randn(4, 20), torch.randn(2, 3, 8, 8)
    step = 80.0 / (2**16 - 1)
    torch.testing.assert_close(ml(x), lin(x), atol=step / 2 + 1e-6, rtol=0)
    torch.testing.assert_close(mc(xi), conv(xi), atol=step / 2 + 1e-6, rtol=0)


def test_bias_is_added_after_the_adc():
    hw = HardwareConfig.model_validate(
        {**IDEAL, "adc": {"bits": 3, "signed": True, "range": "fixed", "lo": -4.0, "hi": 3.0}}
    )
    layer = MixedLinear(3, 2, hardware=hw)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
        layer.bias.copy_(torch.tensor([0.3, -0.45]))
    y = layer(torch.tensor([[0.6, 9.0, 0.0]]))
    # ADC levels are the integers −4..3: 0.6 → 1, 9 → clipped to 3; then the digital bias
    torch.testing.assert_close(y, torch.tensor([[1.3, 2.55]]))


def test_differential_pair_is_two_unsigned_adcs_subtracted():
    hw = HardwareConfig.model_validate(
        {
            "dac": None,
            "weights": {"bits": None, "realisation": "differential"},
            "noise": {"sigma_lsb": 0.0},
            "adc": {"bits": 2, "range": "fixed", "lo": 0.0, "hi": 3.0},
        }
    )
    layer = MixedLinear(2, 1, bias=False, hardware=hw)
    assert not layer.chain.adc.signed  # auto: a differential half is an intensity
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -1.0]]))
    # W⁺x = 2.4 → 2, W⁻x = 0.6 → 1: y = 1 (a signed 2-bit ADC on 1.8 would give 2)
    torch.testing.assert_close(layer(torch.tensor([[2.4, 0.6]])), torch.tensor([[1.0]]))
    # and 0.4 − 5.0: W⁺x → 0, W⁻x clipped at 3
    torch.testing.assert_close(layer(torch.tensor([[0.4, 5.0]])), torch.tensor([[-3.0]]))


def test_adc_sign_follows_the_weights_unless_given():
    assert MixedLinear(2, 2).chain.adc.signed
    hw = HardwareConfig.model_validate({"adc": {"signed": False}})
    assert not MixedLinear(2, 2, hardware=hw).chain.adc.signed


def _cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)
    )


def test_convert_swaps_layers_and_keeps_weights():
    torch.manual_seed(1)
    model = _cnn()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = mixsig.convert(model, HardwareConfig())
    assert out is model
    assert isinstance(model[0], MixedConv2d) and isinstance(model[4], MixedLinear)
    assert isinstance(model[1], nn.BatchNorm2d)
    after = model.state_dict()
    for k, v in before.items():
        torch.testing.assert_close(after[k], v)
    assert not isinstance(mixsig.convert(_cnn(), include=lambda n, m: n != "0")[0], MixedConv2d)


def test_state_dict_round_trips_with_calibration_and_distortion():
    hw = HardwareConfig.model_validate(
        {
            "distortion": [{"kind": "gain_offset", "gain_std": 0.05, "seed": 3}],
            "weights": {"mismatch_rel_std": 0.05},
            "noise": {"sigma_lsb": 0.0},
        }
    )
    torch.manual_seed(2)
    a = mixsig.convert(_cnn(), hw)
    x = torch.rand(8, 1, 8, 8)
    mixsig.calibrate(a, [x])
    a.eval()
    ya = a(x)
    torch.manual_seed(99)  # a different initialisation, overwritten by the load
    b = mixsig.convert(_cnn(), hw)
    b.load_state_dict(a.state_dict())
    b.eval()
    torch.testing.assert_close(b(x), ya)


def test_calibrate_is_required_and_noise_changes_outputs():
    model = mixsig.convert(_cnn())
    x = torch.rand(8, 1, 8, 8)
    with pytest.raises(RuntimeError, match="mixsig.calibrate"):
        model(x)
    mixsig.calibrate(model, [x])
    assert not torch.equal(model(x), model(x))  # 0.5 LSB noise, fresh draws


def test_gradients_reach_every_weight():
    model = mixsig.convert(_cnn(), HardwareConfig.model_validate({"adc": {"gain": {}}}))
    x = torch.rand(8, 1, 8, 8)
    mixsig.calibrate(model, [x])
    model.train()
    model(x).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert float(model[0].weight.grad.abs().sum()) > 0


def test_convert_refuses_a_bare_layer():
    with pytest.raises(TypeError, match="containing layers"):
        mixsig.convert(nn.Linear(2, 2))
