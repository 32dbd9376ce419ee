"""Parameter sweeps over training runs, serial or on a Dask cluster: `load_sweep`, `run_sweep`.

Owns the sweep spec, the run keys, the layout of a sweep folder and what happens to a run that
is finished, interrupted, killed or failing.

**Spec** (YAML, `SweepConfig`; unknown keys refused)::

    name: my-sweep
    base: configs/runs/p_4bit.yaml        # a TrainConfig YAML (relative to the sweep file)
                                          # or an inline mapping
    runs:                                 # override mappings (default [{}]); reserved keys:
      - {tag: methods, method.name: P}    #   tag (a label) and labels (extra table columns)
      - {tag: methods, method.name: B1}
    grid:                                 # dotted path -> values; the product is applied to
      seed: [0, 1, 2]                     # every run entry
      hardware.adc.bits: [3, 4]

The expansion is, for each run entry in order, every grid point in order: the base with the
grid point's values, then the entry's overrides, applied (so an entry overrides the grid on the
same key). A dotted key sets a nested field (``hardware.noise.sigma_lsb``, ``eval.sigma_test_lsb``;
a number indexes a list: ``hardware.distortion.0.gamma``); every key must name a field of the
base (all defaults filled in; below a null section only validation checks the keys). A mapping
value is merged into the section it sets (unless its ``kind`` differs: a different distortion
replaces the old one), any other value replaces it; ``hardware: PATH`` loads that chain. The
base's ``hardware``, when a path, is resolved first (relative to the base's file), so each run
carries its full chain. Each run is validated as a `TrainConfig`; an invalid one raises
`ConfigError` naming the run (index, tag, overrides) and the field path with the allowed range.

**Keys**: `run_key` is 16 hex digits of the SHA-256 of the run's canonical JSON (hardware
resolved, ``name`` left out), so the same config has the same key whatever it is called and
wherever it came from. Runs are named ``<sweep name>-<key[:8]>`` unless the overrides name
them. Expanded runs that are identical (key, tag, labels, name) collapse into one; runs with the
same key but other tags or labels stay apart in the table but are trained once.

**Layout** of the output folder::

    sweep.json         the expanded list (key, tag, labels, config), written atomically first
    pretrained/<pk>/   the shared float pre-training, one per distinct `pretrain_key`
    runs/<key>/        one run_training folder: checkpoint/, metrics.csv, results.json,
                       config.json, sweep.log (what the run said, one block per attempt)
    results.csv        the tidy table, one row per (run, sigma_test) (`TABLE_COLUMNS`, then the
                       extra label columns), rewritten atomically as runs finish;
    results.parquet    the same, when pyarrow is importable

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
without Dask. Dask (the ``dist`` extra) is imported only when used.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import itertools
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from tqdm.auto import tqdm

from mixsig._atomic import atomic_write_bytes, atomic_write_text
from mixsig.config.hardware import HardwareConfig
from mixsig.config.io import (
    ConfigError,
    format_validation_error,
    load_yaml,
    read_yaml_mapping,
    validate,
)
from mixsig.errors import MixsigError
from mixsig.train import TrainConfig, pretrain, pretrain_key, run_training
from mixsig.train.runner import CKPT_DIR

RESERVED = ("tag", "labels")
TABLE_COLUMNS = (
    "key",
    "tag",
    "name",
    "method",
    "model",
    "data",
    "adc_bits",
    "sigma_train_lsb",
    "sigma_hw_lsb",
    "distortion",
    "distortion_strength",
    "seed",
    "sigma_test_lsb",
    "mean",
    "std",
    "draws",
    "noise_free_quantized_accuracy",
    "equivalent",
    "seconds",
)
LABEL_COLUMNS = ("distortion", "distortion_strength")  # labels that set a table column


class SweepConfig(BaseModel):
    """A sweep file: the base run, the run entries and the grid (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("sweep", min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    base: str | dict[str, Any] = Field(description="a TrainConfig YAML path or inline mapping")
    runs: list[dict[str, Any]] = Field(default_factory=lambda: [{}], min_length=1)
    grid: dict[str, list[Any]] = Field(default_factory=dict)

    @field_validator("grid")
    @classmethod
    def _non_empty(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for k, values in v.items():
            if not values:
                raise ValueError(f"grid.{k} is empty: give at least one value")
        return v


@dataclass
class SweepRun:
    """One expanded run: its key (`run_key`), tag and labels (table columns) and config."""

    key: str
    tag: str
    labels: dict = field(default_factory=dict)
    config: TrainConfig = field(default_factory=TrainConfig)


# -- expansion ------------------------------------------------------------------------------


def run_key(cfg: TrainConfig) -> str:
    """16 hex digits of the SHA-256 of ``cfg`` as canonical JSON (sorted keys), hardware
    resolved (a path relative to the working directory) and ``name`` left out."""
    d = cfg.with_resolved_hardware().model_dump(mode="json")
    d.pop("name", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _merge(old: Any, new: Any) -> Any:
    """``new`` over ``old``: mappings merged key by key (unless their ``kind`` differs)."""
    if isinstance(old, dict) and isinstance(new, dict):
        if "kind" in old and "kind" in new and old["kind"] != new["kind"]:
            return copy.deepcopy(new)
        out = dict(old)
        for k, v in new.items():
            out[k] = _merge(old[k], v) if k in old else copy.deepcopy(v)
        return out
    return copy.deepcopy(new)


def _set_path(d: dict, dotted: str, value: Any, where: str) -> None:
    parts = dotted.split(".")
    node: Any = d
    checked = True  # False below a null section: pydantic checks those keys
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        here = ".".join(parts[:i]) or "the config"
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(
                    f"{where}: unknown key {dotted!r}: {here} is a list of {len(node)}, "
                    f"{part!r} is not an index of it"
                )
            slot: Any = int(part)
        elif isinstance(node, dict):
            if checked and part not in node:
                raise ConfigError(
                    f"{where}: unknown key {dotted!r}: {here} has no field {part!r} "
                    f"(fields: {', '.join(sorted(node))})"
                )
            slot = part
        else:
            raise ConfigError(
                f"{where}: unknown key {dotted!r}: {here} is a value ({node!r}), not a section"
            )
        current = node[slot] if isinstance(node, list) or slot in node else None
        if last:
            node[slot] = _merge(current, value)
        else:
            if current is None:
                node[slot] = current = {}
                checked = False
            node = current


def _load_base(spec: SweepConfig, base_dir: Path) -> dict:
    """The base config as a full JSON mapping, its hardware resolved."""
    if isinstance(spec.base, str):
        path = Path(spec.base)
        if not path.is_absolute():
            path = base_dir / path
        cfg = load_yaml(path, TrainConfig)
        hw_dir = path.parent
    else:
        cfg = validate(TrainConfig, spec.base, source=f"sweep {spec.name!r}: base")
        hw_dir = base_dir
    try:
        cfg = cfg.with_resolved_hardware(hw_dir)
    except ConfigError as err:
        raise ConfigError(f"sweep {spec.name!r}: base hardware: {err}") from None
    return cfg.model_dump(mode="json")


def _check_entry(spec: SweepConfig, j: int, entry: dict) -> tuple[str, dict]:
    tag = entry.get("tag", "")
    if not isinstance(tag, str):
        raise ConfigError(f"sweep {spec.name!r}: runs[{j}].tag must be a string, got {tag!r}")
    labels = entry.get("labels", {}) or {}
    if not isinstance(labels, dict):
        raise ConfigError(
            f"sweep {spec.name!r}: runs[{j}].labels must be a mapping, got {labels!r}"
        )
    for k, v in labels.items():
        if not isinstance(k, str) or (k in TABLE_COLUMNS and k not in LABEL_COLUMNS):
            raise ConfigError(
                f"sweep {spec.name!r}: runs[{j}].labels.{k}: a label may add a column or set "
                f"{' / '.join(LABEL_COLUMNS)}, not replace the column {k!r}"
            )
        if not (v is None or isinstance(v, (str, int, float, bool))):
            raise ConfigError(
                f"sweep {spec.name!r}: runs[{j}].labels.{k} must be a single value, got {v!r}"
            )
    return tag, dict(labels)


def expand(spec: SweepConfig, base_dir: Path) -> list[SweepRun]:
    """Every run of ``spec`` (paths relative to ``base_dir``, the sweep file's folder), each
    validated, keyed and named; identical runs collapse into the first."""
    base_dir = Path(base_dir)
    base = _load_base(spec, base_dir)
    grid_keys = list(spec.grid)
    points = list(itertools.product(*(spec.grid[k] for k in grid_keys)))
    out: list[SweepRun] = []
    seen: set[tuple] = set()
    n = 0
    for j, entry in enumerate(spec.runs):
        tag, labels = _check_entry(spec, j, entry)
        for point in points:
            overrides = dict(zip(grid_keys, point))
            overrides.update({k: v for k, v in entry.items() if k not in RESERVED})
            where = (
                f"sweep {spec.name!r}, run {n} (runs[{j}], tag {tag!r}, overrides {overrides!r})"
            )
            d = copy.deepcopy(base)
            for k, v in overrides.items():
                if k == "hardware" and isinstance(v, str):
                    path = Path(v) if Path(v).is_absolute() else base_dir / v
                    try:
                        v = load_yaml(path).model_dump(mode="json")
                    except ConfigError as err:
                        raise ConfigError(f"{where}: {err}") from None
                    d["hardware"] = v
                    continue
                _set_path(d, str(k), v, where)
            try:
                cfg = TrainConfig.model_validate(d)
            except ValidationError as err:
                raise ConfigError(format_validation_error(err, source=where)) from None
            key = run_key(cfg)
            if "name" not in overrides:
                cfg = cfg.model_copy(update={"name": f"{spec.name}-{key[:8]}"})
            ident = (key, tag, json.dumps(labels, sort_keys=True), cfg.name)
            n += 1
            if ident in seen:
                continue
            seen.add(ident)
            out.append(SweepRun(key, tag, labels, cfg))
    return out


def load_sweep(path: str | os.PathLike) -> tuple[SweepConfig, list[SweepRun]]:
    """Read a sweep YAML (safe loader) and expand it; errors name the file, run and field."""
    path = Path(path)
    data = read_yaml_mapping(path, "sweep spec")
    spec = validate(SweepConfig, data, source=str(path))
    return spec, expand(spec, path.parent)


# -- the tasks (module level, so workers import them; configs travel as JSON) -----------------


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


# -- the table --------------------------------------------------------------------------------


def _derived_distortion(hw: HardwareConfig) -> tuple[str, float]:
    kinds = [d.kind for d in hw.distortion]
    return ("+".join(kinds) if kinds else "none"), 0.0


def collect(runs: Sequence[SweepRun], out: str | os.PathLike) -> list[dict]:
    """Rows of the tidy table, one per (run, sigma_test), from each finished run's
    ``results.json`` (runs not finished are left out)."""
    out = Path(out)
    rows: list[dict] = []
    seen: set[tuple] = set()
    for run in runs:
        ident = (run.key, run.tag, json.dumps(run.labels, sort_keys=True, default=str))
        path = out / "runs" / run.key / "results.json"
        if ident in seen or not path.exists():
            continue
        seen.add(ident)
        res = json.loads(path.read_text())
        cfg = run.config
        hw = cfg.resolved_hardware()
        dist, strength = _derived_distortion(hw)
        dist = run.labels.get("distortion", dist)
        strength = run.labels.get("distortion_strength", strength)
        extra = {k: v for k, v in run.labels.items() if k not in LABEL_COLUMNS}
        for r in res["results"]:
            rows.append(
                {
                    "key": run.key,
                    "tag": run.tag,
                    "name": res.get("name", cfg.name),
                    "method": res.get("method", cfg.method.name),
                    "model": cfg.model.name,
                    "data": cfg.data.name,
                    "adc_bits": res.get("adc_bits"),
                    "sigma_train_lsb": res.get("sigma_train_lsb"),
                    "sigma_hw_lsb": hw.noise.sigma_lsb,
                    "distortion": dist,
                    "distortion_strength": strength,
                    "seed": cfg.seed,
                    "sigma_test_lsb": r["sigma_lsb"],
                    "mean": r["mean"],
                    "std": r["std"],
                    "draws": r["draws"],
                    "noise_free_quantized_accuracy": res.get("noise_free_quantized_accuracy"),
                    "equivalent": r["equivalent"],
                    "seconds": res.get("seconds"),
                    **extra,
                }
            )
    return rows


def _columns(rows: list[dict]) -> list[str]:
    cols = list(TABLE_COLUMNS)
    for row in rows:
        cols += [k for k in row if k not in cols]
    return cols


def write_table(rows: list[dict], out: Path) -> Path:
    """``results.csv`` (and ``results.parquet`` with pyarrow), each written atomically; a
    label column whose values differ in type goes to parquet as text."""
    cols = _columns(rows)
    buf = io.StringIO()
    w = csv.DictWriter(buf, cols, restval="", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out / "results.csv", buf.getvalue())
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return out / "results.csv"

    def column(values: list) -> Any:
        try:
            return pa.array(values)
        except (pa.ArrowException, ValueError, TypeError):  # a label of mixed types: as text
            return pa.array([None if v is None else str(v) for v in values], pa.string())

    table = pa.table({c: column([row.get(c) for row in rows]) for c in cols})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    atomic_write_bytes(out / "results.parquet", sink.getvalue().to_pybytes())
    return out / "results.csv"


# -- running ----------------------------------------------------------------------------------


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}".strip()


def _run_name(r: SweepRun) -> str:
    """A run as a reader finds it: its name, tag and labels, and its folder key."""
    labels = ", ".join(f"{k}={v}" for k, v in r.labels.items())
    return f"{r.config.name} [{r.tag}{': ' + labels if labels else ''}] (runs/{r.key})"


class SweepFailed(RuntimeError):
    """Runs of a sweep that still failed after their retries; ``failures`` maps each run's
    description (name, tag, labels, folder) to its error. The table holds every run that
    finished."""

    def __init__(self, failures: dict[str, str], total: int, table: Path) -> None:
        self.failures = failures
        lines = "\n".join(f"  {name}: {err}" for name, err in failures.items())
        super().__init__(
            f"{len(failures)} of {total} sweep runs failed ({table} holds the runs that "
            f"finished):\n{lines}"
        )


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
    """Run every pending run of ``runs`` into ``out`` (layout and semantics: module docstring)
    and write the tidy table; returns the path of ``results.csv``.

    ``scheduler``: None (a local cluster of ``workers`` processes with ``threads_per_worker``
    threads each, started and closed here), ``"inline"`` (serially, in this process) or the
    address of a running Dask scheduler. Raises `SweepFailed` naming the runs that still
    failed after ``retries`` retries (each with its name, tag, labels and error), once the
    table holds every run that finished.
    """
    out = Path(out)
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

    if todo:
        bar = tqdm(
            total=len(unique),
            initial=len(finished),
            desc="runs",
            unit="run",
            disable=not progress,
        )
        try:
            if scheduler == "inline":
                _inline(todo, needs, pre, out, retries, completed, bar)
            else:
                _dask(
                    todo,
                    needs,
                    pre,
                    out,
                    scheduler,
                    workers,
                    threads_per_worker,
                    retries,
                    completed,
                    bar,
                )
        finally:
            bar.close()

    table = write_table(collect(runs, out), out)
    resumed = sum(bool(o.get("resumed")) for o in outcomes.values())
    echo(
        f"sweep: {len(outcomes)} done ({resumed} resumed), {len(finished)} skipped, "
        f"{len(failures)} failed, of {len(unique)} runs -> {table}"
    )
    if failures:
        raise SweepFailed(
            {_run_name(unique[k]): e for k, e in failures.items()}, len(unique), table
        )
    return table


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


__all__ = [
    "SweepConfig",
    "SweepRun",
    "collect",
    "expand",
    "load_sweep",
    "run_key",
    "run_sweep",
    "write_table",
]
