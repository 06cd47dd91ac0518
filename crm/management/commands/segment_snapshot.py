"""Monthly segment snapshots: `python manage.py segment_snapshot [--month YYYY-MM]`."""

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from crm.services.retention import movement
from ventas.formatting import format_number


class Command(BaseCommand):
    help = (
        "Guarda el segmento RFM de cada cliente al día 1 del mes (por defecto, el mes actual) y completa los "
        "últimos 12 meses que falten, para ver quién cambió de segmento."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", help="mes AAAA-MM a (re)calcular; sin él, el actual y los que falten")

    def handle(self, *args, month=None, **options):
        if month:
            try:
                day = datetime.date.fromisoformat(f"{month}-01")
            except ValueError as error:
                raise CommandError(f"--month debe ser AAAA-MM, por ejemplo 2026-11 (se recibió {month!r}).") from error
            count = movement.take_snapshot(day)
            self.stdout.write(f"{day:%m-%Y}: {format_number(count)} clientes.")
            return
        taken = movement.backfill()
        if not taken:
            taken = [movement.month_start(timezone.localdate())]
            movement.take_snapshot(taken[0])
        self.stdout.write(f"Fotos guardadas: {', '.join(f'{m:%m-%Y}' for m in taken)}.")
