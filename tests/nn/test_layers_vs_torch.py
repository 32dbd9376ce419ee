"""Every option of `nn.Linear`, `nn.Conv1d` and `nn.Conv2d` gives, on a near-ideal chain (16-bit
ADC over a fixed range, float weights and inputs, no noise), what PyTorch gives — for both weight
realisations (signed, and differential W⁺ − W⁻), and through `convert`.

Realisations: ``signed``; ``differential`` with a signed ADC and signed inputs (an electronic
crossbar with conductance pairs); ``intensity``: differential on two unsigned ADCs with
non-negative inputs (incoherent optics: light intensities, the default ADC of a differential
layer). The tolerance is the ADC's own: half a step for a signed layer, a whole step for a
differential one (two roundings subtracted).
"""

import warnings

import pytest
import torch
from torch import nn

import mixsig
from mixsig import HardwareConfig, MixedConv2d, MixedLinear
from mixsig.nn import MixedConv1d

FULL_SCALE = 40.0
BITS = 16


def _lo(realisation: str) -> float:
    return 0.0 if realisation == "intensity" else -FULL_SCALE


def _hardware(realisation: str) -> HardwareConfig:
    weights = "signed" if realisation == "signed" else "differential"
    adc = {"bits": BITS, "range": "fixed", "lo": _lo(realisation), "hi": FULL_SCALE}
    if realisation == "differential":
        adc["signed"] = True
    return HardwareConfig.model_validate(
        {
            "dac": None,
            "weights": {"bits": None, "realisation": weights},
            "noise": {"sigma_lsb": 0.0},
            "adc": adc,
        }
    )


def _tolerance(realisation: str) -> float:
    step = (FULL_SCALE - _lo(realisation)) / (2**BITS - 1)
    return (step / 2 if realisation == "signed" else step) + 1e-5


def _input(*shape: int, realisation: str) -> torch.Tensor:
    x = torch.randn(shape)
    return x.abs() if realisation == "intensity" else x


def _mixed_twin(layer: nn.Module, realisation: str) -> nn.Module:
    model = mixsig.convert(nn.Sequential(layer), _hardware(realisation))
    twin = model[0]
    assert type(twin) is not type(layer), f"{type(layer).__name__} was not converted"
    return twin


REALISATIONS = ["signed", "differential", "intensity"]

LINEAR_SHAPES = [(9,), (4, 9), (4, 7, 9), (2, 3, 5, 9), (0, 9)]


