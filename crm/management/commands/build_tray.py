"""Build a day's WhatsApp retention tray: `python manage.py build_tray [--date YYYY-MM-DD] [--size 50]`.

Idempotent: a day that already has its tray is left as it is.
"""

import datetime
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from crm.services.whatsapp import build_tray
from ventas.formatting import format_date


def _date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"Fecha no válida: «{value}». Usa el formato AAAA-MM-DD.") from None


class Command(BaseCommand):
    help = "Arma la bandeja diaria de WhatsApp (quién contactar hoy, con su mensaje)."

    def add_arguments(self, parser):
        parser.add_argument("--date", type=str, default=None, help="día de la bandeja, AAAA-MM-DD (por defecto hoy)")
        parser.add_argument("--size", type=int, default=None, help="clientes a mostrar (por defecto 50)")

    def handle(self, *args, date, size, **options):
        day = _date(date) if date else None
        size = settings.WHATSAPP_TRAY_SIZE if size is None else size
        if size < 1:
            raise CommandError("--size debe ser al menos 1.")
        started = time.perf_counter()
        result = build_tray(day, size=size)
        seconds = f"{time.perf_counter() - started:.2f}".replace(".", ",")
        when = format_date(result.tray.day)
        if not result.created:
            self.stdout.write(
                f"La bandeja del {when} ya existía: {result.shown} clientes a contactar, "
                f"{result.holdout} en el grupo de control."
            )
            return
        self.stdout.write(
            f"Bandeja del {when}: {result.shown} clientes a contactar y {result.holdout} en el grupo de control, "
            f"en {seconds} s (segmentos: {result.tray.segments_source})."
        )
        if result.skipped_no_template:
            self.stdout.write(f"{result.skipped_no_template} clientes sin plantilla utilizable quedaron fuera.")
