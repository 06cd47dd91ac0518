import datetime
import os
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from crm.models import Proposal
from ventas.models import CategoriaServicio, Cliente, ServiceHistory, Servicio

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parents[2]


def test_bench_proposals_prints_the_median_and_stores_nothing():
    tinas = CategoriaServicio.objects.create(nombre="Tinas")
    for nombre in ("Tina Calbuco", "Tina Osorno", "Hidromasaje Llaima"):
        Servicio.objects.create(nombre=nombre, categoria=tinas, precio_base=25000)
    cliente = Cliente.objects.create(nombre="Cliente Prueba")
    Cliente.objects.create(nombre="Cliente Nuevo")
    ServiceHistory.objects.create(
        cliente=cliente, service_type="Tinas", service_name="Tina Calbuco",
        service_date=datetime.date(2025, 7, 1), price_paid=50000,
    )  # fmt: skip
    out = StringIO()
    call_command("bench_proposals", customers=10, stdout=out)
    assert "mediana:" in out.getvalue()
    assert "modelo de recomendación: motor-predeterminado" in out.getvalue()
    assert not Proposal.objects.exists()


@pytest.fixture
def bench_database(tmp_path):
    """A throw-away SQLite file with a little demo data, and `manage` running commands against it in
    subprocesses (gunicorn must see the same database)."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DEBUG="true", DATABASE_URL=f"sqlite:///{tmp_path / 'bench.sqlite3'}")

    def manage(*args):
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=180
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    manage("migrate", "-v0")
    manage("load_demo_data", "--scale", "0.05")
    manage("refresh_summaries", "--full")
    return manage


PAGES = ("dashboard", "buscar nombre", "perfil", "historial", "segmento at_risk", "generar propuesta")


def test_bench_http_drives_every_page_through_gunicorn_without_errors(bench_database):
    """Tiny numbers with the Python driver (nothing to install)."""
    out = bench_database(
        "bench_http", "--driver", "httpx", "--clients", "2", "--requests", "4", "--seconds", "20", "--workers", "1"
    )

    rows = {line.split("  ")[0]: line.split() for line in out.splitlines()}
    for page in PAGES:
        row = rows[page]
        assert row[-7:-5] == ["4", "0"], out  # 4 requests, 0 errors
    assert "count(*) de crm_service_history: mediana" in out
    assert "primer error" not in out


def test_bench_http_with_wrk_reads_its_percentiles(bench_database):
    """wrk (Debian's package) drives each page for a second: requests counted, no errors, percentiles parsed."""
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk): the Python driver is tested above")
    out = bench_database("bench_http", "--driver", "wrk", "--clients", "2", "--seconds", "1", "--workers", "1")

    rows = {line.split("  ")[0]: line.split() for line in out.splitlines()}
    for page in PAGES:
        row = rows[page]
        assert int(row[-7]) > 0 and row[-6] == "0", out  # some requests, 0 errors
        assert float(row[-4]) > 0 and float(row[-3]) >= float(row[-4]), out  # p50 and p95 read from wrk
    assert "(wrk)" in out
    assert "primer error" not in out