@pytest.mark.parametrize("realisation", REALISATIONS)
@pytest.mark.parametrize("shape", LINEAR_SHAPES, ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch_for_every_input_shape(realisation, shape, bias):
    torch.manual_seed(0)
    ref = nn.Linear(9, 7, bias=bias)
    twin = _mixed_twin(ref, realisation)
    x = _input(*shape, realisation=realisation)
    y = twin(x)
    assert y.shape == ref(x).shape
    torch.testing.assert_close(y, ref(x), atol=_tolerance(realisation), rtol=0)


def test_linear_on_three_dims_with_as_many_tokens_as_outputs():
    # T = out: the split and the bias on dim 1 used to pass silently, 46 % off
    torch.manual_seed(1)
    ref = nn.Linear(6, 5)
    twin = _mixed_twin(ref, "intensity")
    x = _input(3, 5, 6, realisation="intensity")
    torch.testing.assert_close(twin(x), ref(x), atol=_tolerance("intensity"), rtol=0)


CONV2D_OPTIONS = [
    dict(),
    dict(stride=2),
    dict(stride=(2, 1), padding=(1, 2)),
    dict(padding=1),
    dict(padding="same"),
    dict(padding="valid"),
    dict(padding=2, dilation=2),
    dict(padding=1, padding_mode="reflect"),
    dict(padding=1, padding_mode="replicate"),
    dict(padding=1, padding_mode="circular"),
    dict(padding=1, groups=2),
    dict(padding=1, groups=3, stride=2),
    dict(padding=1, groups=6, out_channels=6),  # depthwise
    dict(padding=1, groups=6, out_channels=12),  # depthwise, multiplier 2
    dict(padding=1, groups=2, padding_mode="circular", dilation=2, bias=False),
    dict(bias=False),
]


@pytest.mark.parametrize("realisation", REALISATIONS)
@pytest.mark.parametrize("opts", CONV2D_OPTIONS, ids=lambda o: repr(o) if o else "default")
def test_conv2d_matches_torch_for_every_option(realisation, opts):
    torch.manual_seed(0)
    opts = dict(opts)
    out = opts.pop("out_channels", 6)
    ref = nn.Conv2d(6, out, 3, **opts)
    twin = _mixed_twin(ref, realisation)
    x = _input(2, 6, 9, 8, realisation=realisation)
    torch.testing.assert_close(twin(x), ref(x), atol=_tolerance(realisation), rtol=0)


CONV1D_OPTIONS = [
    dict(),
    dict(stride=2, padding=1),
    dict(padding="same", dilation=2),
    dict(padding=1, padding_mode="reflect"),
    dict(padding=1, padding_mode="circular", groups=2),
    dict(padding=1, groups=4, out_channels=8, bias=False),
]


@pytest.mark.parametrize("realisation", REALISATIONS)
@pytest.mark.parametrize("opts", CONV1D_OPTIONS, ids=lambda o: repr(o) if o else "default")
def test_conv1d_is_converted_and_matches_torch(realisation, opts):
    torch.manual_seed(0)
    opts = dict(opts)
    out = opts.pop("out_channels", 6)
    ref = nn.Conv1d(4, out, 3, **opts)
    twin = _mixed_twin(ref, realisation)
    assert isinstance(twin, MixedConv1d)
    x = _input(3, 4, 11, realisation=realisation)
    torch.testing.assert_close(twin(x), ref(x), atol=_tolerance(realisation), rtol=0)
    x1 = _input(4, 11, realisation=realisation)  # unbatched, as nn.Conv1d takes it
    torch.testing.assert_close(twin(x1), ref(x1), atol=_tolerance(realisation), rtol=0)


def test_unbatched_conv2d_matches_torch():
    torch.manual_seed(0)
    ref = nn.Conv2d(3, 4, 3, padding=1, groups=1)
    twin = _mixed_twin(ref, "intensity")
    x = _input(3, 7, 7, realisation="intensity")
    torch.testing.assert_close(twin(x), ref(x), atol=_tolerance("intensity"), rtol=0)


@pytest.mark.parametrize("realisation", REALISATIONS)
def test_grouped_differential_gradients_match_torch(realisation):
    torch.manual_seed(2)
    ref = nn.Conv2d(4, 8, 3, padding=1, groups=4)
    twin = _mixed_twin(ref, realisation)
    x = _input(2, 4, 6, 6, realisation=realisation)
    r = torch.randn(2, 8, 6, 6)  # a linear loss: with straight-through rounding, exact grads
    (twin(x) * r).sum().backward()
    (ref(x) * r).sum().backward()
    torch.testing.assert_close(twin.weight.grad, ref.weight.grad, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(twin.bias.grad, ref.bias.grad, atol=1e-4, rtol=1e-4)


def test_groups_one_layout_is_unchanged():
    """groups = 1 keeps W⁺ stacked above W⁻ (the layout every reported run used)."""
    torch.manual_seed(3)
    layer = MixedConv2d(2, 3, 3, hardware=_hardware("differential"))
    w = layer.analog_weight()
    torch.testing.assert_close(w[:3], layer.weight.clamp_min(0))
    torch.testing.assert_close(w[3:], (-layer.weight).clamp_min(0))


def test_grouped_layout_keeps_each_pair_in_its_group():
    layer = MixedConv2d(2, 4, 1, groups=2, bias=False, hardware=_hardware("differential"))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([1.0, -2.0, 3.0, -4.0]).view(4, 1, 1, 1))
    w = layer.analog_weight().view(-1).tolist()
    # group 0: W⁺ of outputs 0, 1 then their W⁻; then group 1
    assert w == [1.0, 0.0, 0.0, 2.0, 3.0, 0.0, 0.0, 4.0]


class _Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.mha = nn.MultiheadAttention(8, 2, batch_first=True)
        self.up = nn.ConvTranspose2d(2, 2, 2)
        self.head = nn.Linear(8, 3)


def test_convert_warns_about_every_layer_that_stays_digital():
    model = _Attention()
    with pytest.warns(UserWarning) as caught:
        mixsig.convert(model, _hardware("signed"))
    text = " ".join(str(w.message) for w in caught)
    assert "mha" in text and "MultiheadAttention" in text
    assert "up" in text and "ConvTranspose2d" in text
    assert isinstance(model.head, MixedLinear)


def test_convert_strict_refuses_layers_it_cannot_convert():
    model = _Attention()
    with pytest.raises(TypeError, match=r"mha.*MultiheadAttention|ConvTranspose2d"):
        mixsig.convert(model, _hardware("signed"), strict=True)
    assert type(model.head) is nn.Linear  # nothing was changed


def test_convert_is_quiet_when_everything_is_converted_or_excluded_on_purpose():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mixsig.convert(model, _hardware("signed"), include=lambda name, m: name != "3")
    assert isinstance(model[0], MixedConv2d) and type(model[3]) is nn.Linear
