"""Lines imported before, recognised from their cells as written, so a re-import does not parse them again.

Parsing a history line (cleaning its name, date, amount and service, hashing its natural key) is what a
re-import of a large export spends its time on, although almost every line is byte for byte one that an earlier
import stored. So every stored line also keeps a digest of its cells as written (`ImportedRow.line_hash`), and the
first pass over a file (`scan_file`) digests each line too, and notes the few facts of it that the import counts
(placeholder date, blank amount, no usable date). After that pass the database numbers identical lines and one join
finds which of the file's lines are stored, the key each was stored under and its history row. The second pass
counts such a line from those facts without parsing it, unless it needs more: a line without a usable date is
observed in the report again, and a line whose contact identifies nobody now has its customer checked again (see
services.py), from its identity alone, unless its identity is settled on the customer the line is on (one that
nothing this import does can change). In a CSV file the second pass does not even split such lines into cells: the
first pass noted the lines whose cells hold line breaks, so runs of counted lines are passed over as physical lines
(`Table.skipping`).

Rules that keep this exact:
- The digest covers every cell, so any change in a line (an amount, a trailing column) makes it a new line that
  is parsed and keyed as before; identical lines in one file are told apart by their occurrence, numbered in file
  order as the natural keys are, so a 41st identical service imports when 40 were stored.
- A stored line keeps its stored key, also when it must be parsed; a new line's natural key never takes a key
  that a stored line of the same file holds (`LineTable.taken`), wherever that line is in the file.
- Lines stored before this digest existed have none: they are parsed and matched by natural key as always, and
  get their digest then, so the next re-import is fast.

Memory does not grow with the file: what the import knows of each line lives outside it. The first pass sends its
lines to a temporary table of the import's connection a block at a time (`LineTable`); the database numbers the
repeats and joins the stored lines, and writes the answer, one fixed-size record per line in file order, to a
temporary file (`LineTable.export`), which the second pass reads a window at a time (`KnownLines`). The natural
keys' occurrences are counted in the database too, by the writer (services.py). What stays in memory grows with
the file's distinct names, emails and phones and with the customers, not with its lines.
"""

import hashlib
import os
import tempfile
from array import array
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache

import numpy as np

from ventas.importing.readers import UnreadableLine
from ventas.importing.writers import LINE_RECORD, LineTable

# Changing how a line is digested must change this prefix (old digests then simply stop matching).
_VERSION = b"1\x1f"

# A line's facts, found in the first pass (bits): what a stored line adds to the counts without being read again.
PLACEHOLDER = 1  # dated on the placeholder day
BLANK_AMOUNT = 2
UNDATED = 4  # no usable date: the import observes it in the report, so the second pass reads it again


def digest64(data: bytes) -> int:
    """Signed 64-bit digest of `data` (what line digests and natural keys are made of)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def line_digest(cells: Sequence) -> int:
    """Signed 64-bit digest of a line's cells as written (CSV text, or .xlsx values as text)."""
    try:
        text = "\x1f".join(cells)
    except TypeError:  # .xlsx: numbers, dates, None
        text = "\x1f".join("" if cell is None else str(cell) for cell in cells)
    return digest64(_VERSION + text.encode())


def with_occurrence(digest: int, occurrence: int) -> int:
    """The digest of the `occurrence`-th repeat (0: the first) of a line in one file."""
    if not occurrence:
        return digest
    return digest64(digest.to_bytes(8, "big", signed=True) + b"#%d" % occurrence)


BLOCK = 65_536  # lines sent to the database at once by the first pass, and read back at once by the second
MAX_CANDIDATES = 100_000  # digests that may repeat, named to the numbering query; beyond, it looks at every line
# The digests of lines whose cells are all empty, up to this many cells: such a line is never imported ("fila
# vacía" or padding), so the first pass gives it digest 0, like an unreadable line, and it is never numbered.
BLANK_CELLS = 100


