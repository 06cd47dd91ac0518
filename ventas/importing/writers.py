"""Batch inserts of imported history, and the lookup of the lines imported before.

PostgreSQL: `COPY`, about three times faster than a multi-row INSERT for the million-line exports; ids for the
legacy table are reserved from its own sequence first, so the caller still learns the id of every row it wrote.
Each new row's COPY text is made by the importer's parsing thread (`values_text`), so the writing thread, the
import's bottleneck, only adds the ids (`insert_parsed`).
SQLite (development): one `executemany` per table. The batch runs in an IMMEDIATE transaction (settings), so no
other writer can insert between its rows and the ids are consecutive up to `last_insert_rowid()`. The ORM's
bulk_create cost more Python time (model instances, per-value adaptation) than the whole rest of the import.
"""

import datetime
import io
import json
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal

import numpy as np
from django.db import connection, transaction

from ventas.models import ImportedRow, ServiceHistory

# Column order of `insert_history`'s tuples (a parsed row's `values` are these without cliente_id).
HISTORY_FIELDS = (
    "cliente_id",
    "reserva_id",
    "service_type",
    "service_name",
    "service_date",
    "quantity",
    "price_paid",
    "season",
    "year",
)
KEY_FIELDS = ("source", "key", "run_id", "line", "history_id", "line_hash")


def _quoted(model, columns: Sequence[str]) -> tuple[str, str]:
    return connection.ops.quote_name(model._meta.db_table), ", ".join(map(connection.ops.quote_name, columns))


def _sqlite_value(value):
    """SQLite stores dates as ISO text and decimals through their text (NUMERIC affinity), as Django does."""
    if isinstance(value, datetime.date | Decimal):
        return str(value)
    return value


class HistoryWriter:
    """SQLite writer: plain `executemany` inserts (see the module docstring)."""

    # The values travel as one parameter (a JSON array here, an array on PostgreSQL), so a batch of 5,000 keys is
    # one statement whatever the parameter limit, and the planner probes the unique index once per value.
    IN_LIST = "IN (SELECT value FROM json_each(%s))"

    def imported(self, keys: Sequence[int]) -> tuple[dict[int, int | None], set[int]]:
        """key -> history id of the keys imported before, and which of them have no line digest (one query)."""
        rows = self._select(ImportedRow, "key", ("key", "history_id", "line_hash"), keys)
        return {key: history_id for key, history_id, _ in rows}, {key for key, _, digest in rows if digest is None}

    def customers_of(self, history_ids: Sequence[int]) -> dict[int, int]:
        """history id -> its customer now, for the rows that still exist (one query)."""
        return dict(self._select(ServiceHistory, "id", ("id", "cliente_id"), history_ids))

    def _select(self, model, column: str, values: Sequence[str], wanted: Sequence[int]) -> list[tuple]:
        if not wanted:
            return []
        table, columns = _quoted(model, values)
        sql = f"SELECT {columns} FROM {table} WHERE {connection.ops.quote_name(column)} "  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql + self.IN_LIST, [self.array_param(wanted)])
            return cursor.fetchall()

    def fill_digests(self, pairs: Sequence[tuple[int, int]]) -> None:
        """Store the line digest of keys imported before digests existed: (key, digest) pairs."""
        table, column = _quoted(ImportedRow, ("line_hash",))
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET {column} = %s WHERE {connection.ops.quote_name('key')} = %s "  # noqa: S608
                f"AND {column} IS NULL",
                [(digest, key) for key, digest in pairs],
            )

    def array_param(self, values: Sequence[int]) -> str:
        return json.dumps(list(values))

    def insert_history(self, rows: Sequence[tuple]) -> list[int]:
        if not rows:
            return []
        with connection.cursor() as cursor:
            _insert_many(cursor, ServiceHistory, HISTORY_FIELDS, [tuple(map(_sqlite_value, row)) for row in rows])
            cursor.execute("SELECT last_insert_rowid()")
            last = cursor.fetchone()[0]
        return list(range(last - len(rows) + 1, last + 1))

    def insert_keys(self, rows: Iterable[tuple]) -> None:
        with connection.cursor() as cursor:
            _insert_many(cursor, ImportedRow, KEY_FIELDS, list(rows))

    def values_text(self, values: tuple) -> str | None:
        """What the parsing thread prepares of a new row's values for `insert_parsed` (PostgreSQL: their COPY
        text), so the writing thread, the import's bottleneck, has less to do."""
        return None

    def insert_parsed(self, kind: str, run_id: int, rows: Sequence[tuple[int, object]]) -> list[int]:
        """Insert (customer id, parsed row) pairs and their keys; the rows have `values`, `text` (from
        `values_text`), `key`, `line` and `digest`. Returns the new history ids, in order."""
        ids = self.insert_history([(pk, *row.values) for pk, row in rows])
        self.insert_keys(
            (kind, row.key, run_id, row.line, history_id, row.digest)
            for (_, row), history_id in zip(rows, ids, strict=True)
        )
        return ids


