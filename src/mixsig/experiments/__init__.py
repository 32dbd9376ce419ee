"""Experiments built on training and evaluation: the demo, later sweeps and reproduction."""

from mixsig.experiments.demo import run_demo

__all__ = ["run_demo"]
