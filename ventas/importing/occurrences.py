"""Counting identical lines within one file in about 16 bytes per distinct line.

Identical history lines are distinct services (a customer with 40 services on the placeholder day), so each
gets its occurrence number in the file as part of its natural key. Counting needs to remember every line seen
so far; a Python dict of 64-bit digests costs ~100 bytes per line (100 MB for a million), this open-addressing
table of raw 64-bit integers costs 8 bytes per slot at most half full. Lines seen twice or more (rare) keep
their count in a small dict.
"""

from array import array

_EMPTY = 0


class OccurrenceCounter:
    def __init__(self, capacity: int = 1 << 16):
        self._slots = array("q", bytes(8 * capacity))
        self._mask = capacity - 1
        self._used = 0
        self._repeats: dict[int, int] = {}

    def __len__(self) -> int:
        return self._used

    @property
    def nbytes(self) -> int:
        return self._slots.itemsize * len(self._slots)

    def next(self, digest: int) -> int:
        """Occurrence number of this digest (0 the first time it is seen, then 1, 2…); digests are signed 64-bit."""
        digest = digest or 1  # 0 marks an empty slot
        if self._insert(digest):
            return 0
        seen = self._repeats.get(digest, 1)
        self._repeats[digest] = seen + 1
        return seen

    def _insert(self, digest: int) -> bool:
        slots, mask = self._slots, self._mask
        index = digest & mask
        while True:
            current = slots[index]
            if current == _EMPTY:
                slots[index] = digest
                self._used += 1
                if self._used * 2 > len(slots):
                    self._grow()
                return True
            if current == digest:
                return False
            index = (index + 1) & mask

    def _grow(self) -> None:
        old = self._slots
        self._slots = array("q", bytes(16 * len(old)))
        self._mask = len(self._slots) - 1
        self._used = 0
        for digest in old:
            if digest != _EMPTY:
                self._insert(digest)