def _insert_many(cursor, model, fields: Sequence[str], rows: list[tuple]) -> None:
    table, columns = _quoted(model, fields)
    marks = ", ".join(["%s"] * len(fields))
    cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608 names from the model


_BLOCK = 65_536  # rows of a query's answer held in memory at once (`LineTable`)

# COPY's binary format (PostgreSQL's "COPY" page): signature, flags, header extension length; each row is its field
# count then each field's byte length and big-endian value; -1 ends the data.
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(4) + bytes(4)
_BINARY_TRAILER = b"\xff\xff"


class _Parts(io.RawIOBase):
    """A read-only file over byte buffers, made one at a time as COPY reads (never all held together)."""

    def __init__(self, parts: Iterable):
        self.parts = iter(parts)
        self.part = memoryview(b"")

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not len(self.part):
            part = next(self.parts, None)
            if part is None:
                return b""
            self.part = memoryview(part).cast("B")
        size = len(self.part) if size is None or size < 0 else size
        data = bytes(self.part[:size])
        self.part = self.part[size:]
        return data


def _binary_row(columns: Sequence[tuple[str, str]]) -> np.dtype:
    """A COPY binary row of (name, big-endian numpy type) columns, none NULL: field count, then each column's
    byte length and value."""
    fields = [("fields", ">i2")]
    for name, kind in columns:
        fields += [(f"size_{name}", ">i4"), (name, kind)]
    return np.dtype(fields)


def _copy_binary(cursor, table: str, columns: Sequence[tuple[str, str, np.ndarray]]) -> None:
    """COPY rows into `table` in the binary format, built by numpy: (name, big-endian type, values) columns."""
    rows = np.empty(len(columns[0][2]), dtype=_binary_row([(name, kind) for name, kind, _ in columns]))
    rows["fields"] = len(columns)
    for name, kind, values in columns:
        rows[f"size_{name}"], rows[name] = np.dtype(kind).itemsize, values
    names = ", ".join(name for name, _, _ in columns)
    data = _Parts([_BINARY_HEADER, rows, _BINARY_TRAILER])
    cursor.cursor.copy_expert(f"COPY {table} ({names}) FROM STDIN WITH (FORMAT binary)", data, 1 << 20)


_NULL = "\\N"  # NULL in COPY's text format
# COPY's text format: backslash escapes for the characters that delimit fields and rows.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_line(row: tuple) -> str:
    """One COPY line; values are None, str, int, Decimal or date (whose str() is what COPY expects)."""
    return "\t".join(
        _NULL if value is None else value.translate(_COPY_ESCAPES) if isinstance(value, str) else str(value)
        for value in row
    )


def copy_values_text(values: tuple) -> str:
    """One row's values in COPY's text format, without the line break (unescaped when nothing needs escaping,
    which the joined text proves: only its own tabs, one backslash per NULL, no line break)."""
    text = "\t".join([_NULL if value is None else value if type(value) is str else str(value) for value in values])
    if (
        text.count("\t") == len(values) - 1
        and text.count("\\") == values.count(None)
        and "\n" not in text
        and "\r" not in text
    ):
        return text
    return _copy_line(values)


