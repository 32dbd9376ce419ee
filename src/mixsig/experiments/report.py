"""The reproduction report, built from a stored tidy results table without retraining.

Owns `build_report`, `verdict`, `read_table` and `summarise`. The input is a tidy CSV with one
row per (run, σ_test) — the columns of `REQUIRED_COLUMNS`, plus the optional ``key``, ``name``,
``equivalent`` (recomputed from ``mean`` and ``noise_free_quantized_accuracy`` when absent)
and ``seconds``. `build_report` writes into one folder:

* ``summary.csv`` / ``summary.md`` — per group of `GROUP_KEYS` (every key but the seed): the
  mean over seeds of the per-seed mean accuracy, the std over seeds (0 with one seed), the mean
  within-seed noise std, the number of seeds (rows), the fewest draws, the mean noise-free
  quantized accuracy, ``equivalent_in_seeds`` ("k/n") and whether the group is equivalent
  (mean over seeds ≥ mean noise-free quantized accuracy − 0.5 pp; `mixsig.eval`);
* ``headline.md`` — the methods at 4 bits (or at every bit depth when there is no 4-bit run),
  one column per σ_test, "mean ± std over seeds";
* ``verdict.json`` — `verdict`: how far P stays equivalent, the fewest bits equivalent at
  0.5 LSB, the paper's claim, distortion costs, the gap P − B1;
* the figures ``accuracy_vs_sigma.png``, ``accuracy_vs_bits.png``, ``sigma_train_heatmap.png``,
  ``accuracy_vs_distortion.png``, ``optical.png`` — each only when the table holds its data (a
  missing one is named in the page with the run that would produce it);
* ``index.html`` — one self-contained page: the figures inline as base64 PNG, inline CSS, no
  script, no external link; every text from the table is HTML-escaped.

Selection: the methods figures, the headline table, the P verdict and the P − B1 gap use the
rows of tag ``methods`` without distortion and not of the optical CNN, at the (model, data)
setting with the most groups (the "default setting"; others stay in the summary table). Where a
method has several σ_train values at a bit depth (P, B3), the figures and tables show the one
equal to the hardware's ``sigma_hw_lsb`` when trained, else the one closest to 0.5 LSB; the
verdict's "equivalent up to" takes the best σ_train. Every file is written atomically.
"""

from __future__ import annotations

import base64
import datetime
import html
import importlib.metadata
import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mixsig._atomic import atomic_write_bytes, atomic_write_text
from mixsig.eval import EQUIVALENT_DEFINITION, EQUIVALENT_PP
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
FIGURES = (
    "accuracy_vs_sigma.png",
    "accuracy_vs_bits.png",
    "sigma_train_heatmap.png",
    "accuracy_vs_distortion.png",
    "optical.png",
)
METHOD_ORDER = ("P", "B1", "B2", "B3", "B4")
KNOWN_TAGS = ("methods", "optical", "distortion")
OPTICAL_MODEL = "optical_cnn"
DIGITAL_REFERENCE_MODEL = "small_cnn"
DPI = 120
_TOL = 1e-9  # float slack in equivalence tests and σ comparisons (CSV round trips)
_STR_COLUMNS = ("tag", "method", "model", "data", "distortion")
_INT_COLUMNS = ("adc_bits", "seed", "draws")
_FLOAT_KEYS = ("sigma_train_lsb", "sigma_hw_lsb", "distortion_strength", "sigma_test_lsb")
_COLORS = {"P": "tab:blue", "B1": "tab:orange", "B2": "tab:green", "B3": "tab:red"}
_COLORS["B4"] = "tab:purple"
_MARKERS = {"P": "o", "B1": "s", "B2": "^", "B3": "v", "B4": "D"}
NOISE_FREE_METHODS = ("B1", "B2", "B4")
REFERENCE_NOTE = (
    "Reference of the verdict: the stricter of two noise-free quantized accuracies of the same "
    "model, data and bit depth, each a mean over seeds: the network's own at σ_test = 0, and "
    "the best network trained without noise (B1, B2 or B4 — usually B4, ADC-aware QAT) at "
    "σ_test = 0 without distortion. Training with noise can lower a network's own σ_test = 0 "
    "accuracy (its batch-norm statistics are re-estimated under noise), which would make the "
    "first reference alone too lenient; 'equivalent (seeds)' counts the seeds equivalent "
    "against their own reference only."
)


# ----------------------------------------------------------------------------- input
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
    computed = df["mean"] >= df["noise_free_quantized_accuracy"] - EQUIVALENT_PP / 100 - _TOL
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


# ----------------------------------------------------------------------------- aggregation
def _mode(s: pd.Series) -> float:
    m = s.mode()
    return float(m.iloc[0]) if len(m) else float("nan")


def _method_key(m: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER), m)


def _ordered(methods: Iterable[str]) -> list[str]:
    return sorted(set(methods), key=_method_key)


