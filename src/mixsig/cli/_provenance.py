"""The footer a study's figure carries: the command that made it, the date and the hardware."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import sys
from pathlib import Path


def cpu_name() -> str:
    """The CPU model (Linux: /proc/cpuinfo), else what `platform` knows."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        names = [ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln]
        cpu = names[0].split(":", 1)[1].strip() if names else cpu
    return cpu


def footer() -> str:
    """``mixsig <arguments>``, then the date, the cores and CPU model, the torch version."""
    import torch

    return (
        "mixsig " + " ".join(sys.argv[1:]) + f"\n{datetime.date.today()}, "
        f"{os.cpu_count()}-core {cpu_name()}, torch {torch.__version__}"
    )
