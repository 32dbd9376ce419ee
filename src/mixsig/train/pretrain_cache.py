"""The pre-training cache: runs that differ only after pre-training share their phase 1.

Owns the cache's layout and entries: `pretrain_key` names everything that determines the
pre-trained state of a run config; the entry ``<cache>/<pretrain_key(cfg)>`` is a checkpoint
(`mixsig.train.checkpoint`) of the model's weights and every random state at the end of phase
1, with its key and global step. `store_pretrained` writes a run's entry, `restore_pretrained`
reads and checks one and puts a run (``mixsig.train.runner.Run``, just entered phase 1) in
that state, the same as if it had run phase 1 itself (``pretrain``,
``run_training(..., pretrained=cache)``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from mixsig.signal import collect_rng_state
from mixsig.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    restore_model,
    save_checkpoint,
    validate_meta,
)
from mixsig.train.config import TrainConfig
from mixsig.train.run_checkpoint import RunState, restore_rng


class _Run(Protocol):
    """What the cache reads and sets of a run (``mixsig.train.runner.Run``)."""

    cfg: TrainConfig
    model: nn.Module
    state: RunState


class _PretrainedMeta(BaseModel):
    """The keys of a pre-training cache entry's ``checkpoint.json`` (`store_pretrained`)."""

    model_config = ConfigDict(strict=True, extra="allow")
    pretrain_key: str
    global_step: int = Field(ge=0)


def pretrain_key(cfg: TrainConfig) -> str:
    """16 hex digits naming everything that determines the pre-trained state of ``cfg``: data,
    model, pre-training schedule, batch size and seed (and, for the optical CNN, whose camera
    takes part in pre-training, the hardware and calibration batches)."""
    cfg = cfg.with_resolved_hardware()
    d = cfg.model_dump(mode="json")
    keep = ["data", "model", "pretrain", "batch_size", "seed"]
    if cfg.model.name == "optical_cnn":
        keep += ["hardware", "calibration_batches"]
    blob = json.dumps({k: d[k] for k in keep}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def pretrained_dir(cache: Path, cfg: TrainConfig) -> Path:
    """The cache entry of ``cfg``'s pre-training (present or not)."""
    return Path(cache) / pretrain_key(cfg)


def has_pretrained(cache: Path, cfg: TrainConfig) -> bool:
    """Whether the cache holds ``cfg``'s pre-training."""
    return (pretrained_dir(cache, cfg) / "checkpoint.json").exists()


def restore_pretrained(run: _Run, cache: Path) -> bool:
    """Put ``run`` (just entered phase 1) in its state at the end of phase 1 from the cache:
    weights, every random state, progress; False when the cache has no entry for it."""
    d = pretrained_dir(cache, run.cfg)
    if not (d / "checkpoint.json").exists():
        return False
    ck = load_checkpoint(d)
    meta = validate_meta(_PretrainedMeta, ck.meta, ck.path)
    if meta.pretrain_key != d.name:
        raise CheckpointError(f"{ck.path} is not the pre-training {d.name}")
    restore_model(run.model, ck)
    restore_rng(run.model, ck)
    run.state = RunState("pretrain", run.cfg.pretrain.epochs, 0, meta.global_step)
    return True


def store_pretrained(run: _Run, cache: Path) -> None:
    """Write ``run`` at the end of phase 1 (weights, every random state now, global step) as
    the cache entry of its config."""
    d = pretrained_dir(cache, run.cfg)
    save_checkpoint(
        d,
        run.model,
        rng=collect_rng_state(run.model),
        meta={"pretrain_key": d.name, "global_step": run.state.global_step, "phase": "pretrained"},
    )


__all__ = [
    "has_pretrained",
    "pretrain_key",
    "pretrained_dir",
    "restore_pretrained",
    "store_pretrained",
]
