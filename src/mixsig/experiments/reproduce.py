"""The main job: reproduce the paper's claim on the bundled digits and go past it.

Owns the experiment plan of ``mixsig reproduce`` — which runs answer which question — as a
sweep spec (`mixsig.experiments.sweep`), and the hand-off to the report
(`mixsig.experiments.report`). Four parts, each a ``tag`` of the tidy results table:

* ``methods`` — the small CNN on the bundled MNIST digits, trained with P and B1–B4 at every
  ADC bit depth (DAC and weights stay at 4 bits), P and B3 at every σ_train; every run is
  evaluated at every σ_test with ``draws`` Monte-Carlo draws. The ADC ranges are calibrated
  (noise-aware MSE) and then learned (LSQ) by the methods that train through the ADC (P, B4);
  B1–B3 never see the ADC in training and are re-calibrated for deployment;
* ``distortion`` — P (and B1 for the realistic camera) at 4 bits with fixed distortions of
  growing strength (gamma, PRNU, crosstalk) and the realistic combination of the issue
  (gamma 0.8, 5 % PRNU, 10 % crosstalk);
* ``optical`` — the optical CNN (a 16-level DOE front read by the 4-bit camera, 0.5 LSB),
  trained with P and deployed float-trained (B1).

Runs that share their float pre-training (same seed, data and model) pre-train once. The
full plan is ~240 runs; ``quick`` keeps what answers the paper's question at 4 bits (every
method, 3 seeds; P, B1 and B4 at 3 bits; the realistic distortion; the optical CNN, one seed)
at σ_test 0, 0.5, 1, 1.5, 2 LSB, in under 10 minutes on 2 cores. Everything is
resumable: a second call skips finished runs and continues interrupted ones.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from mixsig.config.methods import NOISE_FREE_METHODS, NOISY_METHODS
from mixsig.data import load_local
from mixsig.experiments.report import build_report
from mixsig.experiments.sweep import SweepConfig, expand, run_sweep
from mixsig.train import pretrain_key

FULL_BITS = (2, 3, 4, 5, 6, 8)
FULL_SIGMA_TRAIN = (0.0, 0.25, 0.5, 1.0)
SIGMA_TEST = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
QUICK_SIGMA_TEST = (0.0, 0.5, 1.0, 1.5, 2.0)

# distortion kind -> [(strength, hardware.distortion list)], strength = deviation from ideal
DISTORTIONS = {
    "gamma": [(1 - g, [{"kind": "gamma", "gamma": g}]) for g in (0.9, 0.8, 0.7)],
    "prnu": [(s, [{"kind": "gain_offset", "gain_std": s, "seed": 7}]) for s in (0.025, 0.05, 0.1)],
    "crosstalk": [(c, [{"kind": "crosstalk", "strength": c}]) for c in (0.05, 0.1, 0.2)],
}
REALISTIC = [
    {"kind": "gamma", "gamma": 0.8},
    {"kind": "gain_offset", "gain_std": 0.05, "seed": 7},
    {"kind": "crosstalk", "strength": 0.1},
]


def base_config(draws: int = 20, sigma_test: tuple[float, ...] = SIGMA_TEST) -> dict:
    """The run every entry of the plan starts from (bundled MNIST, small CNN, 4-bit chain)."""
    return {
        "name": "reproduce",
        "data": {"name": "bundled-mnist", "test_fraction": 0.2},
        "model": {"name": "small_cnn", "batchnorm": True},
        "hardware": {
            "dac": {"bits": 4},
            "weights": {"bits": 4},
            "noise": {"sigma_lsb": 0.5},
            "adc": {"bits": 4, "range": "learned"},
        },
        "method": {"name": "P", "sigma_train_lsb": 0.5, "noise_ramp": 0.3, "bn_batches": 20},
        "pretrain": {"epochs": 4, "lr": 0.003},
        "aware": {"epochs": 6, "lr": 0.002},
        "batch_size": 64,
        "checkpoint_every": 50,
        "eval": {"draws": draws, "sigma_test_lsb": list(sigma_test)},
    }


def _method_runs(bits: tuple[int, ...], sigma_train: tuple[float, ...]) -> list[dict]:
    runs = []
    for b in bits:
        for m in NOISE_FREE_METHODS:
            runs.append({"tag": "methods", "method.name": m, "hardware.adc.bits": b})
        for m in NOISY_METHODS:  # each at every σ_train
            for s in sigma_train:
                runs.append(
                    {
                        "tag": "methods",
                        "method.name": m,
                        "method.sigma_train_lsb": s,
                        "hardware.adc.bits": b,
                    }
                )
    return runs


def _distortion_runs(quick: bool) -> list[dict]:
    runs = [
        {"tag": "distortion", "labels": {"distortion": "none", "distortion_strength": 0.0}},
        {
            "tag": "distortion",
            "method.name": "B1",
            "labels": {"distortion": "none", "distortion_strength": 0.0},
        },
    ]
    for m in ("P", "B1"):
        runs.append(
            {
                "tag": "distortion",
                "method.name": m,
                "hardware.distortion": REALISTIC,
                "labels": {"distortion": "realistic", "distortion_strength": 0.2},
            }
        )
    if not quick:
        for kind, levels in DISTORTIONS.items():
            for strength, dist in levels:
                runs.append(
                    {
                        "tag": "distortion",
                        "hardware.distortion": dist,
                        "labels": {"distortion": kind, "distortion_strength": strength},
                    }
                )
    return runs


def _optical_runs(quick: bool) -> list[dict]:
    optical = {
        "model.name": "optical_cnn",
        "model.optical": {
            "out_channels": 8,
            "kernel_size": 5,
            "doe_levels": 16,
            "regularizer_weight": 0.1,
        },
        "hardware.dac": {"bits": 4, "range": "fixed", "lo": 0.0, "hi": 1.0},
        "hardware.weights": {"bits": None},
        "hardware.adc.signed": False,
        "pretrain.epochs": 3,
        "pretrain.lr": 0.01,
        "aware.epochs": 2,
        "aware.lr": 0.003,
    }
    if quick:  # one seed: an optical run costs ~6 digital ones
        optical["seed"] = 0
    return [{"tag": "optical", "method.name": m, **optical} for m in ("P", "B1")]


def _local_runs(local: dict[str, str]) -> list[dict]:
    """The optical CNN next to Chang et al. (Sci. Rep. 2018) on local data sets: for each
    (name → folder) of ``local`` (``mnist``, ``fashion-mnist``, ``cifar10``), tag
    ``optical-<name>``: the optical CNN trained with P and deployed float-trained (B1), and
    the digital small CNN with P on the same 4-bit chain. CIFAR-10 is greyscale (one intensity
    image enters the optics) with 9 × 9 kernels, as in Chang et al."""
    runs = []
    for name, root in local.items():
        if name not in ("mnist", "fashion-mnist", "cifar10"):
            raise ValueError(f"local data sets are mnist, fashion-mnist and cifar10, got {name!r}")
        data = {"name": name, "root": str(root), "grayscale": name == "cifar10"}
        k = 9 if name == "cifar10" else 5
        tag = f"optical-{name}"
        for r in _optical_runs(quick=False):
            runs.append({**r, "tag": tag, "data": data, "model.optical.kernel_size": k})
        runs.append({"tag": tag, "data": data, "method.name": "P"})
    return runs


def plan(
    quick: bool = False,
    seeds: int = 3,
    draws: int = 20,
    local: dict[str, str] | None = None,
) -> dict:
    """The sweep spec of the reproduction (a dict of `SweepConfig`'s schema); ``local`` adds
    the optical CNN on local data sets (`_local_runs`)."""
    if quick:
        runs = _method_runs((4,), (0.5, 1.0)) + [
            {"tag": "methods", "method.name": m, "hardware.adc.bits": 3} for m in ("B1", "B4")
        ]
        runs += [
            {"tag": "methods", "method.sigma_train_lsb": st, "hardware.adc.bits": 3}
            for st in (0.5, 1.0)
        ]
    else:
        runs = _method_runs(FULL_BITS, FULL_SIGMA_TRAIN)
    runs += _distortion_runs(quick) + _optical_runs(quick) + _local_runs(local or {})
    return {
        "name": "reproduce-quick" if quick else "reproduce",
        "base": base_config(draws, QUICK_SIGMA_TEST if quick else SIGMA_TEST),
        "runs": runs,
        "grid": {"seed": list(range(seeds))},
    }


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
) -> Path:
    """Run (or continue) the reproduction into ``out`` and build its report in
    ``out/report``; returns the path of the report's ``index.html``. ``local``: data set name
    → folder, for the optical CNN on full MNIST / Fashion-MNIST / grey CIFAR-10; each
    folder's files are read and checked before the sweep starts (`DataError` naming them)."""
    out = Path(out)
    spec = SweepConfig.model_validate(plan(quick, seeds, draws, local))
    for name, root in (local or {}).items():  # every file read and checked before any run
        load_local(name, root, grayscale=name == "cifar10", limit_train=1, limit_test=1)
    runs = expand(spec, Path.cwd())
    echo(f"{spec.name}: {describe_plan(runs)}, into {out}")
    table = run_sweep(runs, out, scheduler=scheduler, workers=workers, progress=progress, echo=echo)
    command = "mixsig " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else None
    index = build_report(table, out / "report", title=spec.name, command=command)
    for line in json.loads((index.parent / "verdict.json").read_text())["sentences"]:
        echo(line)  # the verdict the report computed and wrote next to the page
    echo(f"report: {index}")
    return index


__all__ = ["SIGMA_TEST", "base_config", "describe_plan", "plan", "reproduce"]
