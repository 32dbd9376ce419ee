"""The run keys of a sweep: `run_key`, the one name of a run's folder and Dask task, and
`SweepRun`, an expanded run under its key.

`run_key` is 16 hex digits of the SHA-256 of the run's canonical JSON (hardware resolved,
``name`` and ``device`` left out: a run resumed on a GPU is the run started on the CPU), so
the same config has the same key whatever it is called and wherever it came from. A sweep's
folder holds each run under ``runs/<key>/``, its Dask task is ``run-<key>``, and the runs are
named ``<sweep name>-<key[:8]>`` unless the overrides name them
(`mixsig.experiments.sweep.spec`). Changing what goes into the hash orphans every stored run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from mixsig.train import TrainConfig


def run_key(cfg: TrainConfig) -> str:
    """16 hex digits of the SHA-256 of ``cfg`` as canonical JSON (sorted keys), hardware
    resolved (a path relative to the working directory), ``name`` and ``device`` left out."""
    d = cfg.with_resolved_hardware().model_dump(mode="json")
    d.pop("name", None)
    d.pop("device", None)  # where a run computes is not what it is
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class SweepRun:
    """One expanded run: its key (`run_key`), tag and labels (table columns) and config."""

    key: str
    tag: str
    labels: dict = field(default_factory=dict)
    config: TrainConfig = field(default_factory=TrainConfig)


def on_device(runs: list[SweepRun], device: str | None) -> list[SweepRun]:
    """``runs`` computing on ``device`` (None: each config's own); their keys are unchanged."""
    if device is None:
        return runs
    return [
        SweepRun(r.key, r.tag, r.labels, r.config.model_copy(update={"device": device}))
        for r in runs
    ]


__all__ = ["SweepRun", "on_device", "run_key"]
