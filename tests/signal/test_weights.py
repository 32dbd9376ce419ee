"""Weight quantization and differential pairs against their definitions."""

import pytest
import torch

from mixsig.signal import WeightQuantizer, split_differential


def test_signed_per_tensor_levels():
    w = torch.tensor([-1.0, -0.5, -0.1, 0.0, 0.26, 0.9, 1.0])
    q = WeightQuantizer(3)(w)  # Δ = 1/3, codes −3..3
    torch.testing.assert_close(q, torch.tensor([-3, -2, 0, 0, 1, 3, 3]) / 3.0)


def test_per_channel_uses_each_output_channels_max():
    w = torch.tensor([[0.1, -0.2], [4.0, 1.0]])
    q = WeightQuantizer(2, "per_channel")(w)  # Δ = max|row|, codes −1..1
    torch.testing.assert_close(q, torch.tensor([[0.0, -0.2], [4.0, 0.0]]))
    qt = WeightQuantizer(2, "per_tensor")(w)
    torch.testing.assert_close(qt, torch.tensor([[0.0, 0.0], [4.0, 0.0]]))


def test_binary_weights_are_sign_times_mean_magnitude():
    w = torch.tensor([-2.0, 1.0, 0.0, 3.0])
    torch.testing.assert_close(WeightQuantizer(1)(w), torch.tensor([-1.5, 1.5, 1.5, 1.5]))


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_number_of_levels_and_error_bound(bits):
    w = torch.randn(64, 32, generator=torch.Generator().manual_seed(0))
    q = WeightQuantizer(bits)(w)
    step = w.abs().max() / (2 ** (bits - 1) - 1)
    assert torch.unique(q).numel() <= 2**bits - 1
    assert float((q - w).abs().max()) <= float(step) / 2 + 1e-6


def test_unsigned_quantizer_for_differential_halves():
    w = torch.tensor([[0.5, -1.0, 0.2]])
    wp, wn = split_differential(w)
    torch.testing.assert_close(wp - wn, w)
    assert (wp >= 0).all() and (wn >= 0).all()
    q = WeightQuantizer(2, signed=False)(wp)  # Δ = 0.5/3
    torch.testing.assert_close(q, torch.tensor([[0.5, 0.0, 1 / 6]]))


def test_gradient_is_straight_through():
    w = torch.randn(5, 3, requires_grad=True)
    WeightQuantizer(3)(w).pow(2).sum().backward()
    torch.testing.assert_close(w.grad, 2 * WeightQuantizer(3)(w.detach()))


def test_float_weights_and_bad_arguments():
    w = torch.randn(3)
    assert WeightQuantizer(None)(w) is w
    with pytest.raises(ValueError, match="weights.bits"):
        WeightQuantizer(0)
    with pytest.raises(ValueError, match="granularity"):
        WeightQuantizer(4, "per_row")
