"""`manage.py load_demo_data` and `manage.py demo`."""

import contextlib
import datetime
import io
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from crm.models import Proposal
from ventas import demo_server
from ventas.management.commands import demo as demo_command
from ventas.models import Cliente, ServiceHistory

pytestmark = pytest.mark.django_db


def run(*args, **options):
    out = io.StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def existing_customer():
    cliente = Cliente.objects.create(nombre="Cliente Previo", email="previo@example.org")
    ServiceHistory.objects.create(
        cliente=cliente,
        service_type="Tinas",
        service_name="Tina Osorno",
        service_date=datetime.date(2024, 7, 1),
        quantity=2,
        price_paid=50000,
    )
    return cliente


def test_load_prints_progress_totals_and_rate():
    output = run("load_demo_data", "--scale", "0.02")

    assert "100 %" in output
    assert "61 clientes, 19 con historial, 523 servicios" in output
    assert "servicios/s" in output


def test_load_refuses_a_database_that_has_customers():
    existing_customer()

    with pytest.raises(CommandError, match="--reset"):
        run("load_demo_data", "--scale", "0.02")
    assert Cliente.objects.count() == 1


def test_reset_replaces_existing_customers_and_history():
    existing_customer()

    run("load_demo_data", "--scale", "0.01", "--reset")

    assert not Cliente.objects.filter(nombre="Cliente Previo").exists()
    assert Cliente.objects.count() == 31
    assert ServiceHistory.objects.count() == 262


def test_reset_also_removes_proposals_of_the_old_customers():
    Proposal.objects.create(
        cliente=existing_customer(),
        segment="lost",
        backend="local",
        offer_code="DEMO-TEST-1",
        email_subject="Vuelve a Aremko",
        email_body="<p>Hola</p>",
        email_text="Hola",
    )

    run("load_demo_data", "--scale", "0.01", "--reset")

    assert not Proposal.objects.exists()
    assert Cliente.objects.count() == 31


@pytest.mark.parametrize("scale", ["0", "-1", "nan", "1000", "0.0001"])
def test_invalid_scale_is_refused(scale):
    with pytest.raises(CommandError, match="--scale"):
        run("load_demo_data", "--scale", scale)


def test_demo_creates_a_staff_superuser_and_prints_its_random_password(settings):
    settings.DEMO_USER, settings.DEMO_PASSWORD = "admin", ""
    existing_customer()  # skips loading: the test stays fast

    output = run("demo", "--no-serve")

    user = get_user_model().objects.get(username="admin")
    assert user.is_staff and user.is_superuser
    password = output.split("clave «")[1].split("»")[0]
    assert len(password) >= 16
    assert user.check_password(password)
    assert "http://127.0.0.1:8000/ventas/crm/" in output
    assert "no se cargan datos" in output


def test_demo_resets_an_existing_user_to_the_configured_password(settings, django_user_model):
    settings.DEMO_USER, settings.DEMO_PASSWORD = "recepcion", "clave-demo-aremko"
    django_user_model.objects.create_user(username="recepcion", password="otra-clave", is_active=False)
    existing_customer()

    output = run("demo", "--no-serve")

    user = django_user_model.objects.get(username="recepcion")
    assert user.check_password("clave-demo-aremko") and user.is_active and user.is_staff
    assert "«recepcion»" in output
    assert "clave-demo-aremko" not in output


def test_demo_loads_demo_data_into_an_empty_database(settings):
    settings.DEMO_PASSWORD = "clave-demo-aremko"

    run("demo", "--no-serve", "--scale", "0.01")

    assert Cliente.objects.count() == 31
    assert ServiceHistory.objects.count() == 262


@pytest.fixture
def recorded_commands(monkeypatch):
    """Record what `demo` calls; migrate and load run for real, collectstatic and runserver are only recorded."""
    calls = []

    def fake_call_command(name, *args, **options):
        calls.append((name, args, options))
        if name in {"migrate", "load_demo_data"}:
            return call_command(name, *args, **options)
        return None

    monkeypatch.setattr(demo_command, "call_command", fake_call_command)

    def fake_process(name):
        def start():
            calls.append((name, (), {}))
            return StoppedProcess()

        return start

    monkeypatch.setattr(demo_command, "start_task_worker", fake_process("db_worker"))
    monkeypatch.setattr(demo_command, "start_scheduler", fake_process("periodic"))
    monkeypatch.setattr(demo_command, "port_is_free", lambda address: True)
    return calls


class StoppedProcess:
    """Stands in for a background process the demo starts and stops (none is spawned in tests)."""

    def poll(self):
        return 0

    def terminate(self):
        pass

    def wait(self, timeout=None):
        return 0


def test_demo_serves_on_the_given_address_without_reloader(settings, recorded_commands):
    settings.DEMO_PASSWORD = "clave-demo-aremko"
    settings.DEBUG = True
    existing_customer()

    output = run("demo", "--addrport", "127.0.0.1:8123")

    names = [name for name, _, _ in recorded_commands]
    assert names == ["migrate", "db_worker", "periodic", "runserver"]
    assert recorded_commands[-1][1:] == (("127.0.0.1:8123",), {"use_reloader": False})
    assert "http://127.0.0.1:8123/ventas/crm/" in output