class SeenDigests:
    """A Bloom filter of 64-bit digests in a fixed 4 MB, whatever their number: `seen` tells which of some digests
    may have been added before (a false "maybe" for about 0.06 % of new ones at a million added, 5 % at ten
    million), and never misses one that was. Digests are uniformly random, so three slices of their bits are
    the three positions."""

    BITS = 25

    def __init__(self):
        self.bits = np.zeros(1 << (self.BITS - 3), dtype=np.uint8)

    def _positions(self, digests: np.ndarray) -> list[np.ndarray]:
        values = np.asarray(digests, dtype=np.int64).view(np.uint64)
        mask = np.uint64((1 << self.BITS) - 1)
        return [values & mask, (values >> np.uint64(25)) & mask, (values >> np.uint64(39)) & mask]

    def seen(self, digests: np.ndarray) -> np.ndarray:
        maybe = np.ones(len(digests), dtype=bool)
        for position in self._positions(digests):
            maybe &= ((self.bits[position >> np.uint64(3)] >> (position & np.uint64(7)).astype(np.uint8)) & 1) == 1
        return maybe

    def add(self, digests: np.ndarray) -> None:
        for position in self._positions(digests):
            np.bitwise_or.at(
                self.bits, position >> np.uint64(3), np.left_shift(1, position & np.uint64(7)).astype(np.uint8)
            )


@lru_cache(maxsize=1)
def _blank_digests() -> np.ndarray:
    return np.array([line_digest([""] * cells) for cells in range(BLANK_CELLS + 1)], dtype=np.int64)


class FirstPass:
    """What the first pass keeps of the file: its distinct (name, email, phone) as written and the lines of each (in
    memory), and each line's digest, identity index and facts (in `table`, a block at a time)."""

    def __init__(self, table: LineTable):
        self.table = table
        table.create()
        self.lines = 0  # sent to the table
        self.identities: dict[tuple, int] = {}  # (name, email, phone) as written -> index
        self.counts = np.zeros(0, np.int64)  # lines, by identity index
        self.spans: dict[int, int] | None = None  # CSV: the reader's physical lines of a line, where not one
        self.seen = SeenDigests()
        self.candidates: set[int] | None = set()  # digests that may repeat (None: too many to name)
        self._new_block()

    def _new_block(self) -> None:
        self.digests, self.identity_of, self.facts = array("q"), array("i"), array("B")

    def _flush(self) -> None:
        if not self.digests:
            return
        identities = np.frombuffer(self.identity_of, dtype=np.int32)
        digests = np.frombuffer(self.digests, np.int64).copy()
        digests[np.isin(digests, _blank_digests())] = 0
        self.table.append(self.lines, digests, identities, np.frombuffer(self.facts, np.uint8))
        self.lines += len(self.digests)
        self._note_repeats(digests)
        counts = np.bincount(identities[identities >= 0], minlength=len(self.identities))
        counts[: len(self.counts)] += self.counts
        self.counts = counts
        self._new_block()

    def _note_repeats(self, digests: np.ndarray) -> None:
        """Note the block's digests that may repeat one seen before (in this block or an earlier one)."""
        digests = np.unique(digests[digests != 0], return_counts=True)
        maybe = digests[0][self.seen.seen(digests[0]) | (digests[1] > 1)]
        self.seen.add(digests[0])
        if self.candidates is not None and len(maybe):
            self.candidates.update(maybe.tolist())
            if len(self.candidates) > MAX_CANDIDATES:
                self.candidates = None

    def skip(self) -> None:
        """A line without cells to digest (unreadable): keeps the ordinals aligned."""
        self.digests.append(0)
        self.identity_of.append(-1)
        self.facts.append(0)

    def read(self, rows, identity_cells: Callable, facts: Callable) -> None:
        """Consume the reader's (line, cells) rows (unreadable lines have no cells)."""
        identities = self.identities
        for _, cells in rows:
            if isinstance(cells, UnreadableLine):
                self.skip()
            else:
                triple = identity_cells(cells)
                if (index := identities.get(triple)) is None:
                    index = identities[triple] = len(identities)
                self.identity_of.append(index)
                self.facts.append(facts(cells))
                self.digests.append(line_digest(cells))
            if len(self.digests) >= BLOCK:
                self._flush()
        self._flush()

    def digest_all(self, rows):
        """Digest each line of the reader's (line, cells) rows, yielding the readable lines' cells (a first
        import: the lines' digests are all it needs of this pass)."""
        for _, cells in rows:
            if isinstance(cells, UnreadableLine):
                self.skip()
            else:
                self.digests.append(line_digest(cells))
                self.identity_of.append(-1)
                self.facts.append(0)
                yield cells
            if len(self.digests) >= BLOCK:
                self._flush()
        self._flush()

    def identity_counts(self) -> list[tuple[tuple, int]]:
        """(name, email, phone) as written -> lines, for the shared-contact scan."""
        return list(zip(self.identities, self.counts.tolist(), strict=True))

    def number_repeats(self) -> None:
        """Give each line identical to an earlier one its occurrence in its digest (`with_occurrence`), in the
        table. The repeats go through a temporary file: the table is not changed while they are read."""
        if self.candidates is not None and not self.candidates:
            return  # no line repeats another
        candidates = None if self.candidates is None else sorted(self.candidates)
        with tempfile.TemporaryFile() as spool:
            for rows in self.table.repeats(candidates):
                np.array(rows, dtype=np.int64).reshape(-1, 3).tofile(spool)
            spool.seek(0)
            while len(block := np.fromfile(spool, dtype=np.int64, count=3 * BLOCK)):
                rows = block.reshape(-1, 3).tolist()
                self.table.renumber([(ordinal, with_occurrence(digest, nth)) for ordinal, digest, nth in rows])

    def release(self) -> None:
        """What only the first pass needed (the filter of seen digests: 4 MB)."""
        self.seen = self.candidates = None


