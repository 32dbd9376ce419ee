"""Evaluation of mixed-signal networks: Monte-Carlo accuracy over noise draws (`montecarlo`),
detected photons per MAC of an optical layer (`photons`) and the energy per inference
(`energy`: operation count, price, Pareto front)."""

from mixsig.eval.montecarlo import (
    EQUIVALENT_DEFINITION,
    EQUIVALENT_PP,
    MCResult,
    evaluate,
    is_equivalent,
)

__all__ = ["EQUIVALENT_DEFINITION", "EQUIVALENT_PP", "MCResult", "evaluate", "is_equivalent"]
