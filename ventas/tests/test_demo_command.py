"""`manage.py load_demo_data` and `manage.py demo`."""

import datetime
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from crm.models import Proposal
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
