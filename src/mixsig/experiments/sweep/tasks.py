"""The work a sweep hands to a worker: `_pretrain_task` and `_run_task`.

These are the functions Dask ships to its workers. Dask pickles them *by reference* (this
module's path and the function's name), so a worker imports them from here: they must stay
module-level functions of ``mixsig.experiments.sweep.tasks``, and everything they take travels
as plain data (configs as JSON mappings, folders as strings). The inline scheduler calls the
same functions in-process.

A run task writes ``<out>/runs/<key>/``: it is skipped when ``results.json`` exists (e.g. it is
recomputed after its worker died), resumed when a checkpoint exists, and appends what the run
said to ``sweep.log`` (one block per attempt). A pre-training task fills
``<out>/pretrained/<pretrain_key>/``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from mixsig.experiments.sweep.keys import run_key
from mixsig.train import TrainConfig, pretrain, run_training
from mixsig.train.runner import CKPT_DIR


def _prepare_worker(threads: int | None) -> None:
    """Torch's threads, and glibc's malloc back to sane thresholds: Dask's nanny starts workers
    with ``MALLOC_TRIM_THRESHOLD_=65536``, which also freezes the mmap threshold at 128 KiB, so
    every activation tensor is mmap-ed, page-faulted and unmapped again — measured here as
    ~60 % of a worker's CPU time in the kernel and runs 2-4x slower than in a plain process."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    if "MALLOC_TRIM_THRESHOLD_" in os.environ:
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: 32 MiB (glibc's dynamic maximum)
            libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD: 256 MiB
        except (OSError, AttributeError):  # not glibc: nothing to tune
            pass


def _pretrain_task(cfg_json: dict, cache: str, threads: int | None) -> str:
    _prepare_worker(threads)
    cfg = TrainConfig.model_validate(cfg_json)
    return str(pretrain(cfg, cache, progress=False, echo=lambda s: None))


def _run_task(
    cfg_json: dict, key: str, out: str, threads: int | None, pretrained: Any = None
) -> dict:
    """One run into ``<out>/runs/<key>``: skipped when finished, resumed when checkpointed.
    ``pretrained`` is only a dependency (the pre-training task's result)."""
    folder = Path(out) / "runs" / key
    if (folder / "results.json").exists():  # e.g. recomputed after its worker died
        return {"key": key, "resumed": False, "skipped": True}
    _prepare_worker(threads)
    cfg = TrainConfig.model_validate(cfg_json)
    has_ckpt = (folder / CKPT_DIR / "checkpoint.json").exists()
    if has_ckpt:  # started under another name (the key ignores it): keep that one
        try:
            stored = json.loads((folder / "config.json").read_text())
            if (
                stored.get("name") != cfg.name
                and run_key(TrainConfig.model_validate(stored)) == key
            ):
                cfg = cfg.model_copy(update={"name": stored["name"]})
        except (OSError, ValueError, TypeError):
            pass
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(folder / "sweep.log", "a") as log:

        def echo(line: str) -> None:
            log.write(line + "\n")
            log.flush()

        echo(
            f"== {time.strftime('%Y-%m-%d %H:%M:%S')} pid {os.getpid()}: "
            + ("resuming from the checkpoint" if has_ckpt else "starting")
        )
        run_training(
            cfg,
            folder,
            resume=has_ckpt,
            progress=False,
            echo=echo,
            pretrained=Path(out) / "pretrained",
        )
    return {
        "key": key,
        "resumed": has_ckpt,
        "skipped": False,
        "seconds": round(time.perf_counter() - t0, 1),
    }
