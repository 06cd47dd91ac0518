"""Enqueue the periodic jobs that are due (see `crm.periodic`); a worker (`db_worker`) runs them.

python manage.py periodic          # check every 30 s until stopped
python manage.py periodic --once   # one check (e.g. from an external cron)
"""

import signal
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections
from django.utils.module_loading import autodiscover_modules

from crm import periodic

CHECK_EVERY_SECONDS = 30


class Command(BaseCommand):
    help = "Encola las tareas periódicas que correspondan (cada 30 s, o una vez con --once)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="revisa una vez y termina")
        parser.add_argument("--interval", type=float, default=CHECK_EVERY_SECONDS, help="segundos entre revisiones")

    def handle(self, *args, once, interval, **options):
        if interval <= 0:
            raise CommandError("--interval debe ser mayor que 0.")
        autodiscover_modules("tasks")  # each app's tasks.py registers its jobs
        # A supervisor (systemd, `manage.py demo`) stops it with SIGTERM: end as cleanly as on Ctrl+C.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:  # from here on: a SIGTERM while the job list is still being printed ends cleanly too
            if options["verbosity"] >= 1:
                for entry in periodic.REGISTRY.values():
                    self.stdout.write(f"{entry.name}: {entry.schedule}")
            while True:
                for entry in periodic.enqueue_due():
                    self.stdout.write(f"Encolada: {entry.name}")
                if once:
                    return
                time.sleep(interval)
                close_old_connections()  # a dropped database connection is reopened at the next check
        except KeyboardInterrupt:
            self.stdout.write("Programador detenido.")
        finally:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt
