"""Evaluation of mixed-signal networks: Monte-Carlo accuracy over noise draws."""

from mixsig.eval.montecarlo import (
    EQUIVALENT_DEFINITION,
    EQUIVALENT_PP,
    MCResult,
    evaluate,
    is_equivalent,
)

__all__ = ["EQUIVALENT_DEFINITION", "EQUIVALENT_PP", "MCResult", "evaluate", "is_equivalent"]
