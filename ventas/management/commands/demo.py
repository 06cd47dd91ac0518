"""One command from a fresh clone to a running CRM with demo data and a staff user to log in with."""

import io
import secrets
import subprocess
import sys

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.core.management.base import BaseCommand

from crm.roles import ADMINISTRACION, sync_roles
from crm.services.campaigns import recover_campaigns
from ventas import demo_data


def start_task_worker() -> subprocess.Popen | None:
    """Run `db_worker` beside the development server, so campaigns progress without a second terminal."""
    if not settings.TASKS["default"]["BACKEND"].startswith("django_tasks_db"):
        return None
    return subprocess.Popen([sys.executable, str(settings.BASE_DIR / "manage.py"), "db_worker"])  # noqa: S603


def start_scheduler() -> subprocess.Popen:
    """Run the periodic scheduler (`crm.periodic`) beside the worker: summaries refresh, nightly jobs."""
    return subprocess.Popen([sys.executable, str(settings.BASE_DIR / "manage.py"), "periodic"])  # noqa: S603


class Command(BaseCommand):
    help = (
        "Prepara la demostración: migra la base de datos, carga datos de demostración si no hay clientes, "
        "crea (o restablece) el usuario DEMO_USER y levanta el servidor de desarrollo en 127.0.0.1:8000."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-serve", action="store_true", help="prepara todo pero no levanta el servidor")
        parser.add_argument("--addrport", default="127.0.0.1:8000", help="dirección y puerto del servidor")
        parser.add_argument("--scale", type=float, default=1.0, help="escala de los datos si hay que cargarlos")

    def handle(self, *args, no_serve, addrport, scale, **options):
        verbosity = options["verbosity"]
        self.stdout.write("Aplicando migraciones…")
        call_command("migrate", interactive=False, verbosity=max(verbosity - 1, 0), stdout=self.stdout)
        if demo_data.database_has_customers():
            self.stdout.write("La base de datos ya tiene clientes: no se cargan datos de demostración.")
        else:
            call_command("load_demo_data", scale=scale, stdout=self.stdout)
            self._derived_results()
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)

        username, password = self._demo_user()
        # A configured password is not echoed; a generated one must be, or nobody could log in.
        shown = "la definida en DEMO_PASSWORD" if settings.DEMO_PASSWORD else f"«{password}»"
        self.stdout.write(
            self.style.SUCCESS(f"Entra en http://{addrport}/ventas/crm/ con usuario «{username}» y clave {shown}")
        )
        if not no_serve:
            recover_campaigns()  # a campaign left by a worker that died is picked up again by the new one
            worker = start_task_worker()
            scheduler = start_scheduler() if worker else None
            if worker:
                self.stdout.write("Worker de tareas y programador de tareas periódicas iniciados en segundo plano.")
            try:
                call_command("runserver", addrport, use_reloader=False)
            finally:
                for process in (scheduler, worker):
                    if process:
                        process.terminate()
                        process.wait(timeout=10)

    def _derived_results(self) -> None:
        """What the nightly and monthly jobs would have stored, so every page has figures from the first visit."""
        self.stdout.write("Entrenando el recomendador y calculando ritmos, fotos de segmentos y valor esperado…")
        for command in ("train_recommender", "refresh_due_back", "segment_snapshot", "fit_clv"):
            try:
                call_command(command, stdout=io.StringIO())
            except CommandError as error:  # e.g. too little data at a tiny scale: the pages say so
                self.stdout.write(f"  {command}: {error}")

    def _demo_user(self) -> tuple[str, str]:
        """Create or reset the staff superuser DEMO_USER (role Administración); its password is DEMO_PASSWORD or a
        new random one."""
        username = settings.DEMO_USER
        password = settings.DEMO_PASSWORD or secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        sync_roles()
        user.groups.add(Group.objects.get(name=ADMINISTRACION))
        return username, password