def copy_text(rows: Iterable[tuple]) -> str:
    """Rows in COPY's text format, one line each (`copy_values_text`)."""
    return "".join([copy_values_text(row) + "\n" for row in rows])


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[tuple]) -> None:
    """Bulk-load tuples into `table` with PostgreSQL's COPY (values escaped for its text format)."""
    _copy(table, columns, copy_text(rows))


def _copy(table: str, columns: Sequence[str], text: str) -> None:
    """COPY `text` (lines in COPY's text format) into `table`'s `columns`."""
    buffer = io.StringIO(text)
    quoted = ", ".join(connection.ops.quote_name(column) for column in columns)
    with connection.cursor() as cursor:
        # The whole buffer in one read: psycopg2 takes the GIL back for every read (8 KiB by default), and while
        # the parsing thread runs each of those can wait up to a switch interval (5 ms).
        size = max(buffer.seek(0, io.SEEK_END), 8192)
        buffer.seek(0)
        cursor.cursor.copy_expert(f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN", buffer, size)


class PostgresHistoryWriter(HistoryWriter):
    IN_LIST = "= ANY(%s::bigint[])"

    def array_param(self, values: Sequence[int]) -> str:
        # An array literal in one text parameter: PostgreSQL parses it much faster than ARRAY[5000 constants].
        return "{" + ",".join(map(str, values)) + "}"

    def _reserve_ids(self, count: int) -> list[int] | None:
        """`count` ids from the history table's sequence; None when the table has none behind its id."""
        with connection.cursor() as cursor:
            # One array rather than a row per id: psycopg2 reads it in C.
            cursor.execute(
                "SELECT array_agg(nextval(pg_get_serial_sequence(%s, 'id'))) FROM generate_series(1, %s)",
                [ServiceHistory._meta.db_table, count],
            )
            ids = cursor.fetchone()[0]
        return None if None in ids else ids

    def insert_history(self, rows: Sequence[tuple]) -> list[int]:
        ids = self._reserve_ids(len(rows))
        if ids is None:  # a legacy table without a sequence behind its id: let the database assign them
            objects = [ServiceHistory(**dict(zip(HISTORY_FIELDS, row, strict=True))) for row in rows]
            ServiceHistory.objects.bulk_create(objects)
            return [obj.pk for obj in objects]
        rows = ((pk, *row) for pk, row in zip(ids, rows, strict=True))
        copy_rows(ServiceHistory._meta.db_table, ("id", *HISTORY_FIELDS), rows)
        return ids

    def values_text(self, values: tuple) -> str:
        return copy_values_text(values)

    def insert_parsed(self, kind: str, run_id: int, rows: Sequence[tuple[int, object]]) -> list[int]:
        ids = self._reserve_ids(len(rows))
        if ids is None:
            return super().insert_parsed(kind, run_id, rows)
        # Ids, customers, keys, line numbers and digests are integers and `kind` is a plain word: nothing to escape.
        history = "".join([f"{pk}\t{cliente}\t{row.text}\n" for pk, (cliente, row) in zip(ids, rows, strict=True)])
        _copy(ServiceHistory._meta.db_table, ("id", *HISTORY_FIELDS), history)
        keys = "".join(
            [
                f"{kind}\t{row.key}\t{run_id}\t{row.line}\t{pk}\t{_NULL if row.digest is None else row.digest}\n"
                for pk, (_, row) in zip(ids, rows, strict=True)
            ]
        )
        _copy(ImportedRow._meta.db_table, KEY_FIELDS, keys)
        return ids

    def insert_keys(self, rows: Iterable[tuple]) -> None:
        copy_rows(ImportedRow._meta.db_table, KEY_FIELDS, rows)

    def fill_digests(self, pairs: Sequence[tuple[int, int]]) -> None:
        if not pairs:
            return
        table, column = _quoted(ImportedRow, ("line_hash",))
        keys, digests = zip(*pairs, strict=True)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} t SET {column} = v.digest "  # noqa: S608
                "FROM unnest(%s::bigint[], %s::bigint[]) AS v(k, digest) "
                f"WHERE t.{connection.ops.quote_name('key')} = v.k AND t.{column} IS NULL",
                [self.array_param(keys), self.array_param(digests)],
            )


