"""A tiny trained optical CNN run folder (configs/runs/optical_p_4bit.yaml on 1,024 bundled
digits, seconds), with a seeded random DOE instead of the Gabor synthesis."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml

from mixsig.nn import OpticalConv2d
from mixsig.train.config import TrainConfig
from mixsig.train.runner import run_training


def fast_init(self, kind, steps=150):
    """A seeded random phase instead of the 150-step Gabor synthesis (seconds per layer)."""
    n = self.sampling.doe_pixels
    g = torch.Generator().manual_seed(n)
    return 2 * math.pi * torch.rand(n, n, generator=g, dtype=torch.float64)


def train_tiny_optical_run(out: Path, *, camera_bits: int = 4) -> Path:
    cfg = yaml.safe_load(Path("configs/runs/optical_p_4bit.yaml").read_text())
    cfg["data"].update(limit_train=1024, limit_test=128)
    cfg["hardware"]["adc"]["bits"] = camera_bits
    cfg["pretrain"]["epochs"], cfg["aware"]["epochs"] = 2, 1
    cfg["eval"] = {"draws": 2, "sigma_test_lsb": [0.5]}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(OpticalConv2d, "_synthesised_init", fast_init)
        run_training(TrainConfig.model_validate(cfg), out, progress=False, echo=lambda s: None)
    return out
