"""Experiments built on training and evaluation: the demo, method comparisons, later sweeps."""

from mixsig.experiments.compare import compare_methods
from mixsig.experiments.demo import run_demo

__all__ = ["compare_methods", "run_demo"]
