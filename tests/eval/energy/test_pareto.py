"""The Pareto front of accuracy against energy (`pareto_front`): a hand-made set, ties, and
random seeded sets against the definition checked pair by pair."""

import math
import random

import pytest

from mixsig import MixsigError
from mixsig.eval.energy import pareto_front


def test_a_hand_made_set():
    points = [
        (3.0, 0.90),  # 0: on the front
        (1.0, 0.50),  # 1: on the front
        (2.0, 0.80),  # 2: on the front
        (2.0, 0.70),  # 3: same energy as 2, less accurate
        (4.0, 0.85),  # 4: more energy than 0, less accurate
        (1.0, 0.50),  # 5: a copy of 1, given later
        (5.0, 0.95),  # 6: the most accurate
        (0.5, 0.20),  # 7: the cheapest
        (6.0, 0.95),  # 8: as accurate as 6, more energy
    ]
    assert pareto_front(points) == [7, 1, 2, 0, 6]


def test_the_first_of_identical_points_is_kept():
    assert pareto_front([(1.0, 0.5), (1.0, 0.5), (1.0, 0.5)]) == [0]
    assert pareto_front([(2.0, 0.9), (1.0, 0.5), (2.0, 0.9)]) == [1, 0]


def test_empty_and_single():
    assert pareto_front([]) == []
    assert pareto_front([(1e-9, 0.9)]) == [0]


def _dominated(i: int, points) -> bool:
    e, a = points[i]
    for j, (ej, aj) in enumerate(points):
        if j == i:
            continue
        better = ej <= e and aj >= a and (ej < e or aj > a)
        if better or ((ej, aj) == (e, a) and j < i):
            return True
    return False


@pytest.mark.parametrize("seed", range(5))
def test_random_sets_against_the_definition(seed):
    rng = random.Random(seed)
    # coarse grids, so that ties in energy, in accuracy and whole copies occur
    points = [(rng.randint(1, 12) * 1e-9, rng.randint(0, 10) / 10) for _ in range(40)]
    front = pareto_front(points)
    assert sorted(front) == [i for i in range(len(points)) if not _dominated(i, points)]
    energies = [points[i][0] for i in front]
    accuracies = [points[i][1] for i in front]
    assert energies == sorted(energies) and len(set(energies)) == len(energies)
    assert accuracies == sorted(accuracies) and len(set(accuracies)) == len(accuracies)


@pytest.mark.parametrize(
    "bad", [[(1.0, math.nan)], [(math.inf, 0.5)], [(1.0,)], [(1.0, 0.5, 2.0)], [("a", 0.5)], [3]]
)
def test_bad_points_are_refused(bad):
    with pytest.raises(MixsigError, match=r"points\[0\]"):
        pareto_front(bad)
