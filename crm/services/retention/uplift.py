"""Campaign effect against a random control group: difference in conversion and in revenue per customer.

Conversion uplift = p_contacted - p_control with a 95% Newcombe (hybrid Wilson score) interval, which behaves
with small groups and rates near 0 or 1 where the plain Wald interval does not. Revenue per customer uplift =
mean_contacted - mean_control with a 95% Welch interval (normal approximation, unequal variances) from the groups'
sums and sums of squares, so callers can aggregate in the database. An interval that contains 0 means the campaign's
effect cannot be told apart from what would have happened anyway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Uplift:
    difference: float
    low: float
    high: float

    @property
    def distinguishable(self) -> bool:
        """False when the 95% interval contains zero."""
        return self.low > 0 or self.high < 0


def conversion_uplift(converted_a: int, n_a: int, converted_b: int, n_b: int) -> Uplift | None:
    """Uplift of group a (contacted) over group b (control), Newcombe's method 10. None if a group is empty."""
    if not n_a or not n_b:
        return None
    p_a, p_b = converted_a / n_a, converted_b / n_b
    l_a, u_a = wilson_interval(converted_a, n_a)
    l_b, u_b = wilson_interval(converted_b, n_b)
    difference = p_a - p_b
    low = difference - math.sqrt((p_a - l_a) ** 2 + (u_b - p_b) ** 2)
    high = difference + math.sqrt((u_a - p_a) ** 2 + (p_b - l_b) ** 2)
    return Uplift(difference, low, high)


def mean_uplift(sum_a: float, sumsq_a: float, n_a: int, sum_b: float, sumsq_b: float, n_b: int) -> Uplift | None:
    """Difference of means (a - b) with a 95% Welch interval, from each group's sum and sum of squares."""
    if n_a < 2 or n_b < 2:
        return None
    mean_a, mean_b = sum_a / n_a, sum_b / n_b
    var_a = max(0.0, (sumsq_a - n_a * mean_a**2) / (n_a - 1))
    var_b = max(0.0, (sumsq_b - n_b * mean_b**2) / (n_b - 1))
    half = Z95 * math.sqrt(var_a / n_a + var_b / n_b)
    difference = mean_a - mean_b
    return Uplift(difference, difference - half, difference + half)
