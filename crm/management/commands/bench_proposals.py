"""Time the local proposal engine: median milliseconds per generated proposal.

    python manage.py bench_proposals [--customers 50] [--cold]

Generates proposals for customers with history (and a few without) inside a transaction that is rolled back,
so nothing is stored. First the process is warmed up as gunicorn warms each worker (`crm.services.warmup`);
the first proposal after that is timed apart: it is what the first staff member after a restart waits.
`--cold` skips the warm-up, to see what a process pays without it.
"""

import statistics
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from crm.services.proposals import generate_proposal
from crm.services.recommender.model import current_model
from crm.services.warmup import warm_up
from ventas.models import Cliente


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Mide el motor local de propuestas (mediana en ms por propuesta) sin guardar nada."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=50, help="clientes a medir (por defecto 50)")
        parser.add_argument("--cold", action="store_true", help="sin el calentamiento que gunicorn hace al arrancar")

    def handle(self, *args, customers, cold, **options):
        if customers < 1:
            raise CommandError("--customers debe ser al menos 1.")
        with_history = list(
            Cliente.objects.filter(historial_servicios__isnull=False)
            .distinct()
            .order_by("pk")
            .values_list("pk", flat=True)[: max(customers - customers // 10, 1)]
        )
        without = list(
            Cliente.objects.filter(historial_servicios__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)[: customers // 10]
        )
        ids = with_history + without
        if not ids:
            raise CommandError("No hay clientes: carga datos primero (python manage.py load_demo_data).")
        warmed = None if cold else warm_up()
        timings = []
        try:
            with transaction.atomic():
                for pk in ids:
                    cliente = Cliente.objects.get(pk=pk)
                    started = time.perf_counter()
                    generate_proposal(cliente=cliente, backend="local")
                    timings.append((time.perf_counter() - started) * 1000)
                raise _Rollback
        except _Rollback:
            pass
        first, rest = timings[0], timings[1:] or timings
        self.stdout.write(f"{len(ids)} propuestas ({len(with_history)} con historial, {len(without)} sin historial)")
        self.stdout.write(f"modelo de recomendación: {current_model().name}")
        if warmed is None:
            self.stdout.write(f"primera de este proceso, sin calentar: {first:.1f} ms")
        else:
            self.stdout.write(f"calentamiento del proceso (como gunicorn al arrancar): {warmed.seconds * 1000:.0f} ms")
            self.stdout.write(f"primera de este proceso tras el calentamiento: {first:.1f} ms")
        self.stdout.write(
            f"mediana: {statistics.median(rest):.1f} ms · p90: {statistics.quantiles(rest, n=10)[-1]:.1f} ms"
            if len(rest) > 1
            else f"mediana: {statistics.median(rest):.1f} ms"
        )
