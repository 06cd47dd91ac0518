import io

import pytest
from django.core.management import CommandError, call_command

from crm.tests.builders import AS_OF, customer_with, make_cliente

pytestmark = pytest.mark.django_db


def run(*args):
    out = io.StringIO()
    call_command("rfm_segments", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def customers():
    vip = customer_with(services=10, spent=1_000_000, last_days_ago=3, nombre="Vicente Vip")
    lost = customer_with(services=1, spent=9_999, last_days_ago=400, nombre="Luis Lejano")
    undated = customer_with(services=2, spent=20_000, last_days_ago=None, nombre="Sin Fecha")
    make_cliente("Nadie Nuevo")
    return vip, lost, undated


def test_distribution_lists_every_segment_with_customers_and_revenue(customers):
    output = run("--as-of", AS_OF.isoformat())
    assert "Segmentos RFM al 30-06-2026" in output
    lines = {line.split()[0]: line for line in output.splitlines()[2:]}
    assert "vip" in lines["VIP"] and " 1 " in lines["VIP"] and "$1.000.000" in lines["VIP"]
    assert "lost" in lines["Perdidos"] and " 2 " in lines["Perdidos"] and "$29.999" in lines["Perdidos"]
    assert "no_history" in lines["Sin"]
    assert "$1.029.999" in lines["Total"]


def test_csv_has_one_row_per_customer_with_history_sorted_by_id(customers):
    vip, lost, undated = customers
    output = run("--as-of", AS_OF.isoformat(), "--csv")
    assert output.splitlines() == [
        "cliente_id,recency_days,frequency,monetary,r,f,m,segment",
        f"{vip.pk},3,10,1000000,3,3,3,vip",
        f"{lost.pk},400,1,9999,1,1,1,lost",
        f"{undated.pk},,2,20000,1,1,1,lost",
    ]


def test_as_of_moves_recency(customers):
    vip, *_ = customers
    later = AS_OF.replace(year=2027).isoformat()
    first_row = run("--as-of", later, "--csv").splitlines()[1]
    assert first_row == f"{vip.pk},368,10,1000000,1,3,3,at_risk"


def test_bad_as_of_is_a_clear_error():
    with pytest.raises(CommandError, match="AAAA-MM-DD"):
        run("--as-of", "30-06-2026")


def test_bench_pages_reports_every_page(customers):
    out = io.StringIO()
    call_command("bench_pages", "--runs", "1", stdout=out)
    output = out.getvalue()
    for page in ("dashboard", "buscar nombre", "buscar teléfono", "segmento at_risk", "perfil", "historial"):
        assert page in output
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username__startswith="bench-").exists()
