"""The tidy results table of a sweep: `collect`, `write_table`, `runs_of` and its columns.

Owns the table's vocabulary — `TABLE_COLUMNS` (in this order, then any extra label columns in
the order they first appear) and `LABEL_COLUMNS` (the columns a run's labels may set) — and
its files in the sweep folder::

    results.csv        the tidy table, one row per (run, sigma_test), written atomically
    results.parquet    the same, when pyarrow is importable (a label column whose values
                       differ in type goes to parquet as text)

Rows come from each finished run's ``runs/<key>/results.json``; `run_sweep` rewrites the
table as runs finish. The report (`mixsig.experiments.report.table`) reads it back.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mixsig._atomic import atomic_write_bytes, atomic_write_text
from mixsig.config.hardware import HardwareConfig
from mixsig.errors import MixsigError

if TYPE_CHECKING:
    from mixsig.experiments.sweep.keys import SweepRun

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
                    "model": cfg.model.factory or cfg.model.name,
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


def runs_of(out: str | os.PathLike, tag: str, data: str | None = None) -> list[Path]:
    """The run folders ``out/runs/<key>`` of the finished runs tagged ``tag`` (of data set
    ``data``, when given) in the sweep folder's ``results.csv``, in the table's order; a
    missing table or no such run is refused, naming what there is."""
    table = Path(out) / "results.csv"
    if not table.is_file():
        raise MixsigError(f"{table}: no results table (is {out} a sweep folder?)")
    with table.open(newline="") as f:
        rows = list(csv.DictReader(f))
    keys = [r["key"] for r in rows if r["tag"] == tag and data in (None, r["data"])]
    if not keys:
        tags = sorted({(r["tag"], r["data"]) for r in rows})
        raise MixsigError(
            f"{table}: no finished run tagged {tag!r}"
            + (f" on {data}" if data else "")
            + f"; it holds (tag, data) {tags}"
        )
    return [Path(out) / "runs" / k for k in dict.fromkeys(keys)]


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


__all__ = ["LABEL_COLUMNS", "TABLE_COLUMNS", "collect", "write_table"]
