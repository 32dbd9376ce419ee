"""A run's folder: its layout, its lock and the survey made before anything is written.

Owns the names of what a run writes into ``<out>`` (``checkpoint/``, ``config.json``,
``metrics.csv``, ``results.json``; TensorBoard's ``tensorboard/`` when it is installed),
`RunFolderError`, the advisory lock a run holds on its folder (`exclusive`) and the survey
(`prepare_folder`): nothing in a run folder is lost. What a resume (or a new run) can neither
use nor overwrite — weights without their ``checkpoint.json``, results without a checkpoint, a
foreign ``config.json`` / ``metrics.csv``, anything unknown in ``checkpoint/``, a complete
temporary file never renamed into place — is refused with a `RunFolderError` listing it, and
nothing is deleted or overwritten. Only incomplete temporary files of the atomic writer
(writes killed before their rename, `mixsig.train.checkpoint.is_partial_write`) are removed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: run folders are not locked
    fcntl = None

from mixsig.train.checkpoint import CheckpointError, is_partial_write, survey_checkpoint_folder
from mixsig.train.config import TrainConfig

CKPT_DIR = "checkpoint"
RESULTS = "results.json"
CONFIG = "config.json"
METRICS = "metrics.csv"
#: the columns of ``metrics.csv`` (`mixsig.train.metrics.MetricsLog`)
METRICS_FIELDS = ["phase", "epoch", "global_step", "loss", "lr", "sigma_train_lsb"]


class RunFolderError(CheckpointError, FileExistsError):
    """A run folder this run can neither use nor overwrite; the message lists what is there.
    Nothing in it was deleted or overwritten. (A `FileExistsError` too, as it always was.)"""


def is_metrics_log(path: Path) -> bool:
    """Whether ``path`` is a run's metrics log (or its header cut short, or empty: a run
    killed before its first flush)."""
    header = ",".join(METRICS_FIELDS)
    with open(path, newline="") as fh:
        first = fh.readline()
    line = first.rstrip("\r\n")
    return line == header or (first == line and header.startswith(line))


@contextmanager
def exclusive(out: Path) -> Iterator[None]:
    """Hold ``out`` while this process runs in it: an advisory lock on the folder (released
    when the process ends, even by kill -9), so a second run or resume into the same folder
    is refused instead of interleaving its checkpoints with this one's. Where locks are not
    supported (not POSIX, some network file systems) the folder is not locked."""
    if fcntl is None:
        yield
        return
    fd = os.open(out, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderError(
                f"{out} is in use by another mixsig process (a run or resume into the same "
                "folder): wait for it to end, or choose another --out"
            ) from None
        except OSError:
            pass  # no locks on this file system
        yield
    finally:
        os.close(fd)


def prepare_folder(out: Path, resume: bool, echo: Callable[[str], None]) -> bool:
    """Survey ``out`` before anything is written (module doc): whether to resume from its
    checkpoint; refuses (`RunFolderError`) what the run could neither use nor overwrite, and
    removes only incomplete temporary files of the atomic writer."""
    ck = survey_checkpoint_folder(out / CKPT_DIR)
    if ck.sidecar is not None and not resume:
        raise RunFolderError(
            f"{out} already holds a run: pass --resume to continue it, or choose another --out"
        )
    found = list(ck.foreign)
    if ck.sidecar is None and ck.weights:
        found += [
            f"{w} (weights without their {CKPT_DIR}/checkpoint.json, which holds the config, "
            "the progress and their SHA-256: a resume cannot use them, a new run would "
            "overwrite them)"
            for w in ck.weights
        ]
    partial, blocking = _survey_top(out, fresh=ck.sidecar is None)
    found += blocking
    if found:
        listing = "".join(f"\n  - {f}" for f in found)
        raise RunFolderError(
            f"{out} cannot be {'resumed' if resume else 'used for a new run'}; it holds what "
            f"this run can neither use nor overwrite:{listing}\nNothing was deleted or "
            "overwritten: restore what is missing or move these away, or choose another --out"
        )
    for p in ck.partial + partial:
        p.unlink(missing_ok=True)
        echo(f"removed {p}: an incomplete temporary file of a write that was killed")
    return ck.sidecar is not None


def _survey_top(out: Path, fresh: bool) -> tuple[list[Path], list[str]]:
    """(incomplete temporary files to remove, what blocks) among the files the run writes
    beside ``checkpoint/``; ``fresh``: no checkpoint, so config.json and results.json would
    be overwritten. Files the run never writes (a sweep's log, notes) are left alone."""
    partial, blocking = [], []
    for p in sorted(out.glob(".*.tmp")):
        if is_partial_write(p, lambda t: t in (CONFIG, RESULTS)):
            partial.append(p)
        elif p.name.startswith((f".{CONFIG}.", f".{RESULTS}.")):
            blocking.append(f"{p} (a temporary file never renamed into place; remove it)")
    metrics = out / METRICS
    if metrics.exists() and not (metrics.is_file() and is_metrics_log(metrics)):
        blocking.append(f"{metrics} (not a mixsig metrics log; the run would overwrite it)")
    if fresh and (out / RESULTS).exists():
        blocking.append(
            f"{out / RESULTS} (the results of a run whose checkpoint is gone; a new run would "
            "overwrite them)"
        )
    if fresh and (out / CONFIG).exists() and not _is_run_config(out / CONFIG):
        blocking.append(f"{out / CONFIG} (not a mixsig run config; a new run would overwrite it)")
    return partial, blocking


def _is_run_config(path: Path) -> bool:
    """Whether ``path`` is a config.json a run wrote (a JSON object of TrainConfig's keys)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and "name" in data and set(data) <= set(TrainConfig.model_fields)


__all__ = [
    "CKPT_DIR",
    "CONFIG",
    "METRICS",
    "METRICS_FIELDS",
    "RESULTS",
    "RunFolderError",
    "exclusive",
    "is_metrics_log",
    "prepare_folder",
]