def test_demo_collects_static_files_only_without_debug(settings, recorded_commands):
    settings.DEMO_PASSWORD = "clave-demo-aremko"
    settings.DEBUG = False
    existing_customer()

    run("demo", "--no-serve")

    assert [name for name, _, _ in recorded_commands] == ["migrate", "collectstatic"]


def test_demo_takes_the_port_as_runserver_does(settings, recorded_commands):
    settings.DEMO_PASSWORD = "clave-demo-aremko"
    existing_customer()

    output = run("demo", "8001")

    assert recorded_commands[-1][:2] == ("runserver", ("127.0.0.1:8001",))
    assert "http://127.0.0.1:8001/ventas/crm/" in output


def test_an_invalid_port_is_refused_in_spanish():
    with pytest.raises(CommandError, match="no es un puerto"):
        run("demo", "ocho-mil")


# --- Running it again ---------------------------------------------------------------------------------------------


def test_a_second_run_keeps_the_password_and_says_which_one(settings, django_user_model):
    settings.DEMO_USER, settings.DEMO_PASSWORD = "admin", ""
    existing_customer()
    first = run("demo", "--no-serve")
    password_hash = django_user_model.objects.get(username="admin").password

    second = run("demo", "--no-serve")

    assert django_user_model.objects.get(username="admin").password == password_hash  # nobody logged out
    assert "clave «" in first
    assert "clave «" not in second
    assert "con usuario «admin» y la clave que se mostró la primera vez (`manage.py demo --nueva-clave`" in second


def test_nueva_clave_gives_the_user_a_new_password_and_shows_it(settings, django_user_model):
    settings.DEMO_USER, settings.DEMO_PASSWORD = "admin", ""
    existing_customer()
    run("demo", "--no-serve")

    output = run("demo", "--no-serve", "--nueva-clave")

    password = output.split("clave «")[1].split("»")[0]
    assert django_user_model.objects.get(username="admin").check_password(password)


def test_a_configured_password_that_already_matches_is_not_set_again(settings, django_user_model):
    settings.DEMO_USER, settings.DEMO_PASSWORD = "recepcion", "clave-demo-aremko"
    django_user_model.objects.create_user(username="recepcion", password="clave-demo-aremko", is_staff=True)
    password_hash = django_user_model.objects.get(username="recepcion").password
    existing_customer()

    output = run("demo", "--no-serve")

    assert django_user_model.objects.get(username="recepcion").password == password_hash
    assert "la clave definida en DEMO_PASSWORD" in output


def test_a_busy_port_stops_the_demo_before_it_touches_anything(
    settings, recorded_commands, monkeypatch, django_user_model
):
    settings.DEMO_USER, settings.DEMO_PASSWORD = "admin", "clave-demo-aremko"
    user = django_user_model.objects.create_user(username="admin", password="otra-clave")
    monkeypatch.setattr(demo_command, "port_is_free", demo_server.port_is_free)  # the real check, here
    err = io.StringIO()
    with socket.socket() as other_program:
        other_program.bind(("127.0.0.1", 0))
        other_program.listen()
        port = other_program.getsockname()[1]
        with pytest.raises(SystemExit) as stopped:
            call_command(demo_command.Command(), str(port), stdout=io.StringIO(), stderr=err, no_color=True)

    assert stopped.value.code == 1
    assert err.getvalue() == (
        f"El puerto {port} ya está ocupado por otro programa (http://127.0.0.1:{port}/). "
        f"Detenlo, o usa otro puerto: manage.py demo {port + 1}\n"
    )
    assert recorded_commands == []  # no migrate, no worker, no runserver
    assert django_user_model.objects.get(pk=user.pk).password == user.password


def test_a_demo_still_preparing_stops_a_second_one(recorded_commands, monkeypatch, tmp_path):
    monkeypatch.setattr(demo_command, "port_is_free", demo_server.port_is_free)
    monkeypatch.setattr(demo_command, "lock_path", lambda database, base_dir: tmp_path / "db.sqlite3.demo.lock")
    first = demo_server.DemoLock(tmp_path / "db.sqlite3.demo.lock")
    port = free_port()
    assert first.acquire(demo_server.Address.parse(str(port)))  # loading data: not listening yet
    err = io.StringIO()

    with pytest.raises(SystemExit):
        call_command(demo_command.Command(), str(port + 1), stdout=io.StringIO(), stderr=err, no_color=True)
    first.release()

    assert err.getvalue() == (
        f"La demo ya se está preparando para http://127.0.0.1:{port}/: espera a que diga «Starting development "
        "server» y ábrela en el navegador (o detenla con Ctrl+C).\n"
    )
    assert recorded_commands == []


def test_demo_says_where_emails_go_with_the_console_backend(settings):
    settings.DEMO_PASSWORD = "clave-demo-aremko"
    existing_customer()

    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    on_console = run("demo", "--no-serve")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    with_smtp = run("demo", "--no-serve")

    assert "En la demo los emails no salen: se muestran en esta consola." in on_console
    assert "emails no salen" not in with_smtp


