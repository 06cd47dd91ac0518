"""The compact counter of identical lines used for natural keys."""

import random

from ventas.importing.occurrences import OccurrenceCounter


def test_counts_each_digest_from_zero():
    counter = OccurrenceCounter(capacity=4)
    assert [counter.next(d) for d in [7, 7, -3, 7, 0, 0, -3]] == [0, 1, 0, 2, 0, 1, 1]


def test_growing_keeps_every_digest_and_stays_compact():
    rng = random.Random(1)
    digests = [rng.randint(-(2**63), 2**63 - 1) for _ in range(50_000)]
    counter = OccurrenceCounter(capacity=8)
    assert all(counter.next(d) == 0 for d in digests)
    assert all(counter.next(d) == 1 for d in digests)
    assert len(counter) == 50_000
    assert counter.nbytes <= 50_000 * 8 * 4
