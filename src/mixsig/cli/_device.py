"""The ``--device`` option shared by the commands that train or evaluate.

``--device`` (auto, cpu, cuda, cuda:N, mps) overrides a run config's ``device``; without it the
config's own value holds (default ``auto``). A name this installation cannot use is refused by
`mixsig.config.device.resolve_device` (exit status 2, see `mixsig.cli._errors`).
"""

from __future__ import annotations

import typer

from mixsig.config.device import DEVICE_HELP, resolve_device


def device_option() -> object:
    """A fresh ``--device`` Typer option (default: the config's own device)."""
    return typer.Option(
        None, "--device", help=f"where to compute: {DEVICE_HELP} (default: the config's device)"
    )


def checked_device(device: str | None) -> str | None:
    """``device`` after checking that it names a device this installation has; None stays."""
    if device is not None:
        resolve_device(device)
    return device


def with_device(cfg, device: str | None):
    """The run config ``cfg`` computing on ``device`` (unchanged when None)."""
    device = checked_device(device)
    return cfg if device is None else cfg.model_copy(update={"device": device})


__all__ = ["checked_device", "device_option", "with_device"]
