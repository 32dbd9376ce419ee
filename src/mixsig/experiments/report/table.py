"""The results table: reading, checking and typing it, and its aggregate over seeds.

Owns `read_table` (the tidy CSV → a typed DataFrame, or ValueError naming the file and the
problem), `summarise` (one row per group of `GROUP_KEYS`: mean and spreads over seeds, the
group's reference accuracy and whether it is equivalent — see `REFERENCE_NOTE`) and the
table's vocabulary: `REQUIRED_COLUMNS` / `OPTIONAL_COLUMNS`, `GROUP_KEYS`, `METHOD_ORDER`,
the tags (`KNOWN_TAGS`) and models (`OPTICAL_MODEL`, `DIGITAL_REFERENCE_MODEL`) the report
knows. It also holds the small helpers every later stage uses on the table: the float slack
`TOL` and `is_close`, `most_common`, the method order (`method_sort_key`, `ordered_methods`)
and `sorted_columns`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mixsig.config.methods import METHODS, NOISE_FREE_METHODS
from mixsig.eval import EQUIVALENT_PP
from mixsig.experiments.sweep import TABLE_COLUMNS

OPTIONAL_COLUMNS = ("key", "name", "equivalent", "seconds")
#: the columns of the sweep's tidy table (`mixsig.experiments.sweep.TABLE_COLUMNS`) it needs
REQUIRED_COLUMNS = tuple(c for c in TABLE_COLUMNS if c not in OPTIONAL_COLUMNS)
GROUP_KEYS = (
    "tag",
    "method",
    "model",
    "data",
    "adc_bits",
    "sigma_train_lsb",
    "distortion",
    "distortion_strength",
    "sigma_test_lsb",
)
METHOD_ORDER = tuple(METHODS)  # P, B1, B2, B3, B4: the order of mixsig.config.methods
KNOWN_TAGS = ("methods", "optical", "distortion")
OPTICAL_MODEL = "optical_cnn"
DIGITAL_REFERENCE_MODEL = "small_cnn"
TOL = 1e-9  # float slack in equivalence tests and σ comparisons (CSV round trips)
_STR_COLUMNS = ("tag", "method", "model", "data", "distortion")
_INT_COLUMNS = ("adc_bits", "seed", "draws")
_FLOAT_KEYS = ("sigma_train_lsb", "sigma_hw_lsb", "distortion_strength", "sigma_test_lsb")
REFERENCE_NOTE = (
    "Reference of the verdict: the stricter of two noise-free quantized accuracies of the same "
    "model, data and bit depth, each a mean over seeds: the network's own at σ_test = 0, and "
    "the best network trained without noise (B1, B2 or B4 — usually B4, ADC-aware QAT) at "
    "σ_test = 0 without distortion. Training with noise can lower a network's own σ_test = 0 "
    "accuracy (its batch-norm statistics are re-estimated under noise), which would make the "
    "first reference alone too lenient; 'equivalent (seeds)' counts the seeds equivalent "
    "against their own reference only."
)


def read_table(table: str | Path) -> pd.DataFrame:
    """The tidy table at ``table``, checked and typed; ValueError naming the file otherwise."""
    path = Path(table)
    try:
        df = pd.read_csv(path)
    except FileNotFoundError as e:
        raise ValueError(f"{path}: no such results table") from e
    except pd.errors.EmptyDataError as e:
        raise ValueError(f"{path}: the results table is empty (no header, no rows)") from e
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise ValueError(f"{path}: cannot read the results table as CSV: {e}") from e
    return _clean(df, str(path))


def _as_frame(rows: Any, source: str = "rows") -> pd.DataFrame:
    if isinstance(rows, (str, Path)):
        return read_table(rows)
    if isinstance(rows, pd.DataFrame):
        return _clean(rows, source)
    if isinstance(rows, Iterable):
        return _clean(pd.DataFrame([dict(r) for r in rows]), source)
    raise TypeError(f"rows: a DataFrame, an iterable of mappings or a CSV path, got {rows!r}")


def _clean(df: pd.DataFrame, source: str) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"{source}: the results table lacks the required column(s) {', '.join(missing)} "
            f"(it has: {', '.join(map(str, df.columns)) or 'none'})"
        )
    if len(df) == 0:
        raise ValueError(f"{source}: the results table has a header but no rows")
    df = df.copy()
    for c in _STR_COLUMNS:
        df[c] = df[c].astype(object).where(df[c].notna(), "").astype(str).str.strip()
    none = df["distortion"].str.lower().isin(["", "none", "nan"])
    df["distortion"] = df["distortion"].where(~none, "none")
    df["distortion_strength"] = pd.to_numeric(df["distortion_strength"], errors="coerce")
    df.loc[none, "distortion_strength"] = df.loc[none, "distortion_strength"].fillna(0.0)
    df["std"] = pd.to_numeric(df["std"], errors="coerce").fillna(0.0)  # one draw: no std
    for c in _INT_COLUMNS + _FLOAT_KEYS + ("mean", "noise_free_quantized_accuracy"):
        values = pd.to_numeric(df[c], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=float))
        if bad.any():
            first = int(bad.nonzero()[0][0])
            raise ValueError(
                f"{source}: column {c} holds {int(bad.sum())} non-numeric or missing value(s), "
                f"first in data row {first + 1}: {df[c].iloc[first]!r}"
            )
        if c in _INT_COLUMNS:
            if (values != values.round()).any():
                raise ValueError(f"{source}: column {c} must hold integers")
            values = values.astype(int)
        elif c in _FLOAT_KEYS:
            values = values.astype(float).round(9)
        df[c] = values
    computed = df["mean"] >= df["noise_free_quantized_accuracy"] - EQUIVALENT_PP / 100 - TOL
    if "equivalent" in df.columns:
        given = df["equivalent"].map(_to_bool)
        df["equivalent"] = given.where(given.notna(), computed).astype(bool)
    else:
        df["equivalent"] = computed
    return df


def _to_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("true", "1", "1.0", "yes"):
        return True
    if s in ("false", "0", "0.0", "no"):
        return False
    return None


def most_common(s: pd.Series) -> float:
    m = s.mode()
    return float(m.iloc[0]) if len(m) else float("nan")


def method_sort_key(m: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER), m)


def ordered_methods(methods: Iterable[str]) -> list[str]:
    return sorted(set(methods), key=method_sort_key)


def summarise(rows: Any) -> pd.DataFrame:
    """The aggregate over seeds, one row per group of `GROUP_KEYS` (see the module doc)."""
    df = _as_frame(rows)
    g = df.groupby(list(GROUP_KEYS), sort=False)
    s = g.agg(
        sigma_hw_lsb=("sigma_hw_lsb", most_common),
        seeds=("seed", "size"),
        draws=("draws", "min"),
        mean=("mean", "mean"),
        std_over_seeds=("mean", lambda x: float(x.std(ddof=1)) if len(x) > 1 else 0.0),
        mean_std_over_draws=("std", "mean"),
        noise_free_quantized_accuracy=("noise_free_quantized_accuracy", "mean"),
        n_equivalent=("equivalent", "sum"),
    ).reset_index()
    s["equivalent_in_seeds"] = [f"{int(k)}/{int(n)}" for k, n in zip(s.n_equivalent, s.seeds)]
    # the noise-free quantized network of each (model, data, bits): the best of the networks
    # trained without noise (B1, B2, B4), at σ_test = 0, undistorted
    nf = s[
        s.method.isin(NOISE_FREE_METHODS)
        & (s.distortion == "none")
        & (s.sigma_test_lsb.abs() <= TOL)
    ]
    ref: dict[tuple, float] = {}
    for r in nf.itertuples():
        k = (r.model, r.data, int(r.adc_bits))
        ref[k] = max(ref.get(k, -math.inf), float(r.mean))
    s["noise_free_trained_accuracy"] = [
        ref.get((m, d, int(b)), math.nan) for m, d, b in zip(s.model, s.data, s.adc_bits)
    ]
    s["reference_accuracy"] = np.fmax(
        s["noise_free_quantized_accuracy"], s["noise_free_trained_accuracy"]
    )
    s["equivalent"] = (s["mean"] >= s["reference_accuracy"] - EQUIVALENT_PP / 100 - TOL).astype(
        bool
    )
    s["_m"] = [method_sort_key(m) for m in s.method]
    s = s.sort_values(
        ["tag", "model", "data", "_m", "adc_bits", "sigma_train_lsb", "distortion"]
        + ["distortion_strength", "sigma_test_lsb"]
    )
    cols = list(GROUP_KEYS[:6]) + ["sigma_hw_lsb"] + list(GROUP_KEYS[6:])
    cols += ["seeds", "draws", "mean", "std_over_seeds", "mean_std_over_draws"]
    cols += ["noise_free_quantized_accuracy", "noise_free_trained_accuracy", "reference_accuracy"]
    cols += ["equivalent_in_seeds", "equivalent"]
    return s[cols].reset_index(drop=True)


def is_close(a: Any, b: float) -> Any:
    return abs(a - b) <= TOL


def sorted_columns(g: pd.DataFrame, by: str, *cols: str) -> list[list[Any]]:
    g = g.sort_values(by)
    return [g[by].tolist()] + [g[c].tolist() for c in cols]
