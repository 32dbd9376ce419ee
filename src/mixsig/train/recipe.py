"""The recipe the studies share: pre-train → convert → calibrate → train hardware-aware.

Owns the steps that the demo (`mixsig.experiments.demo`), the robustness study
(`mixsig.experiments.robustness`) and the mismatch experiment (`mixsig.experiments.mismatch`)
run the same way, so that they exist once:

1. `float_start` — on the bundled MNIST digits split with ``seed`` (the global torch seed set
   to ``seed`` first), the small CNN with batch-norm trained in float (`fit`: Adam, lr 3e-3,
   batch order seeded with ``seed``);
2. `deploy` — a copy of the float network converted to a chain (`mixsig.convert`) and its
   ranges calibrated on the first 2,000 training images (4 batches of 500);
3. `train_aware` — the deployed network fine-tuned through the chain (`fit`: Adam, lr 1e-3,
   batch order seeded with ``seed + 1``); `hardware_aware` is 2 then 3.

Each study calls these in the order it always did, so every random draw (initialisation,
batch order, noise) and so every number is what it was. The resumable runs of
`mixsig.train.runner` follow their own recipe (the run config's schedule and batches).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from mixsig.config import HardwareConfig
from mixsig.data import Split, bundled_mnist
from mixsig.models import small_cnn
from mixsig.nn import convert
from mixsig.signal import calibrate
from mixsig.train.loop import fit

#: range calibration: the first CALIBRATION_SAMPLES training images in batches of CALIBRATION_BATCH
CALIBRATION_SAMPLES = 2000
CALIBRATION_BATCH = 500
FLOAT_LR = 3e-3
AWARE_LR = 1e-3


@dataclass
class FloatStart:
    """What every study starts from: its data, its float network and its seed."""

    data: Split
    net: nn.Module
    seed: int


def float_start(
    seed: int,
    *,
    epochs: int = 4,
    progress: bool = False,
    desc: str = "train",
    echo: Callable[[str], None] | None = None,
) -> FloatStart:
    """Step 1: seed torch, split the bundled MNIST digits with ``seed`` (``echo`` says how) and
    train the small CNN (batch-norm) in float for ``epochs``."""
    torch.manual_seed(seed)
    data = bundled_mnist(seed=seed)
    if echo is not None:
        echo(
            f"data: {data.name}, {len(data.x_train)} train / {len(data.x_test)} test "
            "(stratified split)"
        )
    net = small_cnn(28, batchnorm=True)
    fit(
        net,
        data.x_train,
        data.y_train,
        epochs=epochs,
        lr=FLOAT_LR,
        seed=seed,
        progress=progress,
        desc=desc,
    )
    return FloatStart(data, net, seed)


def calibration_batches(data: Split) -> list[torch.Tensor]:
    """The training images the ranges are calibrated on."""
    x = data.x_train
    return [x[i : i + CALIBRATION_BATCH] for i in range(0, CALIBRATION_SAMPLES, CALIBRATION_BATCH)]


def deploy(start: FloatStart, hardware: HardwareConfig) -> nn.Module:
    """Step 2: a copy of the float network on ``hardware``, its ranges calibrated."""
    model = convert(copy.deepcopy(start.net), hardware)
    calibrate(model, calibration_batches(start.data))
    return model


def train_aware(
    start: FloatStart,
    model: nn.Module,
    *,
    epochs: int = 2,
    progress: bool = False,
    desc: str = "train",
) -> nn.Module:
    """Step 3: fine-tune the deployed ``model`` through its chain for ``epochs``; returns it."""
    data = start.data
    return fit(
        model,
        data.x_train,
        data.y_train,
        epochs=epochs,
        lr=AWARE_LR,
        seed=start.seed + 1,
        progress=progress,
        desc=desc,
    )


def hardware_aware(
    start: FloatStart,
    hardware: HardwareConfig,
    *,
    epochs: int = 2,
    progress: bool = False,
    desc: str = "train",
) -> nn.Module:
    """Steps 2 and 3: the float network deployed on ``hardware`` and trained through it."""
    return train_aware(start, deploy(start, hardware), epochs=epochs, progress=progress, desc=desc)


__all__ = [
    "FloatStart",
    "calibration_batches",
    "deploy",
    "float_start",
    "hardware_aware",
    "train_aware",
]
