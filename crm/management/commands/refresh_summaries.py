"""Bring the summary tables up to date (see `crm.services.summaries`).

python manage.py refresh_summaries           # what the legacy system changed, and the new day
python manage.py refresh_summaries --full    # rebuild from the whole history
python manage.py refresh_summaries --verify  # then compare every customer with the raw RFM query
"""

from django.core.management.base import BaseCommand, CommandError

from crm.services import summaries
from ventas.formatting import format_number


class Command(BaseCommand):
    help = "Actualiza las tablas de resumen del historial (--full: las reconstruye; --verify: las compara)."

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true", help="reconstruye todo desde el historial")
        parser.add_argument("--verify", action="store_true", help="compara cada cliente con la consulta RFM directa")

    def handle(self, *args, full, verify, **options):
        if full:
            report = summaries.rebuild()
            self.stdout.write(
                f"Resúmenes reconstruidos: {format_number(report.customers)} clientes en {report.seconds:.2f} s."
            )
        else:
            synced = summaries.sync_legacy_changes()
            daily = summaries.refresh_daily()
            self.stdout.write(
                f"Resúmenes actualizados: {format_number(synced.customers)} clientes con cambios en el historial, "
                f"{format_number(daily.customers)} recalculados para hoy, en {synced.seconds + daily.seconds:.2f} s."
            )
        if verify:
            mismatches = summaries.verify()
            if mismatches:
                for mismatch in mismatches:
                    self.stderr.write(f"cliente {mismatch.cliente_id}: resumen {mismatch.summary} ≠ {mismatch.raw}")
                raise CommandError(f"{len(mismatches)} clientes no coinciden con la consulta RFM directa.")
            self.stdout.write(self.style.SUCCESS("Verificado: cada cliente coincide con la consulta RFM directa."))
