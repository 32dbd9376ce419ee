"""Experiments built on training and evaluation: the demo, method comparisons, the
reproduction (`reproduce`), sweeps on Dask (`run_sweep`) and the report (`build_report`)."""

from mixsig.experiments.compare import compare_methods
from mixsig.experiments.demo import run_demo
from mixsig.experiments.report import build_report, verdict
from mixsig.experiments.reproduce import reproduce
from mixsig.experiments.sweep import load_sweep, run_sweep

__all__ = [
    "build_report",
    "compare_methods",
    "load_sweep",
    "reproduce",
    "run_demo",
    "run_sweep",
    "verdict",
]
