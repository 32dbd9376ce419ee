"""What a run's checkpoint holds besides the tensors, and the checks a resume makes of it.

Owns a run's progress (`RunState`: phase of `PHASES`, epoch, step), its keys of
``checkpoint/checkpoint.json`` (`RunMeta`, written by ``mixsig.train.runner.Run.save``) and
what a resume checks before it continues (``Run.restore``): the config is the run's but for
what a resume may change (`check_config`: ``data.root`` at any time — the data folder moved —,
``device`` — saved on one device, resumed on another — and, once training is complete,
``eval``), the progress lies within the config's phase
(`check_progress`), the learning-rate schedule (`restore_scheduler`) and the random states
(`restore_rng`) fit this run. A checkpoint that does not fit is refused with a
`CheckpointError` naming the key. The tensors and the file format are
`mixsig.train.checkpoint`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from mixsig.signal import restore_rng_state
from mixsig.train.checkpoint import Checkpoint, CheckpointError
from mixsig.train.config import TrainConfig

PHASES = ("pretrain", "aware", "done")


@dataclass
class RunState:
    """Where a run is: its phase (one of `PHASES`), the epoch and step within it, and the
    steps taken over all phases."""

    phase: str = "pretrain"
    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0


class RunMeta(BaseModel):
    """A run's keys of ``checkpoint/checkpoint.json`` (`Run.save`); checkpoints written before
    the kernel-space optical recipe have no ``synthesis``."""

    model_config = ConfigDict(strict=True, extra="allow")
    config: dict[str, Any]
    phase: Literal["pretrain", "aware", "done"]
    epoch: int = Field(ge=0)
    step_in_epoch: int = Field(ge=0)
    global_step: int = Field(ge=0)
    scheduler: dict[str, Any] | None
    data: str | None = None
    synthesis: dict[str, float] | None = None


def check_config(meta: RunMeta, cfg: TrainConfig, path: Path, echo: Callable[[str], None]) -> None:
    """The checkpoint's config is ``cfg``, but for what a resume may change (and says)."""
    current = cfg.model_dump(mode="json")
    changed = config_changes(meta.config, current, meta.phase)
    if changed:
        raise CheckpointError(
            f"{path} was written by a different config (it differs in "
            f"{', '.join(changed)}); resume with the same one (or start a new --out folder)"
        )
    old_root, new_root = (meta.config.get("data") or {}).get("root"), current["data"]["root"]
    if old_root != new_root:
        echo(f"data.root changed since the checkpoint: {old_root} -> {new_root}")
    if meta.config.get("eval") != current["eval"]:
        echo("evaluation settings changed since the checkpoint: evaluating with these")


def check_progress(meta: RunMeta, cfg: TrainConfig, steps_per_epoch: int, path: Path) -> None:
    """The checkpoint's progress lies within its phase (of ``cfg``)."""
    if meta.phase == "done":
        return
    epochs, spe = getattr(cfg, meta.phase).epochs, steps_per_epoch
    if meta.epoch > epochs or meta.step_in_epoch > spe:
        raise CheckpointError(
            f"{path}: key 'epoch'/'step_in_epoch' ({meta.epoch}, {meta.step_in_epoch}) lie "
            f"beyond phase {meta.phase!r} of this config ({epochs} epochs of {spe} steps)"
        )


def restore_scheduler(sched: Any, meta: RunMeta, path: Path) -> None:
    """Load the checkpoint's learning-rate schedule into ``sched`` (a fresh one of the run's)."""
    if meta.scheduler is None:
        raise CheckpointError(
            f"{path}: key 'scheduler' is null in phase {meta.phase!r}, which needs the "
            "learning-rate schedule's state"
        )
    fresh = sched.state_dict()
    wrong = [
        k
        for k in ("last_epoch", "_step_count", "base_lrs", "T_max")
        if type(meta.scheduler.get(k)) is not type(fresh[k])
    ]
    if wrong:
        raise CheckpointError(
            f"{path}: key 'scheduler' does not fit this run's schedule: "
            f"{', '.join(f'{k}={meta.scheduler.get(k)!r}' for k in wrong)}"
        )
    sched.load_state_dict(meta.scheduler)


def restore_rng(model: nn.Module, ck: Checkpoint) -> None:
    """Put every random state (global and ``model``'s noise streams) where ``ck`` left it."""
    try:
        restore_rng_state(model, ck.rng)
    except (KeyError, RuntimeError, TypeError, ValueError) as err:
        raise CheckpointError(f"{ck.path}: its random states do not fit: {err!r}") from None


def config_changes(stored: dict, current: dict, phase: str) -> list[str]:
    """The config's top-level keys in which a resume differs from its checkpoint, leaving out
    what a resume may change: ``data.root`` (the data folder moved), ``device`` and, once
    training is complete, ``eval``."""
    a, b = _resumable_view(stored, phase), _resumable_view(current, phase)
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def _resumable_view(cfg: dict, phase: str) -> dict:
    view = dict(cfg)
    view.pop("device", None)  # saved on one device, resumed on another
    if isinstance(view.get("data"), dict):
        view["data"] = {**view["data"], "root": None}
    if phase == "done":
        view.pop("eval", None)
    return view


__all__ = [
    "PHASES",
    "RunMeta",
    "RunState",
    "check_config",
    "check_progress",
    "config_changes",
    "restore_rng",
    "restore_scheduler",
]
