"""End to end: a CNN converted with `mixsig.convert` trains on scikit-learn's 8×8 digits to
> 90 % test accuracy through a 4-bit DAC/weight/ADC chain with 0.5 LSB of noise."""

import copy

import torch

import mixsig
from mixsig.data import bundled_digits
from mixsig.models import small_cnn
from mixsig.train import accuracy, fit, mc_accuracy


def test_converted_cnn_trains_on_digits_through_a_noisy_4bit_chain():
    torch.manual_seed(0)
    data = bundled_digits(seed=0)
    net = small_cnn(8, kernel_size=3, padding=1, batchnorm=True, channels=(16, 32))
    fit(net, data.x_train, data.y_train, epochs=8, lr=3e-3, seed=0)
    assert accuracy(net, data.x_test, data.y_test) > 0.95  # the float network

    hw = mixsig.HardwareConfig()  # 4-bit DAC, weights and ADC; 0.5 LSB noise
    assert hw.adc.bits == 4 and hw.noise.sigma_lsb == 0.5
    model = mixsig.convert(copy.deepcopy(net), hw)
    mixsig.calibrate(model, [data.x_train[:512]])
    float_on_chain, _ = mc_accuracy(model, data.x_test, data.y_test, draws=5)
    fit(model, data.x_train, data.y_train, epochs=5, lr=1e-3, seed=1)
    mean, std = mc_accuracy(model, data.x_test, data.y_test, draws=5)
    assert mean > 0.90, (mean, std)
    assert std < 0.02
    # and the hardware-aware training is what got it there
    assert mean > float_on_chain + 0.02, (float_on_chain, mean)
