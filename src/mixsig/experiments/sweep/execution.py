"""Running a sweep: `run_sweep`, its inline and Dask executors and `SweepFailed`.

Owns what happens to each run of a sweep — finished, interrupted, killed or failing — and the
order of the writes into the sweep folder (layout: `mixsig.experiments.sweep`).

**Semantics**: a run whose ``results.json`` exists is skipped (not even submitted); one with a
checkpoint is resumed; every distinct pre-training a pending run needs is done once, before
it (with Dask: a task the run tasks depend on). A task that raises is retried ``retries``
times; a run retried after a crash resumes from its last checkpoint, so nothing finished is
lost. With Dask, a worker process that dies (killed, out of memory) is restarted by its nanny
and its task rescheduled on a live worker — Dask allows ``distributed.scheduler.allowed-failures``
(default 3) such deaths per task before failing it with ``KilledWorker``. Runs that still fail
do not stop the others: the table is written with everything that finished, then a
`SweepFailed` names the failed runs and their errors.

Schedulers: ``None`` starts a `distributed.LocalCluster` of worker processes for the sweep (call
`run_sweep` under ``if __name__ == "__main__":`` in scripts: workers are spawned); an address
(``tcp://host:8786``) uses a running scheduler, whose workers must import this mixsig and see
the output folder at the same path; ``"inline"`` runs everything serially in this process,
without Dask. Dask (the ``dist`` extra) is imported only when used. Either way the work itself
is the task functions of `mixsig.experiments.sweep.tasks`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from mixsig._atomic import atomic_write_text
from mixsig.errors import MixsigError
from mixsig.experiments.sweep.keys import SweepRun
from mixsig.experiments.sweep.table import collect, write_table
from mixsig.experiments.sweep.tasks import _pretrain_task, _run_task
from mixsig.train import TrainConfig, pretrain_key
from mixsig.train.runner import CKPT_DIR


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}".strip()


def _run_name(r: SweepRun) -> str:
    """A run as a reader finds it: its name, tag and labels, and its folder key."""
    labels = ", ".join(f"{k}={v}" for k, v in r.labels.items())
    return f"{r.config.name} [{r.tag}{': ' + labels if labels else ''}] (runs/{r.key})"


class SweepFailed(MixsigError, RuntimeError):
    """Runs of a sweep that still failed after their retries; ``failures`` maps each run's
    description (name, tag, labels, folder) to its error. The table holds every run that
    finished. (A `MixsigError`: the command line prints it and exits 2.)"""

    def __init__(self, failures: dict[str, str], total: int, table: Path) -> None:
        self.failures = failures
        lines = "\n".join(f"  {name}: {err}" for name, err in failures.items())
        super().__init__(
            f"{len(failures)} of {total} sweep runs failed ({table} holds the runs that "
            f"finished):\n{lines}"
        )


@dataclass
class _Plan:
    """What a sweep has left to do, as found in its folder."""

    runs: list[SweepRun]  # every run, its hardware resolved (the table's runs)
    unique: dict[str, SweepRun]  # run key -> its first run: each key is trained once
    finished: set[str]  # the keys whose results.json exists: skipped
    todo: list[SweepRun]  # the runs to train, one per key
    needs: dict[str, str | None]  # run key -> the pre-training it waits for
    pre: dict[str, TrainConfig]  # pretrain key -> a config that pre-trains it


def _plan(runs: Sequence[SweepRun], out: Path) -> _Plan:
    """Create ``out``'s folders, write ``sweep.json`` (atomically, first) and find what is
    finished, what is left and which pre-trainings the runs left need."""
    (out / "runs").mkdir(parents=True, exist_ok=True)
    cache = out / "pretrained"
    cache.mkdir(exist_ok=True)
    runs = [SweepRun(r.key, r.tag, r.labels, r.config.with_resolved_hardware()) for r in runs]
    listing = [
        {"key": r.key, "tag": r.tag, "labels": r.labels, "config": r.config.model_dump(mode="json")}
        for r in runs
    ]
    atomic_write_text(out / "sweep.json", json.dumps(listing, indent=1))

    unique: dict[str, SweepRun] = {}
    for r in runs:
        unique.setdefault(r.key, r)
    finished = {k for k in unique if (out / "runs" / k / "results.json").exists()}
    todo = [r for k, r in unique.items() if k not in finished]
    needs: dict[str, str | None] = {}  # run key -> the pre-training it waits for
    pre: dict[str, TrainConfig] = {}
    for r in todo:
        pk = pretrain_key(r.config)
        if (out / "runs" / r.key / CKPT_DIR / "checkpoint.json").exists() or (
            cache / pk / "checkpoint.json"
        ).exists():
            needs[r.key] = None
        else:
            needs[r.key] = pk
            pre.setdefault(pk, r.config)
    return _Plan(runs, unique, finished, todo, needs, pre)


def run_sweep(
    runs: Sequence[SweepRun],
    out: str | os.PathLike,
    *,
    scheduler: str | None = None,
    workers: int = 2,
    threads_per_worker: int = 1,
    retries: int = 2,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> Path:
    """Run every pending run of ``runs`` into ``out`` (layout: `mixsig.experiments.sweep`;
    semantics: this module's docstring) and write the tidy table; returns the path of
    ``results.csv``.

    ``scheduler``: None (a local cluster of ``workers`` processes with ``threads_per_worker``
    threads each, started and closed here), ``"inline"`` (serially, in this process) or the
    address of a running Dask scheduler. Raises `SweepFailed` naming the runs that still
    failed after ``retries`` retries (each with its name, tag, labels and error), once the
    table holds every run that finished.
    """
    out = Path(out)
    plan = _plan(runs, out)
    runs, unique = plan.runs, plan.unique
    write_table(collect(runs, out), out)

    outcomes: dict[str, dict] = {}
    failures: dict[str, str] = {}

    def completed(key: str, outcome: dict | None, error: str | None) -> None:
        if error is not None:
            failures[key] = error
            echo(f"run {_run_name(unique[key])} failed: {error}")
        else:
            outcomes[key] = outcome
            if outcome.get("resumed"):
                echo(f"run {key} resumed from its checkpoint")
        write_table(collect(runs, out), out)

    if plan.todo:
        _execute(plan, out, scheduler, workers, threads_per_worker, retries, progress, completed)

    table = write_table(collect(runs, out), out)
    resumed = sum(bool(o.get("resumed")) for o in outcomes.values())
    echo(
        f"sweep: {len(outcomes)} done ({resumed} resumed), {len(plan.finished)} skipped, "
        f"{len(failures)} failed, of {len(unique)} runs -> {table}"
    )
    if failures:
        raise SweepFailed(
            {_run_name(unique[k]): e for k, e in failures.items()}, len(unique), table
        )
    return table


def _execute(
    plan: _Plan, out: Path, scheduler, workers, threads, retries, progress, completed
) -> None:
    """Train ``plan.todo`` on ``scheduler`` under a progress bar over every run of the sweep;
    ``completed(key, outcome, error)`` is called as each run ends."""
    bar = tqdm(
        total=len(plan.unique),
        initial=len(plan.finished),
        desc="runs",
        unit="run",
        disable=not progress,
    )
    try:
        if scheduler == "inline":
            _inline(plan.todo, plan.needs, plan.pre, out, retries, completed, bar)
        else:
            _dask(
                plan.todo,
                plan.needs,
                plan.pre,
                out,
                scheduler,
                workers,
                threads,
                retries,
                completed,
                bar,
            )
    finally:
        bar.close()


def _inline(todo, needs, pre, out: Path, retries: int, completed, bar) -> None:
    def attempt(fn, *args):
        for i in range(retries + 1):
            try:
                return fn(*args), None
            except Exception as err:  # noqa: BLE001 - reported with the run's key
                if i == retries or isinstance(err, MixsigError):  # bad input: no retry helps
                    return None, _describe(err)
        raise AssertionError("unreachable")

    pre_errors = {}
    for pk, cfg in pre.items():
        _, err = attempt(_pretrain_task, cfg.model_dump(mode="json"), str(out / "pretrained"), None)
        if err is not None:
            pre_errors[pk] = err
    for r in todo:
        pk = needs[r.key]
        if pk in pre_errors:
            completed(r.key, None, f"pre-training {pk} failed: {pre_errors[pk]}")
        else:
            outcome, err = attempt(
                _run_task, r.config.model_dump(mode="json"), r.key, str(out), None
            )
            completed(r.key, outcome, err)
        bar.update()


def _dask(
    todo, needs, pre, out: Path, scheduler, workers, threads, retries, completed, bar
) -> None:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=threads,
            processes=True,  # each worker behind a nanny, which restarts it when it dies
            dashboard_address=None,
        )
        client = Client(cluster, set_as_default=False)
    else:
        client = Client(scheduler, set_as_default=False)
    try:
        pre_futures = {
            pk: client.submit(
                _pretrain_task,
                cfg.model_dump(mode="json"),
                str(out / "pretrained"),
                threads,
                key=f"pretrain-{pk}",
                retries=retries,
                pure=False,
            )
            for pk, cfg in pre.items()
        }
        futures = {
            client.submit(
                _run_task,
                r.config.model_dump(mode="json"),
                r.key,
                str(out),
                threads,
                pre_futures[needs[r.key]] if needs[r.key] else None,
                key=f"run-{r.key}",
                retries=retries,
                pure=False,
            ): r.key
            for r in todo
        }
        # as_completed looks up the default client unless given its loop; ours is not the
        # default (set_as_default=False leaves a caller's own client alone)
        for fut in as_completed(list(futures), loop=client.loop):
            outcome, error = None, None
            if fut.status == "finished":
                try:
                    outcome = fut.result()
                except Exception as err:  # noqa: BLE001 - e.g. lost with its worker, then failed
                    error = _describe(err)
            elif fut.status == "cancelled":
                error = "cancelled (the scheduler dropped the task)"
            else:
                error = _describe(fut.exception())
            completed(futures[fut], outcome, error)
            bar.update()
        del pre_futures, futures
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


__all__ = ["SweepFailed", "run_sweep"]
