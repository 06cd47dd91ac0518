"""Batch inserts of imported history: `COPY` on PostgreSQL, `bulk_create` elsewhere (SQLite in development).

PostgreSQL's COPY is about three times faster than a multi-row INSERT for the million-line exports; ids for the
legacy table are reserved from its own sequence first, so the caller still learns the id of every row it wrote.
"""

import io
from collections.abc import Iterable, Sequence

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


class HistoryWriter:
    """Default writer: the ORM's bulk_create (one INSERT … RETURNING per chunk)."""

    def insert_history(self, rows: Sequence[tuple]) -> list[int]:
        objects = [ServiceHistory(**dict(zip(HISTORY_FIELDS, row, strict=True))) for row in rows]
        ServiceHistory.objects.bulk_create(objects)
        return [obj.pk for obj in objects]

    def insert_keys(self, rows: Iterable[tuple]) -> None:
        ImportedRow.objects.bulk_create(ImportedRow(**dict(zip(KEY_FIELDS, row, strict=True))) for row in rows)


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
        cursor.cursor.copy_expert(f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN", buffer)


class PostgresHistoryWriter(HistoryWriter):
    def insert_history(self, rows: Sequence[tuple]) -> list[int]:
        table = ServiceHistory._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, len(rows)]
            )
            ids = [row[0] for row in cursor.fetchall()]
        if None in ids:  # a legacy table without a sequence behind its id: let the database assign them
            return super().insert_history(rows)
        copy_rows(table, ("id", *HISTORY_FIELDS), ((pk, *row) for pk, row in zip(ids, rows, strict=True)))
        return ids

    def insert_keys(self, rows: Iterable[tuple]) -> None:
        copy_rows(ImportedRow._meta.db_table, KEY_FIELDS, rows)


def history_writer() -> HistoryWriter:
    return PostgresHistoryWriter() if connection.vendor == "postgresql" else HistoryWriter()
