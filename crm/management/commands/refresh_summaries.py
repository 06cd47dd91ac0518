"""Bring the summary tables up to date (see `crm.services.summaries`).

python manage.py refresh_summaries           # what the legacy system changed, and the new day
python manage.py refresh_summaries --full    # rebuild from the whole history
python manage.py refresh_summaries --verify  # then compare every customer with the raw RFM query (and
                                              # every sent proposal's first visit with the history)
python manage.py refresh_summaries --proposal-stats-only  # only rebuild the proposal statistics

Every run also rebuilds the live proposals' statistics (`crm.services.recommender.stored_stats`).
"""

from django.core.management.base import BaseCommand, CommandError

from crm.services import conversions, summaries
from crm.services.recommender import stored_stats
from ventas.formatting import format_number


class Command(BaseCommand):
    help = "Actualiza las tablas de resumen del historial (--full: las reconstruye; --verify: las compara)."

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true", help="reconstruye todo desde el historial")
        parser.add_argument("--verify", action="store_true", help="compara cada cliente con la consulta RFM directa")
        parser.add_argument(
            "--proposal-stats-only",
            action="store_true",
            help="solo reconstruye las estadísticas de las propuestas",
        )

    def handle(self, *args, full, verify, proposal_stats_only, **options):
        if proposal_stats_only:
            self._proposal_stats()
            return
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
        self._proposal_stats()
        if verify:
            mismatches = summaries.verify()
            if mismatches:
                for mismatch in mismatches:
                    self.stderr.write(f"cliente {mismatch.cliente_id}: resumen {mismatch.summary} ≠ {mismatch.raw}")
                raise CommandError(f"{len(mismatches)} clientes no coinciden con la consulta RFM directa.")
            if wrong := conversions.mismatches():
                ids = ", ".join(str(pk) for pk in wrong)
                raise CommandError(f"Propuestas cuya primera visita desde el envío no cuadra con el historial: {ids}.")
            self.stdout.write(
                self.style.SUCCESS(
                    "Verificado: cada cliente coincide con la consulta RFM directa y cada propuesta enviada con su "
                    "primera visita en el historial."
                )
            )

    def _proposal_stats(self):
        report = stored_stats.rebuild()
        self.stdout.write(
            f"Estadísticas de propuestas reconstruidas: {format_number(report.rows)} filas en {report.seconds:.2f} s."
        )
