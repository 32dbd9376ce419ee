"""What the benchmark scripts share: the machine description and the JSON result file."""

from __future__ import annotations

import json
import platform
from pathlib import Path

from mixsig._atomic import atomic_write_text


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_json(path: str | Path, data: dict) -> None:
    """Write a benchmark's result atomically (a reader never sees half a file)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=2))
