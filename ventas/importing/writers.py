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
from itertools import chain

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

    def stored_lines(self, digests: np.ndarray) -> Iterator[np.ndarray]:
        """(digest, key, history id, its customer now) of the lines among `digests` stored by earlier imports, in
        int64 blocks of up to `_BLOCK` rows (0: no history row recorded, or it is gone). The digests go into a
        temporary table joined with the stored ones in one query, whatever their number (lines.py); the answer is
        spooled to a temporary file in that transaction and read back in blocks after it, so a million stored
        lines are never in memory at once."""
        table, column = _quoted(ImportedRow, ("line_hash",))
        history = connection.ops.quote_name(ServiceHistory._meta.db_table)
        quote = connection.ops.quote_name
        join = (
            f"SELECT d.digest, i.{quote('key')}, COALESCE(h.id, 0), COALESCE(h.cliente_id, 0) "  # noqa: S608
            f"FROM {_DIGESTS} d JOIN {table} i ON i.{column} = d.digest "
            f"LEFT JOIN {history} h ON h.id = i.{quote('history_id')}"
        )
        with tempfile.TemporaryFile() as spool:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"CREATE TEMPORARY TABLE {_DIGESTS} (digest bigint NOT NULL)")
                try:
                    self._load_digests(cursor, digests)
                    self._spool_integers(cursor, join, 4, spool)
                finally:
                    cursor.execute(f"DROP TABLE {_DIGESTS}")
            yield from self._read_integers(spool, 4)

    def _load_digests(self, cursor, digests: np.ndarray) -> None:
        for block in _blocks(digests):
            cursor.executemany(f"INSERT INTO {_DIGESTS} VALUES (%s)", [(value,) for value in block.tolist()])  # noqa: S608

    def _spool_integers(self, cursor, sql: str, columns: int, spool) -> None:
        """Write the rows of `sql` (`columns` integers each) to `spool` as native int64s."""
        cursor.execute(sql)
        while rows := cursor.fetchmany(_BLOCK):
            np.array(rows, dtype=np.int64).reshape(-1, columns).tofile(spool)

    def _read_integers(self, spool, columns: int) -> Iterator[np.ndarray]:
        spool.seek(0)
        while len(block := np.fromfile(spool, dtype=np.int64, count=_BLOCK * columns)):
            yield block.reshape(-1, columns)

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


# The temporary table of a file's line digests (`stored_lines`), one per connection while it is used.
_DIGESTS = "import_line_digests"
_BLOCK = 65_536  # rows of `stored_lines`' answer held in memory at once, and digests per INSERT on SQLite

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


def _blocks(values: np.ndarray) -> Iterator[np.ndarray]:
    return (values[start : start + _BLOCK] for start in range(0, len(values), _BLOCK))


def _binary_rows(digests: np.ndarray) -> np.ndarray:
    """One block of digests as COPY binary rows of one bigint."""
    rows = np.empty(len(digests), dtype=_binary_row(1))
    rows["fields"], rows["size0"], rows["value0"] = 1, 8, digests
    return rows


def _binary_row(columns: int) -> np.dtype:
    """A COPY binary row of `columns` bigints."""
    fields = [("fields", ">i2")]
    for n in range(columns):
        fields += [(f"size{n}", ">i4"), (f"value{n}", ">i8")]
    return np.dtype(fields)


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

    # Digests travel in COPY's binary format, built and read by numpy: no Python object per line either way.
    def _load_digests(self, cursor, digests: np.ndarray) -> None:
        data = _Parts(chain([_BINARY_HEADER], map(_binary_rows, _blocks(digests)), [_BINARY_TRAILER]))
        cursor.cursor.copy_expert(f"COPY {_DIGESTS} FROM STDIN WITH (FORMAT binary)", data, 1 << 20)
        cursor.execute(f"ANALYZE {_DIGESTS}")  # so the planner knows how many there are
        cursor.execute("SET LOCAL work_mem = '64MB'")  # the join's hash table in one piece (this transaction only)

    def _spool_integers(self, cursor, sql: str, columns: int, spool) -> None:
        cursor.cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT binary)", spool)

    def _read_integers(self, spool, columns: int) -> Iterator[np.ndarray]:
        """The rows COPY wrote in its binary format, as int64 blocks (big-endian to native)."""
        row = _binary_row(columns)
        size = spool.tell()
        spool.seek(len(_BINARY_HEADER) - 4)
        spool.seek(int.from_bytes(spool.read(4), "big"), io.SEEK_CUR)  # past the header extension
        count = (size - spool.tell() - len(_BINARY_TRAILER)) // row.itemsize
        while count > 0:
            rows = np.fromfile(spool, dtype=row, count=min(count, _BLOCK))
            count -= len(rows)
            if not ((rows["fields"] == columns).all() and all((rows[f"size{n}"] == 8).all() for n in range(columns))):
                raise ValueError("unexpected COPY binary row")  # a NULL or another type: never for these columns
            values = np.empty((len(rows), columns), dtype=np.int64)
            for n in range(columns):
                values[:, n] = rows[f"value{n}"]
            yield values

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


def history_writer() -> HistoryWriter:
    return PostgresHistoryWriter() if connection.vendor == "postgresql" else HistoryWriter()
