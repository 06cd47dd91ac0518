"""Lines imported before, recognised from their cells as written, so a re-import does not parse them again.

Parsing a history line (cleaning its name, date, amount and service, hashing its natural key) is what a
re-import of a large export spends its time on, although almost every line is byte for byte one that an earlier
import stored. So every stored line also keeps a digest of its cells as written (`ImportedRow.line_hash`), and the
first pass over a file (`scan_file`) digests each line too, and notes the few facts of it that the import counts
(placeholder date, blank amount, no usable date). After that pass one join finds which of the file's lines are
stored, the key each was stored under and its history row. The second pass counts such a line from those facts
without parsing it, unless it needs more: a line without a usable date is observed in the report again, and a line
whose contact identifies nobody now has its customer checked again (see services.py), from its identity alone,
unless its identity is settled on the customer the line is on (one that nothing this import does can change).
In a CSV file the second pass does not even split such lines into cells: the first pass noted the lines whose
cells hold line breaks, so runs of counted lines are passed over as physical lines (`Table.skipping`).

Rules that keep this exact:
- The digest covers every cell, so any change in a line (an amount, a trailing column) makes it a new line that
  is parsed and keyed as before; identical lines in one file are told apart by their occurrence, numbered in file
  order as the natural keys are (`OccurrenceCounter`), so a 41st identical service imports when 40 were stored.
- A stored line keeps its stored key, also when it must be parsed; a new line's natural key never takes a key
  that a stored line of the same file holds (`KnownLines.taken`), wherever that line is in the file.
- Lines stored before this digest existed have none: they are parsed and matched by natural key as always, and
  get their digest then, so the next re-import is fast.

Memory: 13 bytes per line during the first pass (digest, identity index, facts), then 34 (facts, numbered digest,
stored key, history row and its customer, counted flag) until the import ends: 34 MB for a million lines.
"""

import hashlib
from array import array
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from ventas.importing.readers import UnreadableLine

# Changing how a line is digested must change this prefix (old digests then simply stop matching).
_VERSION = b"1\x1f"

# A line's facts, found in the first pass (bits): what a stored line adds to the counts without being read again.
PLACEHOLDER = 1  # dated on the placeholder day
BLANK_AMOUNT = 2
UNDATED = 4  # no usable date: the import observes it in the report, so the second pass reads it again


def line_digest(cells: Sequence) -> int:
    """Signed 64-bit digest of a line's cells as written (CSV text, or .xlsx values as text)."""
    try:
        text = "\x1f".join(cells)
    except TypeError:  # .xlsx: numbers, dates, None
        text = "\x1f".join("" if cell is None else str(cell) for cell in cells)
    return int.from_bytes(hashlib.blake2b(_VERSION + text.encode(), digest_size=8).digest(), "big", signed=True)


def with_occurrence(digest: int, occurrence: int) -> int:
    """The digest of the `occurrence`-th repeat (0: the first) of a line in one file."""
    if not occurrence:
        return digest
    raw = digest.to_bytes(8, "big", signed=True) + b"#%d" % occurrence
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big", signed=True)


class LineDigests:
    """The first pass's digest of every line, by ordinal (the n-th line the reader yields, from 0)."""

    def __init__(self):
        self._digests = array("q")
        self.add = self._digests.append

    def __len__(self) -> int:
        return len(self._digests)

    def skip(self) -> None:
        """A line without cells to digest (unreadable): keeps the ordinals aligned."""
        self._digests.append(0)

    def numbered(self) -> np.ndarray:
        """Each line's digest with its occurrence among identical lines, in file order. Hands the digests over:
        this object is empty after (its array and the result are never held together)."""
        # A view of the array's memory (no copy), numbered in place; the array lives on as the view's base.
        digests = np.frombuffer(self._digests, dtype=np.int64) if self._digests else np.zeros(0, np.int64)
        self._digests = array("q")
        self.add = self._digests.append
        if not len(digests):
            return digests
        order = np.argsort(digests, kind="stable")  # equal digests stay in file order
        ordered = digests[order]
        first = np.empty(len(ordered), dtype=bool)  # first of its group of equal digests, in sorted order
        first[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
        del ordered
        starts, repeats = np.flatnonzero(first), np.flatnonzero(~first)  # repeats are few
        del first
        occurrence = repeats - starts[np.searchsorted(starts, repeats, side="right") - 1]
        for position, nth in zip(repeats.tolist(), occurrence.tolist(), strict=True):
            index = order[position]
            digests[index] = with_occurrence(int(digests[index]), nth)
        return digests


def counted_runs(counted: bytes) -> list[tuple[int, int]]:
    """(first ordinal, count) of each run of consecutive lines flagged 1 in `counted`."""
    flags = np.frombuffer(counted, dtype=np.uint8)
    edges = np.diff(np.concatenate(([0], flags, [0])).astype(np.int8))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), (ends - starts).tolist(), strict=True))