def _read_copy_integers(spool, columns: int) -> Iterator[np.ndarray]:
    """The rows COPY wrote in its binary format, as int64 blocks (big-endian to native)."""
    names = [f"value{n}" for n in range(columns)]
    row = _binary_row([(name, ">i8") for name in names])
    size = spool.tell()
    spool.seek(len(_BINARY_HEADER) - 4)
    spool.seek(int.from_bytes(spool.read(4), "big"), io.SEEK_CUR)  # past the header extension
    count = (size - spool.tell() - len(_BINARY_TRAILER)) // row.itemsize
    while count > 0:
        rows = np.fromfile(spool, dtype=row, count=min(count, _BLOCK))
        count -= len(rows)
        if not ((rows["fields"] == columns).all() and all((rows[f"size_{name}"] == 8).all() for name in names)):
            raise ValueError("unexpected COPY binary row")  # a NULL or another type: never for these columns
        values = np.empty((len(rows), columns), dtype=np.int64)
        for n, name in enumerate(names):
            values[:, n] = rows[name]
        yield values


def history_writer() -> HistoryWriter:
    return PostgresHistoryWriter() if connection.vendor == "postgresql" else HistoryWriter()


# The file's lines, for the length of one import (lines.py) ------------------------------------------------------

_LINES = "import_lines"  # each line's ordinal, digest, identity index and facts (the first pass)
_KEY_COUNTS = "import_key_counts"  # natural key (its first digest) -> occurrences given so far in this import

# One line of `LineTable.export`'s answer, as the importer reads it back (native byte order, packed).
LINE_RECORD = np.dtype(
    [
        ("digest", "<i8"),
        ("stored", "<i8"),
        ("history", "<i8"),
        ("customer", "<i8"),
        ("identity", "<i4"),
        ("facts", "u1"),
    ]
)
_EXPORT_COLUMNS = ("ordinal", "digest", "identity", "facts", "stored", "history", "customer")


