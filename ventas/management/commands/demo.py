"""One command from a fresh clone to a running CRM with demo data and a staff user to log in with.

Run twice, it does not disturb the first run: a busy port (or another demo of the same database holding the lock)
stops it before anything is touched, and an existing demo user keeps its password unless `--nueva-clave`.
"""

import io
import secrets
import subprocess
import sys
from typing import NoReturn

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.core.management.base import BaseCommand

from crm.roles import ADMINISTRACION, sync_roles
from crm.services.campaigns import recover_campaigns
from crm.services.mail import emails_stay_on_console
from ventas import demo_data
from ventas.demo_server import Address, DemoLock, exit_on_signals, lock_path, port_is_free, start_child, stop_children


def start_task_worker() -> subprocess.Popen | None:
    """Run `db_worker` beside the development server, so campaigns progress without a second terminal.

    Without its autoreloader: the reloader would re-run the worker as a grandchild that outlives a terminated
    parent, and log "Watching for file changes" for a process nobody edits."""
    if not settings.TASKS["default"]["BACKEND"].startswith("django_tasks_db"):
        return None
    return start_child([sys.executable, str(settings.BASE_DIR / "manage.py"), "db_worker", "--no-reload"])


def start_scheduler() -> subprocess.Popen:
    """Run the periodic scheduler (`crm.periodic`) beside the worker: summaries refresh, nightly jobs."""
    return start_child([sys.executable, str(settings.BASE_DIR / "manage.py"), "periodic"])


class Command(BaseCommand):
    help = (
        "Prepara la demostración: migra la base de datos, carga datos de demostración si no hay clientes, "
        "crea el usuario DEMO_USER (la primera vez) y levanta el servidor de desarrollo en 127.0.0.1:8000."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "puerto", nargs="?", metavar="[DIRECCIÓN:]PUERTO", help="dónde servir, p. ej. 8001 (por omisión 8000)"
        )
        parser.add_argument("--no-serve", action="store_true", help="prepara todo pero no levanta el servidor")
        parser.add_argument("--addrport", default="127.0.0.1:8000", help="dirección y puerto del servidor")
        parser.add_argument("--scale", type=float, default=1.0, help="escala de los datos si hay que cargarlos")
        parser.add_argument(
            "--nueva-clave", action="store_true", help="da al usuario de la demo una clave nueva (y la muestra)"
        )

    def handle(self, *args, puerto, no_serve, addrport, scale, nueva_clave, **options):
        try:
            address = Address.parse(puerto or addrport)
        except ValueError as error:
            raise CommandError(str(error)) from error
        lock = DemoLock(lock_path(settings.DATABASES["default"], settings.BASE_DIR))
        if not no_serve:
            self._stop_if_taken(address, lock)  # before migrations, password or workers
        try:
            self._prepare(address, scale=scale, new_password=nueva_clave, verbosity=options["verbosity"])
            if not no_serve:
                self._serve(address)
        finally:
            lock.release()

    def _stop_if_taken(self, address: Address, lock: DemoLock) -> None:
        """One Spanish line and exit status 1 when this demo would get in the way: its port is busy, or another
        demo of this database is still preparing (loading data) or already serves on this port. A second demo of a
        database already served on another port may run beside it."""
        busy = (
            f"El puerto {address.port} ya está ocupado por otro programa ({address.url}). "
            f"Detenlo, o usa otro puerto: manage.py demo {address.port + 1}"
        )
        if lock.acquire(address):
            if not port_is_free(address):
                lock.release()
                self._refuse(busy)
            return
        other = Address.from_url(lock.holder()) or address
        if port_is_free(other):
            self._refuse(
                f"La demo ya se está preparando para {other.url}: espera a que diga «Starting development server» "
                "y ábrela en el navegador (o detenla con Ctrl+C)."
            )
        if other.port == address.port:
            self._refuse(
                f"La demo ya está corriendo en {other.url} (el puerto {address.port} está ocupado por ella). "
                f"Ábrela en el navegador, o detén la otra con Ctrl+C; para usar otro puerto: "
                f"manage.py demo {address.port + 1}"
            )
        if not port_is_free(address):
            self._refuse(busy)

    def _refuse(self, line: str) -> NoReturn:
        self.stderr.write(line)
        sys.exit(1)

    def _prepare(self, address: Address, *, scale: float, new_password: bool, verbosity: int) -> None:
        self.stdout.write("Aplicando migraciones…")
        call_command("migrate", interactive=False, verbosity=max(verbosity - 1, 0), stdout=self.stdout)
        if demo_data.database_has_customers():
            self.stdout.write("La base de datos ya tiene clientes: no se cargan datos de demostración.")
        else:
            call_command("load_demo_data", scale=scale, stdout=self.stdout)
            self._derived_results()
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)

        username, password = self._demo_user(new_password=new_password)
        login = f"Entra en {address.url}ventas/crm/ con usuario «{username}»"
        if settings.DEMO_PASSWORD:  # a configured password is not echoed
            login += " y la clave definida en DEMO_PASSWORD"
        elif password:  # a generated one must be, or nobody could log in
            login += f" y clave «{password}» (guárdala: las próximas veces se mantiene)"
        else:
            login += " y la clave que se mostró la primera vez (`manage.py demo --nueva-clave` crea otra)"
        self.stdout.write(self.style.SUCCESS(login))
        if emails_stay_on_console():
            self.stdout.write("En la demo los emails no salen: se muestran en esta consola.")

    def _serve(self, address: Address) -> None:
        """runserver in this process, the worker and the scheduler as children stopped on the way out."""
        children = []
        with exit_on_signals():
            try:
                recover_campaigns()  # a campaign left by a worker that died is picked up again by the new one
                worker = start_task_worker()
                children.append(worker)
                if worker:
                    children.append(start_scheduler())
                    self.stdout.write("Worker de tareas y programador de tareas periódicas iniciados en segundo plano.")
                call_command("runserver", address.addrport, use_reloader=False)
            finally:
                stop_children(children)

    def _derived_results(self) -> None:
        """What the nightly and monthly jobs would have stored, so every page has figures from the first visit."""
        self.stdout.write("Entrenando el recomendador y calculando ritmos, fotos de segmentos y valor esperado…")
        for command in ("train_recommender", "refresh_due_back", "segment_snapshot", "fit_clv"):
            try:
                call_command(command, stdout=io.StringIO())
            except CommandError as error:  # e.g. too little data at a tiny scale: the pages say so
                self.stdout.write(f"  {command}: {error}")

    def _demo_user(self, *, new_password: bool) -> tuple[str, str]:
        """Make sure the staff superuser DEMO_USER exists (role Administración); returns (username, password set).

        The password is set only when the user is new, has no usable password, `new_password` is asked, or it
        differs from a configured DEMO_PASSWORD; otherwise it is kept ("" returned), so running the demo again
        logs nobody out. A set password is DEMO_PASSWORD or a new random one."""
        user, created = get_user_model().objects.get_or_create(username=settings.DEMO_USER)
        password = ""
        if settings.DEMO_PASSWORD:
            if created or new_password or not user.check_password(settings.DEMO_PASSWORD):
                password = settings.DEMO_PASSWORD
        elif created or new_password or not user.has_usable_password():
            password = secrets.token_urlsafe(12)
        if password:
            user.set_password(password)
        user.is_staff = user.is_superuser = user.is_active = True
        user.save()
        sync_roles()
        user.groups.add(Group.objects.get(name=ADMINISTRACION))
        return user.username, password
