"""`spread`: the sample standard deviation the experiments report over seeds."""

import math

from mixsig.experiments._spread import spread


def test_spread_is_the_sample_std_and_zero_for_one_value():
    assert spread([0.9]) == 0.0
    assert spread([1.0, 3.0]) == math.sqrt(2.0)  # (n − 1) in the denominator
    assert spread(iter([2.0, 4.0, 6.0])) == 2.0  # any iterable
