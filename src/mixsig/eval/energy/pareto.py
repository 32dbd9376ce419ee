"""The Pareto front of accuracy against energy: `pareto_front`.

Owns which (energy, accuracy) points are worth having: a point is dominated when another has
no more energy and no less accuracy, and is better in one of them. Ties are settled
deterministically: of several identical points the first given is kept, the others count as
dominated by it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mixsig.errors import MixsigError


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """The indices of the non-dominated ``(energy_j, accuracy)`` points (lower energy and
    higher accuracy are better), sorted by energy (module docstring for ties)."""
    values = []
    for i, p in enumerate(points):
        try:
            energy, accuracy = (float(v) for v in p)
        except (TypeError, ValueError):
            raise MixsigError(
                f"points[{i}] must be a pair (energy_j, accuracy) of numbers, got {p!r}"
            ) from None
        if not (math.isfinite(energy) and math.isfinite(accuracy)):
            raise MixsigError(f"points[{i}] must be finite, got {p!r}")
        values.append((energy, -accuracy, i))
    front, best = [], -math.inf
    for _energy, neg_accuracy, i in sorted(values):  # energy up, accuracy down, index up
        if -neg_accuracy > best:
            front.append(i)
            best = -neg_accuracy
    return front


__all__ = ["pareto_front"]
