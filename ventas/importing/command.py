"""What `import_clients` and `import_history` share: arguments, progress line, summary, errors."""

import time

from django.core.management.base import BaseCommand, CommandError

from ventas.formatting import format_number
from ventas.importing.readers import ImportFileError
from ventas.importing.services import BATCH_SIZE, ImportSummary


class ImportCommand(BaseCommand):
    service = None  # import_history or import_clients

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV (UTF-8, UTF-8 con BOM, Latin-1/Windows-1252) o .xlsx")
        parser.add_argument("--dry-run", action="store_true", help="Simula la importación sin guardar nada.")
        parser.add_argument("--report", metavar="PATH", help="CSV con las filas rechazadas y observadas.")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="Filas por transacción.")

    def handle(self, *args, **options):
        started = time.perf_counter()
        interactive = hasattr(self.stderr, "isatty") and self.stderr.isatty()
        last = {"shown": 0.0}

        def progress(summary: ImportSummary):
            now = time.perf_counter()
            if now - last["shown"] < (0.5 if interactive else 10):
                return
            last["shown"] = now
            rate = summary.rows_read / (now - started) if now > started else 0
            self.stderr.write(
                f"  {format_number(summary.rows_read)} filas · {format_number(summary.imported)} importadas · "
                f"{format_number(summary.rejected)} rechazadas · {format_number(rate)} filas/s",
                ending="\r" if interactive else "\n",
            )
            self.stderr.flush()

        try:
            summary = type(self).service(
                options["file"],
                dry_run=options["dry_run"],
                report_path=options["report"],
                progress=progress if options["verbosity"] > 0 else None,
                batch_size=max(1, options["batch_size"]),
            )
        except ImportFileError as exc:
            raise CommandError(f"No se importó nada: {exc}") from exc
        if interactive:
            self.stderr.write("")
        for line in summary.lines():
            self.stdout.write(line)
        if options["report"]:
            self.stdout.write(f"Reporte: {options['report']}")
        if not summary.balanced:  # pragma: no cover - a bug, never a property of the file
            raise CommandError("Las cuentas no cuadran (importadas + duplicadas + rechazadas ≠ filas leídas).")
