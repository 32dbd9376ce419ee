"""Where a run computes: the ``device`` field and its resolution to a `torch.device`.

Owns the device names a config or the command line may give and what each means:

* ``auto`` (default): the first CUDA GPU when CUDA is present, else the CPU (MPS is never
  chosen automatically: its float32-only arithmetic changes results, so it is asked for by name);
* ``cpu``; ``cuda`` (the current CUDA device) or ``cuda:N``; ``mps`` (Apple GPUs).

`resolve_device` refuses, with a `DeviceError` naming what was given and what this installation
offers, a name outside that list, CUDA where torch sees no CUDA device, an index past the last
GPU, and MPS where it is not available.
"""

from __future__ import annotations

import re

import torch

from mixsig.errors import MixsigError

#: the device names a config accepts (``cuda:N``: any GPU index N ≥ 0)
DEVICE_PATTERN = r"^(auto|cpu|cuda|cuda:[0-9]+|mps)$"
DEVICE_HELP = "auto, cpu, cuda, cuda:N or mps"


class DeviceError(MixsigError):
    """A device that is not a device name, or one this installation does not have."""


def available_devices() -> list[str]:
    """The devices torch can use here, by name (``cpu`` first)."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """The `torch.device` that ``spec`` names (see the module docstring); None means auto."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = "auto" if spec is None else str(spec).strip()
    if not re.match(DEVICE_PATTERN, spec):
        raise DeviceError(f"device {spec!r} is not a device name: use {DEVICE_HELP}")
    if spec == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    here = ", ".join(available_devices())
    if spec == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError(
                f"device 'mps' was asked for, but torch has no MPS here (has: {here})"
            )
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise DeviceError(
            f"device {spec!r} was asked for, but torch sees no CUDA device here (torch "
            f"{torch.__version__}, has: {here}); use device: cpu or auto"
        )
    device = torch.device(spec)
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise DeviceError(
            f"device {spec!r} was asked for, but there are {count} CUDA device(s), "
            f"cuda:0 to cuda:{count - 1}"
        )
    return device


__all__ = ["DEVICE_HELP", "DEVICE_PATTERN", "DeviceError", "available_devices", "resolve_device"]
