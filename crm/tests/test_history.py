import csv
import datetime
import io

import pytest
from django.urls import reverse

from crm.services.customers import HISTORY_PAGE_SIZE, csv_safe
from crm.tests.builders import add_history, make_cliente, many_customers

pytestmark = pytest.mark.django_db


@pytest.fixture
def cliente(settings):
    cliente = make_cliente("Hilda Historia")
    add_history(
        cliente, service_date=datetime.date(2025, 3, 1), price=40_000, service_type="Tinas", service_name="Tina A"
    )
    add_history(
        cliente, service_date=datetime.date(2025, 8, 9), price=35_500, service_type="Masajes", service_name="Masaje"
    )
    add_history(
        cliente, service_date=datetime.date(2024, 12, 24), price=20_000, service_type="Tinas", service_name="Tina B"
    )
    add_history(
        cliente,
        service_date=settings.HISTORY_PLACEHOLDER_DATE,
        price=10_000,
        service_type="Tinas",
        service_name="Antigua",
    )
    return cliente


def url(cliente, **params):
    from urllib.parse import urlencode

    base = reverse("historial_servicios", args=[cliente.pk])
    return f"{base}?{urlencode(params)}" if params else base


def rows_of(response):
    return [row.service_name for row in response.context["historial"].page.object_list]


def csv_rows(response):
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))


def test_history_lists_everything_newest_first_with_totals(staff_client, cliente):
    response = staff_client.get(url(cliente))
    assert response.status_code == 200
    assert rows_of(response) == ["Masaje", "Tina A", "Tina B", "Antigua"]
    historial = response.context["historial"]
    assert historial.total_services == 4
    html = response.content.decode()
    assert "$105.500" in html
    assert "09-08-2025" in html and "Sin fecha" in html


def test_filter_by_category_with_its_totals(staff_client, cliente):
    response = staff_client.get(url(cliente, categoria="Tinas"))
    assert rows_of(response) == ["Tina A", "Tina B", "Antigua"]
    assert response.context["historial"].total_spent == 70_000


def test_filter_by_year_uses_real_dates_only(staff_client, cliente):
    assert rows_of(staff_client.get(url(cliente, anio=2025))) == ["Masaje", "Tina A"]
    assert rows_of(staff_client.get(url(cliente, anio=2021))) == []  # the placeholder date is not "2021"


def test_filter_by_category_and_year(staff_client, cliente):
    response = staff_client.get(url(cliente, categoria="Tinas", anio=2025))
    assert rows_of(response) == ["Tina A"]
    assert response.context["historial"].total_spent == 40_000
    assert response.context["historial"].years == [2025, 2024]


def test_history_pages_hold_50_services(staff_client):
    cliente = make_cliente("Mucha Historia")
    for index in range(HISTORY_PAGE_SIZE + 7):
        add_history(cliente, service_date=datetime.date(2025, 1, 1) + datetime.timedelta(days=index))
    first = staff_client.get(url(cliente))
    assert len(rows_of(first)) == 50
    assert first.context["historial"].total_services == 57
    assert "Página 1 de 2" in first.content.decode()
    assert len(rows_of(staff_client.get(url(cliente, page=2)))) == 7


def test_invalid_year_is_a_spanish_400(staff_client, cliente):
    for year in ("abc", "99999", "1'; DROP TABLE x"):
        response = staff_client.get(url(cliente, anio=year))
        assert response.status_code == 400
        html = response.content.decode()
        assert "Año" in html and ("número" in html or "menor" in html)


def test_unknown_category_shows_an_empty_list(staff_client, cliente):
    response = staff_client.get(url(cliente, categoria="No existe"))
    assert response.status_code == 200
    assert "No hay servicios con estos filtros." in response.content.decode()


def test_history_of_an_unknown_customer_is_404(staff_client):
    assert staff_client.get(reverse("historial_servicios", args=[424242])).status_code == 404


def test_csv_download_of_the_filtered_rows(staff_client, cliente):
    response = staff_client.get(url(cliente, categoria="Tinas", formato="csv"))
    assert response.status_code == 200
    assert f"historial-cliente-{cliente.pk}.csv" in response["Content-Disposition"]
    assert csv_rows(response) == [
        ["fecha", "categoria", "servicio", "cantidad", "precio_pagado", "reserva", "temporada"],
        ["01-03-2025", "Tinas", "Tina A", "1", "40000", "", "Otoño"],
        ["24-12-2024", "Tinas", "Tina B", "1", "20000", "", "Verano"],
        ["", "Tinas", "Antigua", "1", "10000", "", "Verano"],
    ]


def test_csv_amounts_are_plain_integers(staff_client):
    cliente = make_cliente("Centavos")
    add_history(cliente, service_date=datetime.date(2025, 5, 5), price="1246535.50")
    rows = csv_rows(staff_client.get(url(cliente, formato="csv")))
    assert rows[1][4] == "1246536"


def test_csv_defuses_spreadsheet_formulas(staff_client):
    cliente = make_cliente("Formula Fuentes")
    add_history(
        cliente,
        service_date=datetime.date(2025, 5, 5),
        service_name='=HYPERLINK("http://example.com")',
        service_type="+Tinas",
        reserva_id="@SUM(A1)",
    )
    add_history(cliente, service_date=datetime.date(2025, 5, 4), service_name="-2+3", service_type="Tinas")
    rows = csv_rows(staff_client.get(url(cliente, formato="csv")))
    assert rows[1][1:3] == ["'+Tinas", '\'=HYPERLINK("http://example.com")']
    assert rows[1][5] == "'@SUM(A1)"
    assert rows[2][2] == "'-2+3"


def test_csv_safe_leaves_normal_text_alone():
    assert csv_safe("Tina Calbuco") == "Tina Calbuco"
    assert csv_safe(None) == ""
    assert csv_safe("\t=1") == "'\t=1"


def test_bad_format_is_a_400(staff_client, cliente):
    assert staff_client.get(url(cliente, formato="xlsx")).status_code == 400


@pytest.mark.parametrize("customers", [1, 50])
@pytest.mark.parametrize("params", [{}, {"categoria": "Tinas", "anio": 2025, "page": 2}, {"formato": "csv"}])
def test_history_query_count_does_not_grow_with_customers(
    staff_client, django_assert_max_num_queries, customers, params
):
    cliente = many_customers(customers)[0]
    for index in range(60):
        add_history(cliente, service_date=datetime.date(2025, 1, 1) + datetime.timedelta(days=index))
    with django_assert_max_num_queries(12):
        assert staff_client.get(url(cliente, **params)).status_code == 200