def count_facts(facts: bytes, start: int, count: int, *bits: int) -> list[int]:
    """For each of `bits`, how many of the lines `start` to `start + count` (ordinals) have that fact."""
    window = np.frombuffer(facts, dtype=np.uint8, count=count, offset=start)
    return [int(np.count_nonzero(window & bit)) for bit in bits]


class FirstPass:
    """What the first pass keeps of each line, by ordinal: its digest, the index of its (name, email, phone)
    as written among the file's distinct ones, and its facts (13 bytes a line)."""

    def __init__(self):
        self.digests = LineDigests()
        self.identities: dict[tuple, int] = {}  # (name, email, phone) as written -> index
        self.identity_of = array("i")  # by ordinal; -1: unreadable
        self.facts = array("B")  # by ordinal
        self.spans: dict[int, int] | None = None  # CSV: the reader's physical lines of a line, where not one

    def read(self, rows, identity_cells: Callable, facts: Callable) -> None:
        """Consume the reader's (line, cells) rows (unreadable lines have no cells)."""
        identities, add_identity, add_facts = self.identities, self.identity_of.append, self.facts.append
        add_digest = self.digests.add
        for _, cells in rows:
            if isinstance(cells, UnreadableLine):
                self.digests.skip()
                add_identity(-1)
                add_facts(0)
                continue
            triple = identity_cells(cells)
            if (index := identities.get(triple)) is None:
                index = identities[triple] = len(identities)
            add_identity(index)
            add_facts(facts(cells))
            add_digest(line_digest(cells))

    def digest_all(self, rows):
        """Digest each line of the reader's (line, cells) rows, yielding the readable lines' cells (a first
        import: the lines' digests are all it needs of this pass)."""
        add = self.digests.add
        for _, cells in rows:
            if isinstance(cells, UnreadableLine):
                self.digests.skip()
                continue
            add(line_digest(cells))
            yield cells

    def identity_counts(self) -> list[tuple[tuple, int]]:
        """(name, email, phone) as written -> lines, for the shared-contact scan."""
        ids = np.frombuffer(self.identity_of, dtype=np.int32) if self.identity_of else np.zeros(0, np.int32)
        counts = np.bincount(ids[ids >= 0], minlength=len(self.identities)).tolist()
        return list(zip(self.identities, counts, strict=True))


