"""Shared set-up of the optical-layer tests: Chang et al.'s 4f geometry, an ideal camera, the
sampling, the layer's 'same' padding and a call counter (the ``one_thread`` fixture is in
tests/conftest.py)."""

import torch
import torch.nn.functional as F

from mixsig.optics import FourierSampling

LAM, FOCAL, PITCH = 532e-9, 0.2, 6e-6
IDEAL = {  # an ideal camera: no DAC, 16-bit unsigned ADC over a fixed range, no noise
    "dac": None,
    "weights": {"bits": None},
    "noise": {"sigma_lsb": 0.0},
    "adc": {"bits": 16, "range": "fixed", "lo": 0.0, "hi": 1.0},
}


def sampling(n: int, q: int = 2) -> FourierSampling:
    return FourierSampling(LAM, FOCAL, PITCH, n, q)


def pad_same(x: torch.Tensor, k: int) -> torch.Tensor:
    """The layer's 'same' padding: k//2 before, k − 1 − k//2 after (window centre k//2)."""
    return F.pad(x, (k // 2, k - 1 - k // 2, k // 2, k - 1 - k // 2))


def count_calls(monkeypatch, name: str) -> list[int]:
    """Count the calls of ``mixsig.nn.optical.<name>`` (e.g. the OTF computation) in a test."""
    from mixsig.nn import optical as optical_module

    calls = [0]
    original = getattr(optical_module, name)

    def counted(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(optical_module, name, counted)
    return calls
