"""Time the CRM pages as a logged-in staff user: median milliseconds and queries per page.

    python manage.py bench_pages [--runs 10]

Uses Django's test Client in-process (no web server, no network), so it measures the view, the queries and
the template rendering. Read-only apart from the session of a throw-away staff user, which is removed after.
"""

import statistics
import time
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.roles import RECEPCION, sync_roles
from ventas.models import Cliente


class Command(BaseCommand):
    help = "Mide las páginas del CRM (mediana en ms y consultas SQL por página) con un usuario staff temporal."

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=10, help="veces que se pide cada página (por defecto 10)")

    def handle(self, *args, runs, **options):
        if runs < 1:
            raise CommandError("--runs debe ser al menos 1.")
        top = (
            Cliente.objects.filter(summary__frequency__gt=0)
            .order_by("-summary__monetary", "pk")
            .values("pk", "nombre", "telefono")
            .first()
        ) or Cliente.objects.order_by("pk").values("pk", "nombre", "telefono").first()
        if top is None:
            raise CommandError("No hay clientes: carga datos primero (python manage.py load_demo_data).")
        name_query = top["nombre"].split()[-1][:12]
        phone = top["telefono"] or Cliente.objects.exclude(telefono=None).values_list("telefono", flat=True).first()
        phone_query = (phone or "+56912345678")[-9:]  # typed the local way: 9 digits
        pages = [
            ("dashboard", reverse("crm_dashboard")),
            (f"buscar nombre «{name_query}»", reverse("crm_buscar") + f"?q={name_query}"),
            (f"buscar teléfono «{phone_query}»", reverse("crm_buscar") + f"?q={phone_query}"),
            ("segmento at_risk", reverse("crm_buscar") + "?segmento=at_risk"),
            ("perfil del mejor cliente", reverse("cliente_detalle", args=[top["pk"]])),
            ("historial del mejor cliente", reverse("historial_servicios", args=[top["pk"]])),
        ]

        user = get_user_model().objects.create_user(username=f"bench-{uuid.uuid4().hex[:12]}", is_staff=True)
        sync_roles()
        user.groups.add(Group.objects.get(name=RECEPCION))  # a real role: its permission check is measured too
        host = next((h for h in settings.ALLOWED_HOSTS if h not in {"*", ""} and not h.startswith(".")), "localhost")
        client = Client(SERVER_NAME=host, HTTP_HOST=host)
        client.force_login(user)
        self.stdout.write(
            f"{runs} peticiones por página, base de datos {connection.vendor}, {Cliente.objects.count()} clientes"
        )
        self.stdout.write(f"{'Página':<42}{'mediana ms':>11}{'mín ms':>9}{'máx ms':>9}{'consultas':>11}")
        try:
            for label, url in pages:
                timings, queries = [], 0
                for _ in range(runs):
                    with CaptureQueriesContext(connection) as captured:
                        started = time.perf_counter()
                        response = client.get(url, secure=True)
                        timings.append((time.perf_counter() - started) * 1000)
                    if response.status_code != 200:
                        raise CommandError(f"{url} respondió {response.status_code}")
                    queries = len(captured)
                self.stdout.write(
                    f"{label[:41]:<42}{statistics.median(timings):>11.1f}{min(timings):>9.1f}{max(timings):>9.1f}"
                    f"{queries:>11}"
                )
        finally:
            client.logout()
            user.delete()
