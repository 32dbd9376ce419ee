"""The method's chain in training and its last steps before deployment.

Owns what a run does to its converted network according to its method's definition
(`mixsig.config.methods.Method`): `set_training_chain` — the ADC rounding/clipping on or off
and the training noise of the current step, in the hardware-aware phase; `deploy_on_chain` —
after training, the hardware's chain (noise at the hardware's σ, ADC rounding on), the ADC
ranges re-calibrated for methods whose training never saw the ADC, and batch-norm statistics
re-estimated under the noisy forward (`reestimate_batchnorm`) for the methods that ask for it.
The training set may stay on the CPU: each batch goes to the model's device.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mixsig.config.methods import Method
from mixsig.data import to_input
from mixsig.nn import model_device
from mixsig.signal import calibrate, noise_stream, set_output_quantization, set_sigma_lsb


@torch.no_grad()
def reestimate_batchnorm(
    model: nn.Module, x: Tensor, batch_size: int, batches: int, *, deployed: bool = False
) -> None:
    """Recompute every BN layer's running statistics with the model's current (noisy) forward:
    a cumulative average over ``batches`` batches, no gradient. The whole model is in train
    mode (the training forward: pooled training noise), or with ``deployed`` only the BN
    layers are (the deployed forward: fresh evaluation noise, as the chip would add it)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns or batches == 0:
        return
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average
    model.train(not deployed)
    for bn in bns:
        bn.train()
    device = model_device(model)
    for i in range(batches):
        lo = (i * batch_size) % max(1, len(x) - batch_size + 1)
        model(to_input(x[lo : lo + batch_size], device))
    for bn, m in zip(bns, momenta):
        bn.momentum = m
    model.eval()


def set_training_chain(model: nn.Module, method: Method, sigma: float) -> None:
    """The training forward of ``method`` at training noise ``sigma`` (LSB): the ADC rounds
    and clips only for methods that train with it."""
    set_output_quantization(model, method.adc_in_training)
    set_sigma_lsb(model, sigma)


def deploy_on_chain(
    model: nn.Module,
    method: Method,
    *,
    sigma_lsb: float,
    sigma_train_lsb: float,
    x_train: Tensor,
    batch_size: int,
    calibration_batches: int,
    bn_batches: int,
) -> None:
    """After training: ``model`` on the deployed chain (noise ``sigma_lsb``, ADC rounding on);
    the ADC ranges re-calibrated on the first ``calibration_batches`` training batches and/or
    batch-norm re-estimated over ``bn_batches`` batches at ``sigma_train_lsb``, as ``method``
    says."""
    set_output_quantization(model, True)
    set_sigma_lsb(model, sigma_lsb)
    if method.recalibrate_adc_after:
        device = model_device(model)
        batches = _batches(x_train, batch_size, calibration_batches)
        calibrate(model, [to_input(b, device) for b in batches])
    if method.reestimate_batchnorm:
        set_sigma_lsb(model, sigma_train_lsb)
        reestimate_batchnorm(model, x_train, batch_size, bn_batches)
        set_sigma_lsb(model, sigma_lsb)


#: batches for the re-estimation at the test noise when the method itself re-estimates none
TEST_NOISE_BN_BATCHES = 20


def at_test_noise(
    model: nn.Module, sigma_lsb: float, x_train: Tensor, batch_size: int, batches: int, seed: int
) -> nn.Module:
    """A copy of the deployed ``model`` with its batch-norm statistics re-estimated at the
    test noise ``sigma_lsb`` over ``batches`` training batches (ADC rounding on, the noise
    following ``seed``): the deployment calibration a chip allows — unlabelled images through
    the hardware at its own noise (the deployed forward: fresh noise, only the BN layers in
    train mode). ``model`` is left as it was."""
    twin = copy.deepcopy(model)
    set_output_quantization(twin, True)
    set_sigma_lsb(twin, sigma_lsb)
    with noise_stream(twin, seed):
        reestimate_batchnorm(twin, x_train, batch_size, batches, deployed=True)
    return twin


def _batches(x: Tensor, batch_size: int, n: int) -> Sequence[Tensor]:
    return [x[i * batch_size : (i + 1) * batch_size] for i in range(n)]


__all__ = [
    "TEST_NOISE_BN_BATCHES",
    "at_test_noise",
    "deploy_on_chain",
    "reestimate_batchnorm",
    "set_training_chain",
]
