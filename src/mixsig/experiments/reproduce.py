"""The main job: reproduce the paper's claim and go past it, on the bundled digits or a full set.

Owns ``mixsig reproduce``: the plan's sweep spec for each data set asked for (the plans
themselves — which runs answer which question, and what each costs — are
`mixsig.experiments.plans`), the check of every data folder before any run starts, the sweep
(`mixsig.experiments.sweep`) and the hand-off to the report (`mixsig.experiments.report`),
whose tables and verdict come one section per data set when the table holds several.

Four parts, each a ``tag`` of the tidy results table:

* ``methods`` — the small CNN trained with P and B1–B4 at several ADC bit depths (DAC and
  weights stay at 4 bits), P (and B3) at several σ_train; every run is evaluated with
  ``draws`` Monte-Carlo draws at each σ_test of its plan. The ADC ranges are calibrated
  (noise-aware MSE) and then learned (LSQ) by the methods that train through the ADC (P, B4);
  B1–B3 never see the ADC in training and are re-calibrated for deployment;
* ``distortion`` — P (and B1 for the realistic camera) at 4 bits with fixed distortions of
  growing strength (gamma, PRNU, crosstalk) and the realistic combination (gamma 0.8,
  5 % PRNU, 10 % crosstalk);
* ``optical`` — the optical CNN (a 16-level DOE front read by the 4-bit camera, 0.5 LSB),
  trained with P and deployed float-trained (B1);
* ``optical-<name>`` — with ``local``, the optical CNN next to Chang et al. on local sets.

Runs that share their float pre-training (same seed, data and model) pre-train once; a
configuration listed twice (under two tags, or in the plans of two data sets) trains once.
Everything is resumable: a second call skips finished runs and continues interrupted ones.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mixsig.data import load_local
from mixsig.experiments.plans import (
    FULL_BITS,
    FULL_SETS,
    FULL_SIGMA_TRAIN,
    SIGMA_TEST,
    base_config,
    plan,
)
from mixsig.experiments.report import build_report
from mixsig.experiments.sweep import SweepConfig, SweepRun, expand, on_device, run_sweep
from mixsig.train import pretrain_key


def describe_plan(runs: list) -> str:
    """How many runs train, and what they share: a configuration listed under two tags (e.g.
    P at 4 bits in both the method and the distortion study) is one run, keyed by its config;
    runs that differ only after pre-training share one float pre-training."""
    keys = {r.key for r in runs}
    shared = len(runs) - len(keys)
    pre = {pretrain_key(r.config) for r in runs}
    text = f"{len(keys)} runs"
    if shared:
        text += f" ({len(runs)} listed: {shared} appear under two tags and run once)"
    return text + f", {len(pre)} float pre-trainings shared among them"


def _data_sets(data: str | Sequence[str]) -> list[str]:
    """``data`` as a list of names, each once, in the order given."""
    names = [data] if isinstance(data, str) else list(data)
    return list(dict.fromkeys(names)) or ["bundled-mnist"]


def plan_runs(
    data: str | Sequence[str] = "bundled-mnist",
    plan_name: str | None = None,
    *,
    quick: bool = False,
    seeds: int = 3,
    draws: int = 20,
    root: str | Path = "data",
    local: dict[str, str] | None = None,
) -> tuple[str, list[SweepRun]]:
    """The title and the expanded runs of plan ``plan_name`` on each data set of ``data``
    (`mixsig.experiments.plans.plan`; the full sets read from ``root``); ``local``'s runs go
    with the first data set's plan."""
    names, runs = [], []
    for i, name in enumerate(_data_sets(data)):
        spec = plan(
            quick,
            seeds,
            draws,
            local if i == 0 else None,
            data=name,
            kind=plan_name,
            root=str(Path(root).expanduser()),
        )
        spec = SweepConfig.model_validate(spec)
        names.append(spec.name)
        runs += expand(spec, Path.cwd())
    return " + ".join(names), runs


def check_data(
    data: str | Sequence[str], root: str | Path, local: dict[str, str] | None = None
) -> None:
    """Read and check the files of every full set of ``data`` under ``root`` and of every
    local set (`DataError` naming the files and where they were looked for)."""
    for name in _data_sets(data):
        if name in FULL_SETS:
            load_local(name, root, limit_train=1, limit_test=1)
    for name, folder in (local or {}).items():
        load_local(name, folder, grayscale=name == "cifar10", limit_train=1, limit_test=1)


def reproduce(
    out: str | Path,
    *,
    quick: bool = False,
    seeds: int = 3,
    draws: int = 20,
    scheduler: str | None = None,
    workers: int = 2,
    local: dict[str, str] | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    device: str | None = None,
    data: str | Sequence[str] = "bundled-mnist",
    plan_name: str | None = None,
    root: str | Path = "data",
) -> Path:
    """Run (or continue) the reproduction into ``out`` and build its report in
    ``out/report``; returns the path of the report's ``index.html``.

    ``data``: one data set or several (``bundled-mnist``, ``mnist``, ``fashion-mnist``; the
    full sets are read from ``root``, as `mixsig data fetch` fills it); ``plan_name``:
    ``quick``, ``standard`` or ``full`` (None: ``quick`` when ``quick``, else
    ``standard``); see `mixsig.experiments.plans`. ``local``: data set name → folder, for the
    optical CNN on full MNIST / Fashion-MNIST / grey CIFAR-10. Every data folder's files are
    read and checked before the sweep starts (`DataError` naming them). ``device``: where
    every run computes (None: ``auto``, each run's default)."""
    out = Path(out)
    title, runs = plan_runs(
        data, plan_name, quick=quick, seeds=seeds, draws=draws, root=root, local=local
    )
    check_data(data, root, local)  # every file read and checked before any run
    runs = on_device(runs, device)
    echo(f"{title}: {describe_plan(runs)}, into {out}")
    table = run_sweep(runs, out, scheduler=scheduler, workers=workers, progress=progress, echo=echo)
    command = "mixsig " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else None
    index = build_report(table, out / "report", title=title, command=command)
    for line in json.loads((index.parent / "verdict.json").read_text())["sentences"]:
        echo(line)  # the verdict the report computed and wrote next to the page
    echo(f"report: {index}")
    return index


__all__ = [
    "FULL_BITS",
    "FULL_SIGMA_TRAIN",
    "SIGMA_TEST",
    "base_config",
    "check_data",
    "describe_plan",
    "plan",
    "plan_runs",
    "reproduce",
]
