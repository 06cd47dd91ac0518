"""Rebuild the usual gap per customer and category: `python manage.py refresh_due_back`."""

import time

from django.core.management.base import BaseCommand

from crm.services.retention import due_back
from ventas.formatting import format_number


class Command(BaseCommand):
    help = "Recalcula cada cuánto vuelve cada cliente a cada categoría y quién está atrasado."

    def handle(self, *args, **options):
        started = time.perf_counter()
        rows = due_back.refresh()
        seconds = f"{time.perf_counter() - started:.1f}".replace(".", ",")
        self.stdout.write(
            f"{format_number(rows)} ritmos (cliente y categoría) en {seconds} s; "
            f"{format_number(due_back.overdue_count())} clientes atrasados hoy."
        )