# --- The real thing: `manage.py demo` as a process on a throw-away SQLite file and a free port --------------------

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"


def demo_env(database: Path) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "DEBUG": "true",
        "DEMO_USER": "admin",
        "DEMO_PASSWORD": "",
        "EMAIL_URL": "consolemail://",
        "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
        "PYTHONUNBUFFERED": "1",
    }


def manage(database: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(MANAGE), *args],
        env=demo_env(database),
        cwd=MANAGE.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory) -> Path:
    """Migrated, with tiny demo data and the demo user: prepared once, as a first `demo` run would."""
    database = tmp_path_factory.mktemp("demo") / "db.sqlite3"
    prepared = manage(database, "demo", "--no-serve", "--scale", "0.01", timeout=300)
    assert prepared.returncode == 0, prepared.stderr
    return database


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def alive(pid: int) -> bool:
    """From /proc (no psutil): a zombie waiting for init to reap it counts as dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def children_of(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def wait_for(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def listening(port: int) -> bool:
    with socket.socket() as client:
        return client.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def running_demo(database: Path, port: int, log: Path):
    """`manage.py demo PORT` serving, with its two children; whatever happens, all three are killed at the end."""
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, str(MANAGE), "demo", str(port)],
            env=demo_env(database),
            cwd=MANAGE.parent,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )
    process.children = []
    try:
        wait_for(lambda: listening(port) or process.poll() is not None, timeout=90, what="the demo to listen")
        assert process.poll() is None, log.read_text()
        wait_for(lambda: len(children_of(process.pid)) == 2, timeout=30, what="the worker and the scheduler")
        process.children = children_of(process.pid)
        yield process
    finally:
        for pid in [process.pid, *process.children]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=10)


linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


@linux_only
def test_a_second_demo_on_the_same_port_says_so_in_one_line_and_changes_nothing(demo_database, tmp_path):
    port = free_port()
    with running_demo(demo_database, port, tmp_path / "first.log") as first:
        password_hash = read_password_hash(demo_database)

        second = manage(demo_database, "demo", str(port))

        assert second.returncode == 1
        assert second.stderr == (
            f"La demo ya está corriendo en http://127.0.0.1:{port}/ (el puerto {port} está ocupado por ella). "
            f"Ábrela en el navegador, o detén la otra con Ctrl+C; para usar otro puerto: manage.py demo {port + 1}\n"
        )
        assert second.stdout == ""  # stopped before migrations, password and workers
        assert read_password_hash(demo_database) == password_hash
        assert sorted(children_of(first.pid)) == sorted(first.children)


@linux_only
def test_sigterm_stops_the_demo_with_its_worker_and_scheduler(demo_database, tmp_path):
    log = tmp_path / "demo.log"
    with running_demo(demo_database, free_port(), log) as demo:
        wait_for(lambda: "Starting worker" in log.read_text(), timeout=60, what="the worker to start")
        demo.send_signal(signal.SIGTERM)

        assert demo.wait(timeout=30) == 128 + signal.SIGTERM
        wait_for(lambda: not any(alive(pid) for pid in demo.children), timeout=15, what="the children to stop")

    output = log.read_text()
    assert "la clave que se mostró la primera vez" in output  # the first run's password was kept
    assert "En la demo los emails no salen: se muestran en esta consola." in output
    assert output.count("Starting worker") == 1
    assert "Watching for file changes" not in output  # the worker runs without its reloader


@linux_only
def test_ctrl_c_stops_the_demo_and_each_child_once(demo_database, tmp_path):
    log = tmp_path / "demo.log"
    with running_demo(demo_database, free_port(), log) as demo:
        wait_for(lambda: "Starting worker" in log.read_text(), timeout=60, what="the worker to start")
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl+C does: the whole foreground process group

        assert demo.wait(timeout=30) == 0
        wait_for(lambda: not any(alive(pid) for pid in demo.children), timeout=15, what="the children to stop")

    output = log.read_text()
    # Only the demo's SIGTERM reached the worker, not Ctrl+C too: a second signal would abandon its running task.
    assert output.count("Received Terminated - shutting down gracefully") == 1
    assert "Received Interrupt" not in output


@linux_only
def test_a_killed_demo_takes_its_worker_and_scheduler_with_it(demo_database, tmp_path):
    with running_demo(demo_database, free_port(), tmp_path / "demo.log") as demo:
        demo.kill()  # no chance to clean up: the children's parent-death signal does it
        demo.wait(timeout=10)

        wait_for(lambda: not any(alive(pid) for pid in demo.children), timeout=15, what="the children to stop")


def test_a_django_warning_is_logged_once(tmp_path):
    logged = manage(
        tmp_path / "unused.sqlite3",
        "shell",
        "-c",
        "import logging; logging.getLogger('django.request').warning('aviso-de-prueba')",
    )

    assert logged.returncode == 0, logged.stderr
    assert (logged.stdout + logged.stderr).count("aviso-de-prueba") == 1


def read_password_hash(database: Path) -> str:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        return connection.execute("SELECT password FROM auth_user WHERE username = 'admin'").fetchone()[0]