def summarise(rows: Any) -> pd.DataFrame:
    """The aggregate over seeds, one row per group of `GROUP_KEYS` (see the module doc)."""
    df = _as_frame(rows)
    g = df.groupby(list(GROUP_KEYS), sort=False)
    s = g.agg(
        sigma_hw_lsb=("sigma_hw_lsb", _mode),
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
        & (s.sigma_test_lsb.abs() <= _TOL)
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
    s["equivalent"] = (s["mean"] >= s["reference_accuracy"] - EQUIVALENT_PP / 100 - _TOL).astype(
        bool
    )
    s["_m"] = [_method_key(m) for m in s.method]
    s = s.sort_values(
        ["tag", "model", "data", "_m", "adc_bits", "sigma_train_lsb", "distortion"]
        + ["distortion_strength", "sigma_test_lsb"]
    )
    cols = list(GROUP_KEYS[:6]) + ["sigma_hw_lsb"] + list(GROUP_KEYS[6:])
    cols += ["seeds", "draws", "mean", "std_over_seeds", "mean_std_over_draws"]
    cols += ["noise_free_quantized_accuracy", "noise_free_trained_accuracy", "reference_accuracy"]
    cols += ["equivalent_in_seeds", "equivalent"]
    return s[cols].reset_index(drop=True)


def _close(a: Any, b: float) -> Any:
    return abs(a - b) <= _TOL


@dataclass
class _Selection:
    """The default setting of the methods comparison and the σ_train shown per method/bits."""

    model: str | None = None
    data: str | None = None
    all_rows: pd.DataFrame | None = None  # tag methods, digital, no distortion, this setting
    shown: pd.DataFrame | None = None  # one σ_train per (method, bits)
    chosen: dict[tuple[str, int], float] = field(default_factory=dict)
    several: set[str] = field(default_factory=set)  # methods with > 1 σ_train somewhere
    other_settings: list[tuple[str, str]] = field(default_factory=list)


def _choose_sigma_train(g: pd.DataFrame) -> float:
    values = sorted(g.sigma_train_lsb.unique())
    if len(values) == 1:
        return float(values[0])
    hw = _mode(g.sigma_hw_lsb)
    for v in values:
        if _close(v, hw):
            return float(v)
    return float(min(values, key=lambda v: (abs(v - 0.5), v)))


def _select(s: pd.DataFrame) -> _Selection:
    m = s[(s.tag == "methods") & (s.model != OPTICAL_MODEL) & (s.distortion == "none")]
    sel = _Selection()
    if m.empty:
        return sel
    counts = m.groupby(["model", "data"]).size().reset_index(name="n")
    counts = counts.sort_values(["n", "model", "data"], ascending=[False, True, True])
    sel.model, sel.data = str(counts.model.iloc[0]), str(counts.data.iloc[0])
    sel.other_settings = [(str(a), str(b)) for a, b in zip(counts.model, counts.data)][1:]
    rows = m[(m.model == sel.model) & (m.data == sel.data)]
    sel.all_rows = rows
    keep = []
    for (method, bits), g in rows.groupby(["method", "adc_bits"]):
        st = _choose_sigma_train(g)
        sel.chosen[str(method), int(bits)] = st
        if g.sigma_train_lsb.nunique() > 1:
            sel.several.add(str(method))
        keep.append(g[_close(g.sigma_train_lsb, st)])
    sel.shown = pd.concat(keep)
    return sel


# ----------------------------------------------------------------------------- verdict
def verdict(rows: Any) -> dict:
    """The numbers of the verdict from the tidy rows (a DataFrame, mappings or a CSV path).

    Keys: ``definition`` (`EQUIVALENT_DEFINITION`), ``setting`` (model/data of the methods
    comparison), ``max_equivalent_sigma`` {bits: the largest σ_test up to which P — best over
    σ_train — is equivalent at every tested σ_test, or None}, ``max_equivalent_sigma_train``
    {bits: the σ_train values that reach it}, ``fewest_bits_equivalent_at_0.5``, ``claim``,
    ``p_minus_b1_pp`` {bits: {σ_test: pp}} with ``p_sigma_train_for_b1_gap``, ``distortion``
    (a list of per kind/strength entries) and ``sentences`` (all of it in plain words).
    """
    return _verdict(summarise(rows))


def _verdict(s: pd.DataFrame, sel: _Selection | None = None) -> dict:
    sel = sel if sel is not None else _select(s)
    v: dict[str, Any] = {
        "definition": EQUIVALENT_DEFINITION,
        "reference": REFERENCE_NOTE,
        "equivalent_pp": EQUIVALENT_PP,
        "setting": None if sel.model is None else {"model": sel.model, "data": sel.data},
    }
    sentences: list[str] = []
    mes: dict[int, float | None] = {}
    mes_by: dict[int, list[float]] = {}
    largest: dict[int, float] = {}
    p = None if sel.all_rows is None else sel.all_rows[sel.all_rows.method == "P"]
    if p is not None and not p.empty:
        sentences.append(
            f'Verdict for method P on {sel.model} / {sel.data} (tag "methods", no '
            "distortion); accuracy = mean over seeds of the per-seed mean over noise draws."
        )
        for bits, gb in p.groupby("adc_bits"):
            best, by = _reach(gb)
            mes[int(bits)], mes_by[int(bits)] = best, by
            largest[int(bits)] = float(gb.sigma_test_lsb.max())
            if best is None:
                sentences.append(
                    f"At {bits} ADC bits, P is not equivalent at any tested σ_test "
                    "(the smallest tested already misses it)."
                )
            else:
                top = " (the largest σ_test tested)" if _close(best, largest[int(bits)]) else ""
                sentences.append(
                    f"At {bits} ADC bits, P is equivalent up to σ_test = {best:g} LSB{top}, "
                    f"with σ_train = {_join(by)} LSB."
                )
        at = p[_close(p.sigma_test_lsb, 0.5)]
        eq_bits = sorted(int(b) for b in at[at.equivalent].adc_bits.unique())
        fewest = eq_bits[0] if eq_bits else None
        if at.empty:
            sentences.append("σ_test = 0.5 LSB was not tested: no fewest bits at 0.5 LSB.")
        elif fewest is None:
            sentences.append("P is not equivalent at σ_test = 0.5 LSB at any tested bit depth.")
        else:
            sentences.append(f"The fewest ADC bits at which P is equivalent at 0.5 LSB: {fewest}.")
    else:
        fewest = None
        sentences.append(
            'No P rows of tag "methods" (digital, no distortion): the equivalence verdict '
            "needs the methods comparison."
        )
    v["max_equivalent_sigma"] = mes
    v["max_equivalent_sigma_train"] = mes_by
    v["fewest_bits_equivalent_at_0.5"] = fewest
    v["claim"] = _claim(mes, largest)
    sentences.append(v["claim"]["sentence"])
    gap, gap_st = _b1_gap(sel)
    v["p_minus_b1_pp"], v["p_sigma_train_for_b1_gap"] = gap, gap_st
    for bits, by_sigma in gap.items():
        parts = ", ".join(f"{pp:+.1f} pp at {sig:g} LSB" for sig, pp in by_sigma.items())
        sentences.append(
            f"At {bits} ADC bits, P (σ_train {gap_st[bits]:g} LSB) minus B1 (float-trained, "
            f"deployed): {parts}."
        )
    v["distortion"] = _distortion_verdict(s)
    sentences.extend(_distortion_sentences(v["distortion"]))
    v["optical"] = _optical_verdict(s)
    sentences.extend(_optical_sentences(v["optical"]))
    v["sentences"] = sentences
    return v


def _reach(gb: pd.DataFrame) -> tuple[float | None, list[float]]:
    """The largest σ_test up to which a method stays equivalent at every tested σ_test (best
    over σ_train), and the σ_train values that reach it; (None, []) when none does."""
    best, by = None, []
    for st, g in gb.groupby("sigma_train_lsb"):
        reach = None
        for sig, eq in zip(*_sorted_cols(g, "sigma_test_lsb", "equivalent")):
            if not eq:
                break
            reach = float(sig)
        if reach is None:
            continue
        if best is None or reach > best + _TOL:
            best, by = reach, [float(st)]
        elif _close(reach, best):
            by.append(float(st))
    return best, sorted(by)


def _optical_verdict(s: pd.DataFrame) -> list[dict]:
    """For the optical CNN with P (tags ``optical*``): per data set and camera bits, how far it
    stays equivalent and its accuracy at 0.5 LSB, next to the digital small CNN with P."""
    out = []
    opt = s[s.tag.str.startswith("optical") & (s.model == OPTICAL_MODEL) & (s.method == "P")]
    for (tag, data, bits), g in opt.groupby(["tag", "data", "adc_bits"]):
        reach, by = _reach(g)
        at = g[_close(g.sigma_test_lsb, 0.5)]
        dig = s[
            (s.model == DIGITAL_REFERENCE_MODEL)
            & (s.method == "P")
            & (s.data == data)
            & (s.adc_bits == bits)
            & (s.distortion == "none")
            & _close(s.sigma_test_lsb, 0.5)
        ]
        out.append(
            {
                "tag": tag,
                "data": data,
                "bits": int(bits),
                "max_equivalent_sigma": reach,
                "sigma_train": by,
                "equivalent_at": sorted(float(x) for x in g[g.equivalent].sigma_test_lsb.unique()),
                "accuracy_at_0.5": None if at.empty else float(at["mean"].max()),
                "digital_p_at_0.5": None if dig.empty else float(dig["mean"].max()),
            }
        )
    return out


def _optical_sentences(entries: list[dict]) -> list[str]:
    out = []
    for e in entries:
        if e["max_equivalent_sigma"] is not None:
            reach = f"equivalent up to {e['max_equivalent_sigma']:g} LSB"
        elif e["equivalent_at"]:
            listed = ", ".join(f"{x:g}" for x in e["equivalent_at"])
            reach = f"not equivalent at σ_test = 0, equivalent at {listed} LSB"
        else:
            reach = "not equivalent at any tested σ_test"
        acc = "" if e["accuracy_at_0.5"] is None else f"; {e['accuracy_at_0.5']:.4f} at 0.5 LSB"
        dig = (
            ""
            if e["digital_p_at_0.5"] is None
            else f" (digital small CNN with P: {e['digital_p_at_0.5']:.4f})"
        )
        out.append(
            f"Optical CNN with P on {e['data']} ({e['bits']}-bit camera, tag {e['tag']}): "
            f"{reach}{acc}{dig}."
        )
    return out


def _sorted_cols(g: pd.DataFrame, by: str, *cols: str) -> list[list[Any]]:
    g = g.sort_values(by)
    return [g[by].tolist()] + [g[c].tolist() for c in cols]


def _join(values: Iterable[float]) -> str:
    return " or ".join(f"{x:g}" for x in values)


def _claim(mes: dict[int, float | None], largest: dict[int, float]) -> dict:
    x = mes.get(4)
    claim = {
        "paper": "P is equivalent up to 0.5 LSB (4-bit ADC)",
        "bits": 4,
        "measured_lsb": x,
        "goal_lsb": 1.0,
        "meets_paper": x is not None and x >= 0.5 - _TOL,
        "meets_goal": x is not None and x >= 1.0 - _TOL,
    }
    if 4 not in mes:
        claim["sentence"] = (
            "No 4-bit P runs in the table: the paper's claim (equivalent up to 0.5 LSB at "
            "4 bits) is not checked."
        )
    elif x is None:
        claim["sentence"] = (
            "P is not equivalent at 4 bits at any tested σ_test (goal ≥ 1.0); the paper "
            "claims up to 0.5 LSB: not reproduced."
        )
    else:
        ok = "reproduced" if claim["meets_paper"] else "not reproduced"
        more = ", the largest tested" if _close(x, largest.get(4, math.nan)) else ""
        claim["sentence"] = (
            f"P is equivalent at 4 bits up to {x:g} LSB{more} (goal ≥ 1.0); the paper "
            f"claims up to 0.5 LSB: {ok}."
        )
    return claim


def _b1_gap(sel: _Selection) -> tuple[dict[int, dict[float, float]], dict[int, float]]:
    gap: dict[int, dict[float, float]] = {}
    gap_st: dict[int, float] = {}
    if sel.shown is None:
        return gap, gap_st
    sh = sel.shown
    for bits in sorted(sh.adc_bits.unique()):
        p = sh[(sh.adc_bits == bits) & (sh.method == "P")].set_index("sigma_test_lsb")
        b1 = sh[(sh.adc_bits == bits) & (sh.method == "B1")].set_index("sigma_test_lsb")
        common = sorted(set(p.index) & set(b1.index))
        if not common:
            continue
        gap[int(bits)] = {
            float(sig): float((p.loc[sig, "mean"] - b1.loc[sig, "mean"]) * 100) for sig in common
        }
        gap_st[int(bits)] = sel.chosen["P", int(bits)]
    return gap, gap_st


def _reference_sigma(g: pd.DataFrame) -> float:
    sigmas = sorted(g.sigma_test_lsb.unique())
    hw = _mode(g.sigma_hw_lsb)
    for target in (hw, 0.5):
        for sig in sigmas:
            if _close(sig, target):
                return float(sig)
    return float(min(sigmas, key=lambda x: (abs(x - 0.5), x)))


def _distortion_settings(s: pd.DataFrame) -> list[tuple[tuple, pd.DataFrame]]:
    """P rows of tag distortion per (model, data, bits, σ_train), most groups first."""
    d = s[(s.tag == "distortion") & (s.method == "P")]
    keys = ["model", "data", "adc_bits", "sigma_train_lsb"]
    out = [(k, g) for k, g in d.groupby(keys)]
    return sorted(out, key=lambda kg: (-len(kg[1]), kg[0]))


def _undistorted(g: pd.DataFrame) -> pd.DataFrame:
    ref = g[g.distortion == "none"]
    return ref if not ref.empty else g[_close(g.distortion_strength, 0.0)]


def _distortion_verdict(s: pd.DataFrame) -> list[dict]:
    entries = []
    for (model, data, bits, st), g in _distortion_settings(s):
        sig = _reference_sigma(g)
        at = g[_close(g.sigma_test_lsb, sig)]
        ref = _undistorted(at)
        ref_acc = float(ref["mean"].mean()) if not ref.empty else None
        distorted = at[(at.distortion != "none") & ~_close(at.distortion_strength, 0.0)]
        for (kind, strength), e in distorted.groupby(["distortion", "distortion_strength"]):
            acc = float(e["mean"].mean())
            diff = None if ref_acc is None else (acc - ref_acc) * 100
            entries.append(
                {
                    "model": str(model),
                    "data": str(data),
                    "adc_bits": int(bits),
                    "sigma_train_lsb": float(st),
                    "sigma_test_lsb": sig,
                    "kind": str(kind),
                    "strength": float(strength),
                    "accuracy": acc,
                    "undistorted_accuracy": ref_acc,
                    "diff_pp": diff,
                    "within_1pp": None if diff is None else bool(abs(diff) <= 1.0 + _TOL),
                }
            )
    return entries


def _distortion_sentences(entries: list[dict]) -> list[str]:
    if not entries:
        return ['No distortion rows (tag "distortion", method P): distortion costs not checked.']
    out = []
    keys = []
    for e in entries:
        k = (e["kind"], e["model"], e["data"], e["adc_bits"], e["sigma_train_lsb"])
        if k not in keys:
            keys.append(k)
    for k in keys:
        es = [
            e
            for e in entries
            if (e["kind"], e["model"], e["data"], e["adc_bits"], e["sigma_train_lsb"]) == k
        ]
        e0 = es[0]
        if e0["undistorted_accuracy"] is None:
            out.append(
                f"Distortion {k[0]} ({k[1]} / {k[2]}, {k[3]} bits): no undistorted reference "
                "(distortion none or strength 0) in the same tag to compare with."
            )
            continue
        parts = "; ".join(
            f"strength {e['strength']:g}: {e['diff_pp']:+.2f} pp "
            f"({'within' if e['within_1pp'] else 'not within'} 1 pp)"
            for e in es
        )
        out.append(
            f"Distortion {k[0]} (P, {k[1]} / {k[2]}, {k[3]} bits, σ_train {k[4]:g}, "
            f"σ_test {e0['sigma_test_lsb']:g} LSB) vs the undistorted network "
            f"({e0['undistorted_accuracy']:.4f}): {parts}."
        )
    return out


# ----------------------------------------------------------------------------- figures
def _figure(n: int, size: tuple[float, float], ncols_max: int = 3):
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # the Agg backend, explicitly
    from matplotlib.figure import Figure

    ncols = min(n, ncols_max)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _style(method: str, i: int = 0) -> dict:
    return {
        "color": _COLORS.get(method, f"C{(5 + i) % 10}"),
        "marker": _MARKERS.get(method, "x"),
        "capsize": 3,
        "lw": 1.5,
        "ms": 5,
    }


def _label(sel: _Selection, method: str, bits_list: Iterable[int]) -> str:
    if method not in sel.several:
        return method
    sts = sorted({sel.chosen[method, b] for b in bits_list if (method, b) in sel.chosen})
    return f"{method} (σ_train {'/'.join(f'{x:g}' for x in sts)} LSB)"


def _chosen_text(sel: _Selection) -> str:
    parts = []
    for method in _ordered(sel.several):
        per = {b: st for (m, b), st in sel.chosen.items() if m == method}
        if len(set(per.values())) == 1:
            parts.append(f"{method} at σ_train = {next(iter(per.values())):g} LSB")
        else:
            parts.append(
                f"{method} at σ_train = "
                + ", ".join(f"{st:g} LSB ({b} bits)" for b, st in sorted(per.items()))
            )
    if not parts:
        return ""
    return (
        " Shown: " + "; ".join(parts) + " (the σ_train equal to the hardware's σ_hw when "
        "trained, else the one closest to 0.5 LSB; all σ_train values are in the summary)."
    )


@dataclass
class _Figure:
    file: str
    title: str
    alt: str
    caption: str = ""
    png: bytes | None = None
    note: str = ""


def _fig_accuracy_vs_sigma(sel: _Selection) -> _Figure:
    f = _Figure(
        "accuracy_vs_sigma.png",
        "Accuracy vs test noise",
        "Line chart: test accuracy against the test noise σ_test in LSB, one line per "
        "training method, one panel per ADC bit depth",
    )
    if sel.shown is None:
        f.note = (
            'No rows of tag "methods" (digital models, no distortion): the methods comparison '
            "(P and B1–B4 over σ_test, e.g. `mixsig compare`) produces this figure."
        )
        return f
    sh = sel.shown
    bits_list = sorted(int(b) for b in sh.adc_bits.unique())
    fig, axes = _figure(len(bits_list), (4.4, 3.6))
    for ax, bits in zip(axes, bits_list):
        b = sh[sh.adc_bits == bits]
        for i, method in enumerate(_ordered(b.method)):
            x, y, e = _sorted_cols(
                b[b.method == method], "sigma_test_lsb", "mean", "std_over_seeds"
            )
            ax.errorbar(x, y, yerr=e, label=_label(sel, method, [bits]), **_style(method, i))
        p = b[b.method == "P"]
        if not p.empty:
            thr = p.noise_free_quantized_accuracy.mean() - EQUIVALENT_PP / 100
            ax.axhline(thr, ls="--", color="0.5", lw=1, label="P noise-free − 0.5 pp")
        ax.set(xlabel="σ_test (LSB of the ADC)", ylabel="test accuracy", title=f"{bits}-bit ADC")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    f.png = _png(fig)
    f.caption = (
        f'Test accuracy vs test noise σ_test for {sel.model} on {sel.data} (tag "methods", '
        "no distortion), one panel per ADC bit depth, one line per method; points: mean over "
        "seeds of the per-seed mean over noise draws; error bars: std over seeds; dashed grey: "
        "P's noise-free quantized accuracy − 0.5 pp, the equivalence threshold." + _chosen_text(sel)
    )
    return f


def _fig_accuracy_vs_bits(sel: _Selection) -> _Figure:
    f = _Figure(
        "accuracy_vs_bits.png",
        "Accuracy vs ADC bits",
        "Line chart: test accuracy against the ADC bit depth at a fixed test noise, one line "
        "per training method",
    )
    if sel.shown is None:
        f.note = (
            'No rows of tag "methods": the methods comparison at several ADC bit depths '
            "produces this figure."
        )
        return f
    sh = sel.shown
    bits_all = sorted(int(b) for b in sh.adc_bits.unique())
    if len(bits_all) < 2:
        f.note = (
            f"Only one ADC bit depth ({bits_all[0]} bits) in the methods comparison: running "
            "it at several adc_bits (e.g. 2, 3, 4) produces this figure."
        )
        return f
    sigmas = [s for s in (0.5, 1.0) if _close(sh.sigma_test_lsb, s).any()]
    if not sigmas:
        f.note = (
            "σ_test = 0.5 and 1.0 LSB were not tested: the methods comparison evaluated at "
            "those σ_test produces this figure."
        )
        return f
    fig, axes = _figure(len(sigmas), (4.6, 3.6))
    for ax, sig in zip(axes, sigmas):
        a = sh[_close(sh.sigma_test_lsb, sig)]
        for i, method in enumerate(_ordered(a.method)):
            x, y, e = _sorted_cols(a[a.method == method], "adc_bits", "mean", "std_over_seeds")
            ax.errorbar(x, y, yerr=e, label=_label(sel, method, x), **_style(method, i))
        ax.set(
            xlabel="ADC resolution (bits)", ylabel="test accuracy", title=f"σ_test = {sig:g} LSB"
        )
        ax.set_xticks(bits_all)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    f.png = _png(fig)
    f.caption = (
        f"Test accuracy vs ADC resolution for {sel.model} on {sel.data}, at σ_test = "
        + " and ".join(f"{s:g}" for s in sigmas)
        + " LSB (one panel each); points: mean over seeds; error bars: std over seeds."
        + _chosen_text(sel)
    )
    return f


def _fig_heatmap(sel: _Selection) -> _Figure:
    f = _Figure(
        "sigma_train_heatmap.png",
        "P: training noise vs test noise",
        "Heat map: accuracy of method P for each training noise σ_train (rows) and test "
        "noise σ_test (columns), one panel per ADC bit depth, cells annotated with the value",
    )
    p = None if sel.all_rows is None else sel.all_rows[sel.all_rows.method == "P"]
    bits_ok = (
        []
        if p is None
        else sorted(int(b) for b, g in p.groupby("adc_bits") if g.sigma_train_lsb.nunique() >= 2)
    )
    if not bits_ok:
        f.note = (
            "No bit depth with P trained at two or more σ_train values: a P sweep over "
            'sigma_train_lsb (tag "methods") produces this figure.'
        )
        return f
    extra = len(bits_ok) - 6
    bits_ok = bits_ok[:6]
    pb = p[p.adc_bits.isin(bits_ok)]
    vmin, vmax = float(pb["mean"].min()), float(pb["mean"].max())
    if vmax - vmin < 1e-6:
        vmin, vmax = vmin - 0.005, vmax + 0.005
    fig, axes = _figure(len(bits_ok), (4.6, 3.8))
    im = None
    for ax, bits in zip(axes, bits_ok):
        g = pb[pb.adc_bits == bits]
        sts = sorted(g.sigma_train_lsb.unique())
        sigs = sorted(g.sigma_test_lsb.unique())
        grid = np.full((len(sts), len(sigs)), np.nan)
        eq = np.zeros_like(grid, dtype=bool)
        for r in g.itertuples():
            i, j = sts.index(r.sigma_train_lsb), sigs.index(r.sigma_test_lsb)
            grid[i, j], eq[i, j] = r.mean, r.equivalent
        im = ax.imshow(
            np.ma.masked_invalid(grid),
            vmin=vmin,
            vmax=vmax,
            cmap="viridis",
            aspect="auto",
            origin="lower",
        )
        mid = (vmin + vmax) / 2
        for i in range(len(sts)):
            for j in range(len(sigs)):
                val = grid[i, j]
                text = "—" if np.isnan(val) else f"{val:.3f}{'*' if eq[i, j] else ''}"
                color = "black" if not np.isnan(val) and val > mid else "white"
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color=color)
        ax.set_xticks(range(len(sigs)), [f"{x:g}" for x in sigs])
        ax.set_yticks(range(len(sts)), [f"{x:g}" for x in sts])
        ax.set(xlabel="σ_test (LSB)", ylabel="σ_train (LSB)", title=f"P, {bits}-bit ADC")
    fig.colorbar(im, ax=list(axes), label="test accuracy (mean over seeds)", shrink=0.9)
    f.png = _png(fig)
    f.caption = (
        f"Method P on {sel.model} / {sel.data}: test accuracy (mean over seeds) for each "
        "training noise σ_train (rows) and test noise σ_test (columns), one panel per ADC bit "
        "depth with ≥ 2 σ_train values; * marks equivalent cells (within 0.5 pp of the "
        "noise-free quantized network)."
        + (f" {extra} further bit depth(s) are in the summary table only." if extra > 0 else "")
    )
    return f


