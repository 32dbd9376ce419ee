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

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mixsig.config.methods import Method
from mixsig.data import to_input
from mixsig.nn import model_device
from mixsig.signal import calibrate, set_output_quantization, set_sigma_lsb


@torch.no_grad()
def reestimate_batchnorm(model: nn.Module, x: Tensor, batch_size: int, batches: int) -> None:
    """Recompute every BN layer's running statistics with the model's current (noisy) forward:
    a cumulative average over ``batches`` batches in train mode, no gradient."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns or batches == 0:
        return
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average
    model.train()
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


def _batches(x: Tensor, batch_size: int, n: int) -> Sequence[Tensor]:
    return [x[i * batch_size : (i + 1) * batch_size] for i in range(n)]


__all__ = ["deploy_on_chain", "reestimate_batchnorm", "set_training_chain"]
