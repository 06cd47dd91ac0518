"""Uplift intervals checked against hand computations."""

import math

import pytest

from crm.services.retention.uplift import conversion_uplift, mean_uplift, wilson_interval


def test_wilson_interval_matches_the_textbook_example():
    # Newcombe (1998), Table I, example (a): 81/263 -> 0.2553 to 0.3662.
    low, high = wilson_interval(81, 263)
    assert low == pytest.approx(0.2553, abs=1e-4)
    assert high == pytest.approx(0.3662, abs=1e-4)


def test_conversion_uplift_matches_newcombe_method_10():
    # Newcombe (1998), Table II, example (a): 56/70 vs 48/80 -> difference 0.2, 95% CI 0.0524 to 0.3339.
    uplift = conversion_uplift(56, 70, 48, 80)
    assert uplift.difference == pytest.approx(0.2)
    assert uplift.low == pytest.approx(0.0524, abs=1e-4)
    assert uplift.high == pytest.approx(0.3339, abs=1e-4)
    assert uplift.distinguishable


def test_small_groups_are_not_distinguishable_from_zero():
    uplift = conversion_uplift(3, 30, 1, 10)  # 10% vs 10%
    assert uplift.difference == pytest.approx(0.0)
    assert uplift.low < 0 < uplift.high
    assert not uplift.distinguishable


def test_empty_control_group_gives_no_uplift():
    assert conversion_uplift(3, 30, 0, 0) is None


def test_mean_uplift_by_hand():
    a = [10.0, 20.0, 30.0, 40.0]  # mean 25, sample variance 166.67
    b = [5.0, 15.0, 10.0]  # mean 10, sample variance 25
    uplift = mean_uplift(sum(a), sum(x * x for x in a), len(a), sum(b), sum(x * x for x in b), len(b))
    half = 1.959963984540054 * math.sqrt((500 / 3) / 4 + 25 / 3)
    assert uplift.difference == pytest.approx(15.0)
    assert uplift.low == pytest.approx(15 - half)
    assert uplift.high == pytest.approx(15 + half)
