"""Time `import_history` on a file: the first import, the idempotent re-import and, on PostgreSQL, the COPY floor.

    DEBUG=true DATABASE_URL=postgres://…/scratch python manage.py migrate
    DEBUG=true DATABASE_URL=postgres://…/scratch python manage.py bench_import /tmp/h200k.csv [--no-overlap]

Run it on a freshly migrated scratch database (the first import is only a first import there); make the file
with `make_history_export --rows 200000 --out FILE`. The COPY floor loads the rows the import wrote (history and
keys) again, with COPY, into empty copies of both tables with the same indexes (rolled back): the time PostgreSQL alone
needs for those rows. Peak memory is that of the two imports; the load average says how busy the machine was.
"""

import io
import os
import resource
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from ventas.formatting import format_number
from ventas.importing.services import import_history
from ventas.models import ImportedRow, ServiceHistory


class Command(BaseCommand):
    help = "Mide import_history en un archivo: primera importación, reimportación y (PostgreSQL) el piso de COPY."

    def add_arguments(self, parser):
        parser.add_argument("file", help="exportación del historial (make_history_export)")
        parser.add_argument("--no-overlap", action="store_true", help="leer y escribir en un solo hilo")

    def handle(self, *args, file, no_overlap, **options):
        if ServiceHistory.objects.exists():
            raise CommandError("La base ya tiene historial: usa una base recién migrada para medir.")
        # The import's `history_imported` receiver loads the numeric libraries on first use (seconds): load them
        # before timing, so both figures measure the import.
        import crm.tasks  # noqa: F401

        self.stdout.write(f"Carga de la máquina: {_load()}")
        for label in ("Primera importación", "Reimportación"):
            summary = import_history(file, overlap=not no_overlap)
            self.stdout.write(
                f"{label}: {format_number(summary.rows_read)} filas en {summary.seconds:.1f} s = "
                f"{format_number(summary.rows_per_second)} filas/s ({format_number(summary.imported)} nuevas)"
            )
            if label == "Primera importación":
                first = summary
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the floor's own buffers
        self.stdout.write(f"Memoria máxima de las importaciones: {peak:.0f} MB")
        if connection.vendor == "postgresql":
            seconds = _copy_floor()
            self.stdout.write(
                f"Piso de COPY (mismas filas e índices): {seconds:.1f} s = "
                f"{format_number(first.rows_read / seconds)} filas/s; la importación tarda "
                f"{first.seconds / seconds:.1f} veces el piso"
            )
        self.stdout.write(f"Carga al terminar: {_load()}")


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _copy_floor() -> float:
    """Seconds to COPY the imported history and key rows into empty copies of their tables with the same indexes.

    Ordinary tables (a temporary one would skip the write-ahead log the real tables pay), rolled back after.
    """
    seconds = 0.0
    with transaction.atomic(), connection.cursor() as cursor:
        for model in (ServiceHistory, ImportedRow):
            table = connection.ops.quote_name(model._meta.db_table)
            scratch = connection.ops.quote_name(f"floor_{model._meta.db_table}")
            cursor.execute(f"CREATE TABLE {scratch} (LIKE {table} INCLUDING ALL)")
            buffer = io.StringIO()
            cursor.cursor.copy_expert(f"COPY {table} TO STDOUT", buffer)
            buffer.seek(0)
            started = time.perf_counter()
            cursor.cursor.copy_expert(f"COPY {scratch} FROM STDIN", buffer)
            seconds += time.perf_counter() - started
        transaction.set_rollback(True)
    return seconds
