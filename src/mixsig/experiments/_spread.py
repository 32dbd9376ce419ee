"""The spread the experiments report over seeds or runs: `spread`, the sample standard deviation
(n − 1), 0 for a single value (one seed has no spread to show)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable


def spread(values: Iterable[float]) -> float:
    """The sample standard deviation of ``values``; 0 when there is only one."""
    v = list(values)
    return statistics.stdev(v) if len(v) > 1 else 0.0
