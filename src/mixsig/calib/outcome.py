"""What `mixsig.calib.calibrate_folder` returns: `CalibrationReport` (the fits, the files written,
what was skipped and why), read by the Markdown report (`mixsig.calib.markdown`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixsig.config.hardware import HardwareConfig


@dataclass
class CalibrationReport:
    """What `calibrate_folder` did: the fits, the files written, what was skipped and why."""

    hardware: HardwareConfig
    yaml_path: Path
    maps_path: Path | None
    report_dir: Path
    markdown_path: Path
    figures: dict[str, Path]
    fits: dict[str, Any]
    transfer_choice: str | None
    full_scale_dn: float
    full_scale_source: str
    dark_dn: float | None
    skipped: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    markdown: str = ""


__all__ = ["CalibrationReport"]