class KnownLines:
    """Each line's numbered digest and, for the lines stored before, its stored key, history row and that row's
    customer when the import began (0 for a new line), read back by ordinal from the records `LineTable.export`
    wrote, a window at a time (the second pass asks in file order)."""

    def __init__(self, records=None, lines: int = 0, table: LineTable | None = None):
        self.records = records  # an open file of `LINE_RECORD`s, one per line
        self.lines = lines
        self.table = table  # where the file's stored keys are asked for (`taken`) and natural keys counted
        self.count = 0  # lines stored before
        self.new: list[int] = []  # identity indexes of the readable lines not stored before
        self.run_facts: dict[int, tuple[int, int]] = {}  # run start -> (placeholder, blank amount), see counted_runs
        self._rule = None
        self._start = self._end = 0
        self._window = {}

    @classmethod
    def find(cls, first_pass: FirstPass, *, stored: bool) -> "KnownLines":
        """The file's lines as `first_pass` sent them, numbered; with `stored`, joined with the lines stored by
        earlier imports (one query)."""
        first_pass.number_repeats()
        first_pass.release()
        records = tempfile.TemporaryFile()  # noqa: SIM115 - closed by `close`
        first_pass.table.export(stored, records)
        records.flush()  # read back with `os.pread`, below Python's buffer
        known = cls(records, first_pass.lines, first_pass.table)
        if stored:
            new = set()
            for _, block in known._blocks():
                known.count += int(np.count_nonzero(block["stored"]))
                identity = block["identity"]
                new.update(np.unique(identity[(block["stored"] == 0) & (identity >= 0)]).tolist())
            known.new = sorted(new)
        return known

    @classmethod
    def none(cls) -> "KnownLines":
        return cls()

    def close(self) -> None:
        if self.records is not None:
            self.records.close()
            self.records = None

    def _read(self, start: int, count: int) -> np.ndarray:
        size = LINE_RECORD.itemsize
        return np.frombuffer(os.pread(self.records.fileno(), count * size, start * size), dtype=LINE_RECORD)

    def _blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, self.lines, BLOCK):
            yield start, self._read(start, min(BLOCK, self.lines - start))

    def _value(self, name: str, ordinal: int) -> int:
        if not self._start <= ordinal < self._end:
            start = ordinal - ordinal % BLOCK
            block = self._read(start, min(BLOCK, self.lines - start))
            self._window = {}
            for field in ("digest", "stored", "history", "customer"):
                values = array("q")
                values.frombytes(np.ascontiguousarray(block[field]).tobytes())
                self._window[field] = values
            self._start, self._end = start, start + len(block)
        return self._window[name][ordinal - self._start]

    def digest(self, ordinal: int) -> int | None:
        return self._value("digest", ordinal) if ordinal < self.lines else None

    def stored_key(self, ordinal: int) -> int:
        """The key the line was stored under, 0 when it is new."""
        return self._value("stored", ordinal) if self.count and ordinal < self.lines else 0

    def history_id(self, ordinal: int) -> int:
        """The history row a stored line created (0 when not recorded or deleted since)."""
        return self._value("history", ordinal) if self.count and ordinal < self.lines else 0

    def customer(self, ordinal: int) -> int:
        """The customer of that history row when the import began (0 with no row)."""
        return self._value("customer", ordinal) if self.count and ordinal < self.lines else 0

    def count_lines(self, dropped: list[bool], settled: list[int]) -> None:
        """Count stored lines with nothing to check or observe without reading them (`counted_runs`): those with a
        usable date and none of whose contacts identifies nobody (`dropped`, by identity index), or whose
        identity is settled on the customer their history row has (`settled`, by identity index: that customer,
        or 0)."""
        self._rule = (np.array([*dropped, False], dtype=bool), np.array([*settled, 0], dtype=np.int64))

    @property
    def counting(self) -> bool:
        return self._rule is not None

    def _countable(self, block: np.ndarray) -> np.ndarray:
        dropped, settled = self._rule
        identity = block["identity"]  # -1 (unreadable): the last entry
        settled_on = settled[identity]
        on_settled = (settled_on != 0) & (settled_on == block["customer"]) & (block["history"] != 0)
        return (block["stored"] != 0) & (~dropped[identity] | on_settled) & ((block["facts"] & UNDATED) == 0)

    def counted_runs(self) -> Iterator[tuple[int, int]]:
        """(first ordinal, count) of each run of consecutive counted lines, in file order; each run's placeholder
        and blank-amount lines are left in `run_facts` for the importer, by the run's first ordinal."""
        run_start = run_count = placeholder = blank = 0
        for start, block in self._blocks():
            edges = np.diff(np.concatenate(([0], self._countable(block).astype(np.int8), [0])))
            firsts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
            # Placeholder and blank-amount lines of each run, from running counts over the block.
            facts = block["facts"]
            placeholders = _running_count(facts & PLACEHOLDER)
            blanks = _running_count(facts & BLANK_AMOUNT)
            runs = zip(
                (firsts + start).tolist(),
                (ends - firsts).tolist(),
                (placeholders[ends] - placeholders[firsts]).tolist(),
                (blanks[ends] - blanks[firsts]).tolist(),
                strict=True,
            )
            for first, count, placeholder_lines, blank_lines in runs:
                if run_count and run_start + run_count == first:  # goes on from the previous block
                    run_count, placeholder, blank = (
                        run_count + count,
                        placeholder + placeholder_lines,
                        blank + blank_lines,
                    )
                    continue
                if run_count:
                    self.run_facts[run_start] = (placeholder, blank)
                    yield run_start, run_count
                run_start, run_count, placeholder, blank = first, count, placeholder_lines, blank_lines
        if run_count:
            self.run_facts[run_start] = (placeholder, blank)
            yield run_start, run_count


def _running_count(flags: np.ndarray) -> np.ndarray:
    """counts[i]: how many of flags[:i] are set (i from 0 to len(flags))."""
    counts = np.zeros(len(flags) + 1, dtype=np.int64)
    np.cumsum(flags != 0, out=counts[1:])
    return counts
