"""Batch inserts of imported history, and the lookup of the lines imported before.

PostgreSQL: `COPY`, about three times faster than a multi-row INSERT for the million-line exports; ids for the
legacy table are reserved from its own sequence first, so the caller still learns the id of every row it wrote.
SQLite (development): one `executemany` per table. The batch runs in an IMMEDIATE transaction (settings), so no
other writer can insert between its rows and the ids are consecutive up to `last_insert_rowid()`. The ORM's
bulk_create cost more Python time (model instances, per-value adaptation) than the whole rest of the import.
"""

import datetime
import io
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal

from django.db import connection

from ventas.models import ImportedRow, ServiceHistory

# Column order of the tuples the importer hands to `insert_history`.
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
KEY_FIELDS = ("source", "key", "run_id", "line", "history_id")


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

    def imported(self, keys: Sequence[int]) -> dict[int, int | None]:
        """key -> history id of the keys imported before (one query)."""
        return self._pairs(ImportedRow, "key", "history_id", keys)

    def customers_of(self, history_ids: Sequence[int]) -> dict[int, int]:
        """history id -> its customer now, for the rows that still exist (one query)."""
        return self._pairs(ServiceHistory, "id", "cliente_id", history_ids)

    def _pairs(self, model, column: str, value: str, wanted: Sequence[int]) -> dict:
        if not wanted:
            return {}
        table, columns = _quoted(model, (column, value))
        sql = f"SELECT {columns} FROM {table} WHERE {connection.ops.quote_name(column)} "  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql + self.IN_LIST, [self.array_param(wanted)])
            return dict(cursor.fetchall())

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


def _insert_many(cursor, model, fields: Sequence[str], rows: list[tuple]) -> None:
    table, columns = _quoted(model, fields)
    marks = ", ".join(["%s"] * len(fields))
    cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608 names from the model


# COPY's text format: backslash escapes for the characters that delimit fields and rows.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_line(row: tuple) -> str:
    """One COPY line; values are None, str, int, Decimal or date (whose str() is what COPY expects)."""
    return "\t".join(
        "\\N" if value is None else value.translate(_COPY_ESCAPES) if isinstance(value, str) else str(value)
        for value in row
    )


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[tuple]) -> None:
    """Bulk-load tuples into `table` with PostgreSQL's COPY (values escaped for its text format)."""
    buffer = io.StringIO()
    for row in rows:
        buffer.write(_copy_line(row))
        buffer.write("\n")
    buffer.seek(0)
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

    def insert_history(self, rows: Sequence[tuple]) -> list[int]:
        table = ServiceHistory._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, len(rows)]
            )
            ids = [row[0] for row in cursor.fetchall()]
        if None in ids:  # a legacy table without a sequence behind its id: let the database assign them
            objects = [ServiceHistory(**dict(zip(HISTORY_FIELDS, row, strict=True))) for row in rows]
            ServiceHistory.objects.bulk_create(objects)
            return [obj.pk for obj in objects]
        copy_rows(table, ("id", *HISTORY_FIELDS), ((pk, *row) for pk, row in zip(ids, rows, strict=True)))
        return ids

    def insert_keys(self, rows: Iterable[tuple]) -> None:
        copy_rows(ImportedRow._meta.db_table, KEY_FIELDS, rows)


def history_writer() -> HistoryWriter:
    return PostgresHistoryWriter() if connection.vendor == "postgresql" else HistoryWriter()