def _fig_distortion(s: pd.DataFrame) -> _Figure:
    f = _Figure(
        "accuracy_vs_distortion.png",
        "Accuracy vs distortion strength",
        "Line chart: test accuracy of method P against the distortion strength, one line per "
        "distortion kind, with a horizontal line at the undistorted network",
    )
    settings = _distortion_settings(s)
    if not settings:
        f.note = (
            'No P rows of tag "distortion": the distortion sweep (P trained and tested under '
            "gamma, PRNU, crosstalk at several strengths) produces this figure."
        )
        return f
    (model, data, bits, st), g = settings[0]
    sig = _reference_sigma(g)
    at = g[_close(g.sigma_test_lsb, sig)]
    ref = _undistorted(at)
    kinds = sorted(k for k in at.distortion.unique() if k != "none")
    fig, axes = _figure(1, (6.0, 4.0))
    ax = axes[0]
    for i, kind in enumerate(kinds):
        x, y, e = _sorted_cols(
            at[at.distortion == kind], "distortion_strength", "mean", "std_over_seeds"
        )
        ax.errorbar(x, y, yerr=e, label=kind, color=f"C{i}", marker="o", capsize=3, ms=5)
    if not ref.empty:
        r = float(ref["mean"].mean())
        ax.axhline(r, color="black", ls="--", lw=1, label=f"undistorted ({r:.3f})")
        ax.axhspan(r - 0.01, r + 0.01, color="0.85", alpha=0.6, label="±1 pp", zorder=0)
    ax.set(
        xlabel="distortion strength (1 − γ; PRNU std; crosstalk fraction)",
        ylabel="test accuracy",
        title=f"P, {bits}-bit ADC, σ_test = {sig:g} LSB",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    f.png = _png(fig)
    more = len(settings) - 1
    f.caption = (
        f"Method P on {model} / {data}, {bits}-bit ADC, σ_train {st:g} LSB, tested at σ_test = "
        f"{sig:g} LSB (the hardware's σ_hw, else 0.5 LSB): accuracy vs distortion strength, one "
        "line per kind; error bars: std over seeds; dashed: the undistorted network "
        + (
            "(distortion none, or strength 0) with a ±1 pp band."
            if not ref.empty
            else "— absent: no undistorted rows in this tag."
        )
        + (f" {more} further setting(s) are in the verdict and summary." if more else "")
    )
    return f


def _fig_optical(s: pd.DataFrame) -> _Figure:
    f = _Figure(
        "optical.png",
        "Optical CNN vs digital CNN",
        "Line chart: test accuracy against σ_test for the optical CNN next to the digital "
        "small CNN trained with method P, one panel per ADC bit depth",
    )
    opt = s[(s.tag == "optical") & (s.model != DIGITAL_REFERENCE_MODEL)]
    if opt.empty:
        f.note = (
            'No rows of tag "optical": the optical CNN runs (model optical_cnn, e.g. '
            "`mixsig train configs/runs/optical_p_4bit.yaml`) produce this figure."
        )
        return f
    if (opt.distortion == "none").any():
        opt = opt[opt.distortion == "none"]
    dig = s[(s.model == DIGITAL_REFERENCE_MODEL) & (s.method == "P") & (s.distortion == "none")]
    dig = dig[dig.tag == "optical"] if (dig.tag == "optical").any() else dig[dig.tag == "methods"]
    if dig.data.isin(opt.data.unique()).any():
        dig = dig[dig.data.isin(opt.data.unique())]
    bits_list = sorted(int(b) for b in opt.adc_bits.unique())
    fig, axes = _figure(len(bits_list), (4.6, 3.6))
    missing_digital = []
    for ax, bits in zip(axes, bits_list):
        ob = opt[opt.adc_bits == bits]
        i = 0
        for (model, method), g in sorted(
            ob.groupby(["model", "method"]), key=lambda kg: (kg[0][0], _method_key(kg[0][1]))
        ):
            st = _choose_sigma_train(g)
            x, y, e = _sorted_cols(
                g[_close(g.sigma_train_lsb, st)], "sigma_test_lsb", "mean", "std_over_seeds"
            )
            label = f"{model} {method}" + (f" (σ_train {st:g})" if st else "")
            ax.errorbar(x, y, yerr=e, label=label, color=f"C{i}", marker="o", capsize=3, ms=5)
            i += 1
        db = dig[dig.adc_bits == bits]
        if not db.empty:
            st = _choose_sigma_train(db)
            x, y, e = _sorted_cols(
                db[_close(db.sigma_train_lsb, st)], "sigma_test_lsb", "mean", "std_over_seeds"
            )
            ax.errorbar(
                x,
                y,
                yerr=e,
                label=f"{DIGITAL_REFERENCE_MODEL} P (digital, σ_train {st:g})",
                color="black",
                ls="--",
                marker="s",
                capsize=3,
                ms=4,
            )
        else:
            missing_digital.append(bits)
        ax.set(
            xlabel="σ_test (LSB of the camera ADC)", ylabel="test accuracy", title=f"{bits}-bit ADC"
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    f.png = _png(fig)
    f.caption = (
        'The optical CNN (tag "optical") next to the digital small CNN trained with P at the '
        "same ADC bits (dashed): test accuracy vs σ_test; error bars: std over seeds."
        + (
            f" No digital small_cnn P rows at {', '.join(map(str, missing_digital))} bits."
            if missing_digital
            else ""
        )
    )
    return f


# ----------------------------------------------------------------------------- tables
def _cell(mean: float, std: float) -> str:
    return f"{mean:.3f} ± {std:.3f}"


def _headline(sel: _Selection) -> list[tuple[int, list[str], list[list[str]]]]:
    """Per bit depth shown: the header (method, σ_test …) and one row per method."""
    if sel.shown is None:
        return []
    sh = sel.shown
    bits_all = sorted(int(b) for b in sh.adc_bits.unique())
    out = []
    for bits in [4] if 4 in bits_all else bits_all:
        b = sh[sh.adc_bits == bits]
        sigs = sorted(b.sigma_test_lsb.unique())
        header = ["method"] + [f"σ_test {x:g} LSB" for x in sigs]
        rows = []
        for method in _ordered(b.method):
            g = b[b.method == method].set_index("sigma_test_lsb")
            rows.append(
                [_label(sel, method, [bits])]
                + [
                    _cell(g.loc[x, "mean"], g.loc[x, "std_over_seeds"]) if x in g.index else "—"
                    for x in sigs
                ]
            )
        out.append((bits, header, rows))
    return out


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    esc = lambda c: str(c).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
    return lines


def _headline_md(sel: _Selection, tables, title: str) -> str:
    lines = [f"# {title}: headline", ""]
    if not tables:
        lines.append('No rows of tag "methods" (digital, no distortion) in the table.')
        return "\n".join(lines) + "\n"
    lines += [
        f'{sel.model} on {sel.data}, tag "methods", no distortion. Cells: mean over seeds of '
        "the per-seed mean accuracy over noise draws ± std over seeds.",
        f"Definition — {EQUIVALENT_DEFINITION}.",
        "",
    ]
    for bits, header, rows in tables:
        lines += [f"## {bits}-bit ADC", ""] + _md_table(header, rows) + [""]
    return "\n".join(lines)


_SUMMARY_HEADER = [
    "tag",
    "method",
    "model",
    "data",
    "bits",
    "σ_train",
    "σ_hw",
    "distortion",
    "strength",
    "σ_test",
    "seeds",
    "draws",
    "accuracy",
    "± seeds",
    "noise std",
    "noise-free quantized",
    "reference",
    "equivalent (seeds)",
    "equivalent",
]


def _summary_cells(s: pd.DataFrame) -> list[list[str]]:
    return [
        [
            r.tag,
            r.method,
            r.model,
            r.data,
            str(r.adc_bits),
            f"{r.sigma_train_lsb:g}",
            f"{r.sigma_hw_lsb:g}",
            r.distortion,
            f"{r.distortion_strength:g}",
            f"{r.sigma_test_lsb:g}",
            str(r.seeds),
            str(r.draws),
            f"{r.mean:.4f}",
            f"{r.std_over_seeds:.4f}",
            f"{r.mean_std_over_draws:.4f}",
            f"{r.noise_free_quantized_accuracy:.4f}",
            f"{r.reference_accuracy:.4f}",
            r.equivalent_in_seeds,
            "yes" if r.equivalent else "no",
        ]
        for r in s.itertuples()
    ]


def _summary_md(s: pd.DataFrame, title: str) -> str:
    lines = [
        f"# {title}: summary",
        "",
        "Accuracy: mean over seeds of the per-seed mean over noise draws; ± std over seeds; "
        "noise std: mean std over draws; σ in LSB of the ADC.",
        f"Definition — {EQUIVALENT_DEFINITION}. A group is equivalent when its mean accuracy is "
        "≥ its reference − 0.5 pp.",
        REFERENCE_NOTE,
        "",
    ]
    return "\n".join(lines + _md_table(_SUMMARY_HEADER, _summary_cells(s))) + "\n"


# ----------------------------------------------------------------------------- HTML
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd}
pre{background:#f5f5f5;padding:.6em;overflow-x:auto;white-space:pre-wrap}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}
figure{margin:1.2em 0}img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#444}.note{color:#8a5a00;font-style:italic}
.definition{background:#eef5ff;padding:.5em}footer{margin-top:3em;font-size:.8em;color:#666}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _version() -> str:
    try:
        return importlib.metadata.version("mixsig")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _html(
    title: str,
    command: str,
    v: dict,
    figures: list[_Figure],
    sel: _Selection,
    headline: list,
    s: pd.DataFrame,
    notes: list[str],
    source: str,
    n_rows: int,
    calibration: list[str] | None = None,
) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p>Built from the results table <code>{_e(source)}</code> ({n_rows} rows, "
        f"{len(s)} groups) without retraining, by:</p>",
        f"<pre>{_e(command)}</pre>",
        "<h2>Verdict</h2><ul>",
        *(f"<li>{_e(x)}</li>" for x in v["sentences"]),
        "</ul>",
        f'<p class="definition"><strong>Definition</strong> — {_e(EQUIVALENT_DEFINITION)}. '
        f"{_e(REFERENCE_NOTE)}</p>",
    ]
    parts += [f'<p class="note">{_e(n)}</p>' for n in notes]
    parts.append("<h2>Headline</h2>")
    if headline:
        parts.append(
            f"<p>{_e(sel.model)} on {_e(sel.data)}, tag “methods”, no distortion; cells: mean "
            "over seeds ± std over seeds.</p>"
        )
        for bits, header, rows in headline:
            parts += [f"<h3>{bits}-bit ADC</h3>", _html_table(header, rows)]
    else:
        parts.append(
            '<p class="note">No rows of tag “methods” (digital, no distortion): the methods '
            "comparison (P and B1–B4) produces the headline table.</p>"
        )
    parts.append("<h2>Figures</h2>")
    for f in figures:
        parts.append(f"<h3>{_e(f.title)}</h3>")
        if f.png is None:
            parts.append(f'<p class="note">Not drawn: {_e(f.note)}</p>')
            continue
        data = base64.b64encode(f.png).decode("ascii")
        parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{_e(f.alt)}">'
            f"<figcaption><strong>{_e(f.file)}</strong> — {_e(f.caption)}</figcaption></figure>"
        )
    parts += calibration or []
    if sel.other_settings:
        parts.append("<h2>Other settings of the methods comparison</h2>")
        parts.append(
            "<p>Also in the table (tag “methods”), only in the summary below: "
            + "; ".join(f"{_e(m)} on {_e(d)}" for m, d in sel.other_settings)
            + ".</p>"
        )
    for tag in sorted(t for t in s.tag.unique() if t not in KNOWN_TAGS):
        sub = s[s.tag == tag]
        parts += [
            f"<h2>Tag “{_e(tag)}”</h2>",
            f"<p>{len(sub)} groups of a part of the experiment this report has no figure for.</p>",
            _html_table(_SUMMARY_HEADER, _summary_cells(sub)),
        ]
    parts += [
        "<h2>All results</h2>",
        f"<details><summary>Full summary table ({len(s)} groups)</summary>",
        _html_table(_SUMMARY_HEADER, _summary_cells(s)),
        "</details>",
        f"<footer>mixsig {_e(_version())} · built "
        f"{_e(datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))} · "
        "files next to this page: summary.csv, summary.md, headline.md, verdict.json and the "
        "figures as PNG</footer>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- entry point
def build_report(
    table: str | Path,
    out: str | Path,
    *,
    title: str = "mixsig reproduction",
    command: str | None = None,
    calibration: str | Path | None = None,
) -> Path:
    """Read the tidy table (CSV), write figures (PNG), tables (CSV + Markdown), verdict and one
    self-contained HTML page ``index.html`` into ``out``; return the path of index.html.

    ``calibration``: the report folder of `mixsig calibrate` (``<stem>_report/``: one PNG per
    fit and ``report.md``); its fits join the page as a "Calibration" section."""
    cal = None if calibration is None else _calibration_section(Path(calibration))
    df = read_table(table)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    s = summarise(df)
    sel = _select(s)
    v = _verdict(s, sel)
    notes = []
    dup = df.duplicated(list(GROUP_KEYS) + ["seed"])
    if dup.any():
        notes.append(
            f"{int(dup.sum())} row(s) repeat a (group, seed) of another row — runs differing "
            "in a setting the table does not record? They are averaged as separate seeds."
        )
    figures = [
        _fig_accuracy_vs_sigma(sel),
        _fig_accuracy_vs_bits(sel),
        _fig_heatmap(sel),
        _fig_distortion(s),
        _fig_optical(s),
    ]
    for f in figures:
        if f.png is not None:
            atomic_write_bytes(out / f.file, f.png)
        else:  # a figure of an earlier build from another table would mislead
            (out / f.file).unlink(missing_ok=True)
    atomic_write_text(out / "summary.csv", s.to_csv(index=False))
    atomic_write_text(out / "summary.md", _summary_md(s, title))
    headline = _headline(sel)
    atomic_write_text(out / "headline.md", _headline_md(sel, headline, title))
    atomic_write_text(out / "verdict.json", json.dumps(_jsonable(v), indent=2, allow_nan=False))
    if command is None:
        command = (
            'python -c "from mixsig.experiments.report import build_report; '
            f'build_report({str(table)!r}, {str(out)!r})"'
        )
    page = _html(
        title, command, v, figures, sel, headline, s, notes, Path(table).name, len(df), cal
    )
    index = out / "index.html"
    atomic_write_text(index, page)
    return index


def _calibration_section(folder: Path) -> list[str]:
    """HTML of a `mixsig calibrate` report folder: its parameters (report.md) and each fit's
    figure, embedded. A folder without report.md is refused by name."""
    md = folder / "report.md"
    if not md.is_file():
        raise ValueError(
            f"{folder} is not a calibration report: expected report.md and the fit figures "
            "(*.png) there, as `mixsig calibrate` writes them (<out stem>_report/)"
        )
    parts = [
        "<h2>Calibration</h2>",
        f"<p>Fits of the camera chain from measured frames (<code>{_e(folder)}</code>); "
        "parameters ± standard errors:</p>",
        f"<pre>{_e(md.read_text())}</pre>",
    ]
    for png in sorted(folder.glob("*.png")):
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        name = png.stem.replace("_", " ")
        parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="calibration fit: {_e(name)}">'
            f"<figcaption><strong>{_e(png.name)}</strong> — {_e(name)}: data vs fit and "
            "residuals.</figcaption></figure>"
        )
    return parts


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(val) for k, val in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(i) for i in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if hasattr(x, "item"):  # numpy scalars
        return _jsonable(x.item())
    return x