class LineTable:
    """The per-line state of an import kept in temporary tables of the import's connection rather than in
    memory (lines.py), so the import's memory does not grow with the file. SQLite: plain statements."""

    IN_LIST = HistoryWriter.IN_LIST
    ORDINAL = "integer PRIMARY KEY"  # SQLite: the rowid itself, free when lines arrive in order

    def __init__(self):
        self.indexed = set()  # the tables indexed so far (`_index`)

    def create(self) -> None:
        self.indexed = set()
        with connection.cursor() as cursor:
            self._drop(cursor)
            cursor.execute(
                f"CREATE TEMPORARY TABLE {_LINES} (ordinal {self.ORDINAL}, digest bigint NOT NULL, "
                "identity integer NOT NULL, facts smallint NOT NULL)"
            )
            # No index until a count is first looked up (`key_counts`): most imports never look one up.
            cursor.execute(f"CREATE TEMPORARY TABLE {_KEY_COUNTS} (first bigint NOT NULL, used integer NOT NULL)")

    def drop(self) -> None:
        with connection.cursor() as cursor:
            self._drop(cursor)

    @staticmethod
    def _drop(cursor) -> None:
        for table in (_LINES, _KEY_COUNTS):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")

    def append(self, start: int, digests: np.ndarray, identities: np.ndarray, facts: np.ndarray) -> None:
        """Lines `start`… (ordinals) of the first pass."""
        rows = zip(
            range(start, start + len(digests)), digests.tolist(), identities.tolist(), facts.tolist(), strict=True
        )
        with connection.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {_LINES} VALUES (%s, %s, %s, %s)", list(rows))  # noqa: S608

    def repeats(self, candidates: Sequence[int] | None = None) -> Iterator[list[tuple[int, int, int]]]:
        """(ordinal, digest, occurrence) of each line identical to an earlier one (occurrence 1, 2…), in blocks;
        `candidates`: the only digests that may repeat (None: any may)."""
        among, params = "", []
        if candidates is not None:
            among, params = f"AND digest {self.IN_LIST} ", [self.array_param(candidates)]
        sql = (
            "SELECT ordinal, digest, occurrence FROM (SELECT ordinal, digest, "  # noqa: S608
            "row_number() OVER (PARTITION BY digest ORDER BY ordinal) - 1 AS occurrence FROM "
            f"{_LINES} WHERE digest IN (SELECT digest FROM {_LINES} WHERE digest <> 0 {among}"
            "GROUP BY digest HAVING count(*) > 1)) repeated WHERE occurrence > 0"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(_BLOCK):
                yield rows

    def renumber(self, pairs: list[tuple[int, int]]) -> None:
        """Give lines (ordinal, digest) their numbered digest."""
        with connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {_LINES} SET digest = %s WHERE ordinal = %s", [(d, o) for o, d in pairs])  # noqa: S608

    def _export_sql(self, join: bool) -> str:
        """`_EXPORT_COLUMNS` of every line, all as bigint, in file order."""
        if not join:
            columns = ("ordinal", "digest", "identity", "facts", "0", "0", "0")
            return f"SELECT {_bigints(columns)} FROM {_LINES} ORDER BY ordinal"  # noqa: S608
        table, column = _quoted(ImportedRow, ("line_hash",))
        history = connection.ops.quote_name(ServiceHistory._meta.db_table)
        key = connection.ops.quote_name("key")
        columns = ("l.ordinal", "l.digest", "l.identity", "l.facts", f"COALESCE(i.{key}, 0)", "COALESCE(h.id, 0)")
        return (
            f"SELECT {_bigints([*columns, 'COALESCE(h.cliente_id, 0)'])} FROM {_LINES} l "  # noqa: S608
            f"LEFT JOIN {table} i ON i.{column} = l.digest AND l.digest <> 0 "
            f"LEFT JOIN {history} h ON h.id = i.{connection.ops.quote_name('history_id')} ORDER BY l.ordinal"
        )

    def export(self, join: bool, out) -> None:
        """Write every line as `LINE_RECORD`s to the file `out`, in file order; with `join`, with the key, history
        row and customer of the lines stored before (found by their numbered digest). A digest stored twice (never
        by this code) keeps its first answer, so there is one record per line."""
        with tempfile.TemporaryFile() as spool:
            with transaction.atomic(), connection.cursor() as cursor:
                self._spool(cursor, self._export_sql(join), spool)
            previous = -1
            for block in self._read(spool):
                block = block[np.concatenate(([block[0, 0] != previous], block[1:, 0] != block[:-1, 0]))]
                previous = int(block[-1, 0]) if len(block) else previous
                records = np.empty(len(block), dtype=LINE_RECORD)
                for index, name in enumerate(_EXPORT_COLUMNS[1:], start=1):
                    records[name] = block[:, index]
                records.tofile(out)

    def _spool(self, cursor, sql: str, spool) -> None:
        cursor.execute(sql)
        while rows := cursor.fetchmany(_BLOCK):
            np.array(rows, dtype=np.int64).reshape(-1, len(_EXPORT_COLUMNS)).tofile(spool)

    def _read(self, spool) -> Iterator[np.ndarray]:
        spool.seek(0)
        columns = len(_EXPORT_COLUMNS)
        while len(block := np.fromfile(spool, dtype=np.int64, count=_BLOCK * columns)):
            yield block.reshape(-1, columns)

    def taken(self, keys: Iterable[int]) -> set[int]:
        """Which of `keys` a line of the file imported before holds (a new line must not take them). The lines'
        digests are indexed the first time it is asked (most imports never ask: no new line shares a key)."""
        keys = list(keys)
        if not keys:
            return set()
        table, column = _quoted(ImportedRow, ("line_hash",))
        key = connection.ops.quote_name("key")
        with connection.cursor() as cursor:
            self._index(cursor, _LINES, "digest")
            cursor.execute(
                f"SELECT {key} FROM {table} WHERE {key} {self.IN_LIST} "  # noqa: S608
                f"AND {column} IN (SELECT digest FROM {_LINES})",
                [self.array_param(keys)],
            )
            return {value for (value,) in cursor.fetchall()}

    def _index(self, cursor, table: str, column: str) -> None:
        """Index `table` on `column` the first time it is searched (in a batch rolled back, the index goes too:
        only slower after)."""
        if table not in self.indexed:
            cursor.execute(f"CREATE INDEX {table}_{column} ON {table} ({column})")
            self.indexed.add(table)

    def key_counts(self, firsts: Iterable[int]) -> dict[int, int]:
        """first digest of a natural key -> occurrences of it given so far in this import."""
        firsts = list(firsts)
        with connection.cursor() as cursor:
            self._index(cursor, _KEY_COUNTS, "first")
            sql = f"SELECT first, used FROM {_KEY_COUNTS} WHERE first {self.IN_LIST}"  # noqa: S608
            cursor.execute(sql, [self.array_param(firsts)])
            return dict(cursor.fetchall())

    def record_counts(self, new: dict[int, int], again: dict[int, int]) -> None:
        """Record the occurrences given so far of natural keys first given in this batch (`new`) and of ones
        given before (`again`)."""
        with connection.cursor() as cursor:
            if new:
                cursor.executemany(f"INSERT INTO {_KEY_COUNTS} (first, used) VALUES (%s, %s)", list(new.items()))  # noqa: S608
            if again:
                cursor.executemany(
                    f"UPDATE {_KEY_COUNTS} SET used = %s WHERE first = %s",  # noqa: S608
                    [(used, first) for first, used in again.items()],
                )

    def array_param(self, values: Sequence[int]) -> str:
        return json.dumps(list(values))


class PostgresLineTable(LineTable):
    """PostgreSQL: the lines travel both ways in COPY's binary format, built and read by numpy."""

    IN_LIST = PostgresHistoryWriter.IN_LIST
    ORDINAL = "integer NOT NULL"  # no index to keep up while COPY loads: the few lookups by ordinal hash-join
    array_param = PostgresHistoryWriter.array_param

    def append(self, start: int, digests: np.ndarray, identities: np.ndarray, facts: np.ndarray) -> None:
        ordinals = np.arange(start, start + len(digests), dtype=np.int64)
        columns = [("ordinal", ">i4", ordinals), ("digest", ">i8", digests)]
        columns += [("identity", ">i4", identities), ("facts", ">i2", facts)]
        with connection.cursor() as cursor:
            _copy_binary(cursor, _LINES, columns)

    def renumber(self, pairs: list[tuple[int, int]]) -> None:
        ordinals, digests = zip(*pairs, strict=True) if pairs else ((), ())
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_LINES} l SET digest = v.digest "  # noqa: S608
                "FROM unnest(%s::integer[], %s::bigint[]) AS v(ordinal, digest) WHERE l.ordinal = v.ordinal",
                [self.array_param(ordinals), self.array_param(digests)],
            )

    def _spool(self, cursor, sql: str, spool) -> None:
        cursor.execute(f"ANALYZE {_LINES}")
        cursor.execute("SET LOCAL work_mem = '64MB'")  # the join's hash table in one piece (this transaction only)
        # Right after an import the stored tables' statistics are stale and the estimate can pass the JIT threshold:
        # compiling would cost more than this one statement saves.
        cursor.execute("SET LOCAL jit = off")
        cursor.cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT binary)", spool)

    def _read(self, spool) -> Iterator[np.ndarray]:
        return _read_copy_integers(spool, len(_EXPORT_COLUMNS))

    def record_counts(self, new: dict[int, int], again: dict[int, int]) -> None:
        with connection.cursor() as cursor:
            if new:
                firsts = np.fromiter(new, dtype=np.int64, count=len(new))
                used = np.fromiter(new.values(), dtype=np.int64, count=len(new))
                _copy_binary(cursor, _KEY_COUNTS, [("first", ">i8", firsts), ("used", ">i4", used)])
            if again:
                cursor.execute(
                    f"UPDATE {_KEY_COUNTS} k SET used = v.used "  # noqa: S608
                    "FROM unnest(%s::bigint[], %s::integer[]) AS v(first, used) WHERE k.first = v.first",
                    [self.array_param(again), self.array_param(again.values())],
                )


def _bigints(columns) -> str:
    return ", ".join(f"CAST({column} AS bigint)" for column in columns)


def line_table() -> LineTable:
    return PostgresLineTable() if connection.vendor == "postgresql" else LineTable()