class KnownLines:
    """Which lines of the file were imported before, and under which key (`find`: one query)."""

    def __init__(self, digests: np.ndarray, stored=None, history=None, customers=None):
        # By ordinal. Read one value at a time: the digests (every parsed line) from a Python array, the rest (only
        # lines imported before and read again) from numpy ones; without stored lines, those are empty.
        source = getattr(digests.base, "obj", None)  # `LineDigests.numbered` answers a view of its array
        if isinstance(source, array) and source.typecode == "q" and len(source) == len(digests):
            self.digests = source  # no copy
        else:
            self.digests = array("q")
            self.digests.frombytes(memoryview(np.ascontiguousarray(digests, dtype=np.int64)).cast("B"))
        empty = np.zeros(0, np.int64)
        self.stored = empty if stored is None else stored  # the stored key, 0 for a new line
        self.history = empty if history is None else history  # the history row it created, 0 if unknown or gone
        self.customers = empty if customers is None else customers  # that row's customer when the import began
        self.count = int(np.count_nonzero(self.stored))
        self._taken = np.unique(self.stored[self.stored != 0]) if self.count else empty

    @classmethod
    def find(cls, digests: LineDigests, lookup: Callable[[np.ndarray], Iterable[np.ndarray]] | None = None):
        """The lines among `digests` stored before. `lookup(sorted distinct numbered digests)` yields blocks of
        int64 rows (digest, stored key, history id, its customer; 0 when none) of the stored ones; None: nothing
        is stored (a first import), and only the numbered digests are kept.

        Memory: the numbered digests and the three answers by ordinal (32 bytes a line), plus the sort order and
        sorted digests while the blocks are placed (12 more); the answer arrives in blocks, never whole."""
        numbered = digests.numbered()
        if lookup is None:
            return cls(numbered)
        order = np.argsort(numbered)
        if len(order) < 2**31:
            order = order.astype(np.int32)
        ordered = numbered[order]
        distinct = np.ones(len(ordered), dtype=bool)
        np.not_equal(ordered[1:], ordered[:-1], out=distinct[1:])
        answers = [np.zeros(len(numbered), np.int64) for _ in range(3)]
        for block in lookup(ordered if distinct.all() else ordered[distinct]):
            ordinals = order[np.searchsorted(ordered, block[:, 0])]  # the first line with each stored digest
            for column, values in enumerate(answers, start=1):
                values[ordinals] = block[:, column]
        # Equal numbered digests (two different lines, one 64-bit digest: in theory only) share the answer.
        for position in np.flatnonzero(~distinct).tolist():
            for values in answers:
                values[order[position]] = values[order[position - 1]]
        del order, ordered, distinct
        return cls(numbered, *answers)

    @classmethod
    def none(cls) -> "KnownLines":
        return cls(np.zeros(0, np.int64))

    def new_identities(self, first_pass: "FirstPass") -> list[int]:
        """The identity indexes of the readable lines not imported before."""
        identity = np.frombuffer(first_pass.identity_of, dtype=np.int32)
        return np.unique(identity[(self.stored == 0) & (identity >= 0)]).tolist()

    def countable(self, first_pass: "FirstPass", dropped: list[bool], settled: list[int]) -> bytes:
        """By ordinal, 1 for a stored line with nothing to check or observe: it has a usable date, and none of
        its contacts identifies nobody (`dropped`, by identity index) or its identity is settled on the customer
        its history row has (`settled`, by identity index: that customer, or 0)."""
        stored = self.stored
        identity = np.frombuffer(first_pass.identity_of, dtype=np.int32)
        facts = np.frombuffer(first_pass.facts, dtype=np.uint8)
        dropped_by_identity = np.array([*dropped, False], dtype=bool)[identity]  # index -1 (unreadable): the last
        settled_on = np.array([*settled, 0], dtype=np.int64)[identity]
        checked = ~dropped_by_identity | ((settled_on != 0) & (settled_on == self.customers) & (self.history != 0))
        countable = (stored != 0) & checked & ((facts & UNDATED) == 0)
        return countable.astype(np.uint8).tobytes()

    def digest(self, ordinal: int) -> int | None:
        return self.digests[ordinal] if ordinal < len(self.digests) else None

    def stored_key(self, ordinal: int) -> int:
        """The key the line was stored under, 0 when it is new."""
        return self.stored[ordinal].item() if self.count and ordinal < len(self.stored) else 0

    def history_id(self, ordinal: int) -> int:
        """The history row a stored line created (0 when not recorded or deleted since)."""
        return self.history[ordinal].item() if ordinal < len(self.history) else 0

    def customer(self, ordinal: int) -> int:
        """The customer of that history row when the import began (0 with no row)."""
        return self.customers[ordinal].item() if ordinal < len(self.customers) else 0

    def taken(self, key: int) -> bool:
        """Whether a line of this file imported before holds `key` (a new line must not take it)."""
        if not self.count:
            return False
        taken = self._taken
        index = int(np.searchsorted(taken, key))
        return index < len(taken) and taken[index] == key
