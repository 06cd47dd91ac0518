"""The admin shows money, dates and counts in the CRM's formats ($95.200, 25-11-2026, 26.158) and accepts
the dates staff type."""

import datetime

import pytest
from django.urls import reverse

from ventas.models import CategoriaServicio, Cliente, ImportRun, ServiceHistory, Servicio

pytestmark = pytest.mark.django_db


@pytest.fixture
def history():
    cliente = Cliente.objects.create(nombre="Cliente Prueba", email="prueba@example.org")
    return ServiceHistory.objects.create(
        cliente=cliente,
        service_type="Tinas",
        service_name="Tina Calbuco",
        service_date=datetime.date(2026, 11, 25),
        price_paid=95200,
    )


def test_history_changelist_shows_clp_and_day_month_year(admin_client, history):
    html = admin_client.get(reverse("admin:ventas_servicehistory_changelist")).content.decode()
    assert "$95.200" in html
    assert "25-11-2026" in html
    assert "95 200" not in html and "95\xa0200" not in html
    assert "noviembre" not in html.split('id="result_list"')[1]


def test_service_changelist_shows_price_as_clp(admin_client):
    categoria = CategoriaServicio.objects.create(nombre="Masajes")
    Servicio.objects.create(nombre="Masaje relajante", categoria=categoria, precio_base=1246535)
    html = admin_client.get(reverse("admin:ventas_servicio_changelist")).content.decode()
    assert "$1.246.535" in html


def test_datetimes_and_counts_use_dots_and_dashes(admin_client):
    run = ImportRun.objects.create(file_name="historial.csv", rows_read=26158, imported=26158)
    ImportRun.objects.filter(pk=run.pk).update(created_at=datetime.datetime(2026, 11, 25, 17, 5, tzinfo=datetime.UTC))
    html = admin_client.get(reverse("admin:ventas_importrun_changelist")).content.decode()
    assert "26.158" in html
    assert "25-11-2026 14:05" in html  # Santiago time (UTC-3 in November)


def test_date_hierarchy_uses_month_year_and_day_month(admin_client, history):
    url = reverse("admin:ventas_servicehistory_changelist")
    by_year = admin_client.get(url, {"service_date__year": "2026"}).content.decode()
    assert 'service_date__year=2026">11-2026</a>' in by_year
    by_month = admin_client.get(url, {"service_date__year": "2026", "service_date__month": "11"}).content.decode()
    assert 'service_date__year=2026">25-11</a>' in by_month


def test_admin_form_accepts_day_month_year(admin_client, history):
    url = reverse("admin:ventas_servicehistory_change", args=[history.pk])
    response = admin_client.post(
        url,
        {
            "cliente": history.cliente_id,
            "service_type": "Tinas",
            "service_name": "Tina Calbuco",
            "service_date": "24-11-2026",
            "quantity": "1",
            "price_paid": "95200",
            "reserva_id": "",
            "season": "",
            "year": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    history.refresh_from_db()
    assert history.service_date == datetime.date(2026, 11, 24)


def test_read_only_detail_pages_use_the_same_formats(admin_client):
    run = ImportRun.objects.create(file_name="historial.csv", rows_read=26158, imported=26158)
    ImportRun.objects.filter(pk=run.pk).update(created_at=datetime.datetime(2026, 11, 25, 17, 5, tzinfo=datetime.UTC))
    html = admin_client.get(reverse("admin:ventas_importrun_change", args=[run.pk])).content.decode()
    assert "26.158" in html
    assert "25-11-2026 14:05" in html
    assert "noviembre" not in html


def test_result_counts_use_dot_thousands(admin_client, history):
    ServiceHistory.objects.bulk_create(
        ServiceHistory(
            cliente=history.cliente,
            service_type="Tinas",
            service_name="Tina Osorno",
            service_date=datetime.date(2026, 1, 1) + datetime.timedelta(days=n % 300),
            price_paid=1000,
        )
        for n in range(1200)
    )
    url = reverse("admin:ventas_servicehistory_changelist")
    html = admin_client.get(url, {"q": "Osorno"}).content.decode()
    assert "1.200 resultados" in html
    assert "1.201 historial de servicios" in admin_client.get(url, {"all": ""}).content.decode()
