import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.services.customers import customer_360
from crm.tests.builders import AS_OF, add_history, make_cliente, many_customers

pytestmark = pytest.mark.django_db


def days_ago(days):
    return AS_OF - datetime.timedelta(days=days)


@pytest.fixture
def regular(settings):
    """Rosa: 6 services over three years plus one legacy row with an unknown date."""
    rosa = make_cliente("Rosa Ríos", telefono="+56912345678", ciudad="Puerto Varas")
    add_history(rosa, service_date=days_ago(10), price=60_000, service_type="Tinas", service_name="Tina Calbuco")
    add_history(rosa, service_date=days_ago(100), price=40_000, service_type="Masajes", service_name="Masaje Piedras")
    add_history(rosa, service_date=days_ago(200), price=50_000, service_type="Tinas", service_name="Tina Osorno")
    add_history(
        rosa, service_date=datetime.date(2025, 3, 1), price=150_000, service_type="Cabañas", service_name="Cabaña"
    )
    add_history(rosa, service_date=datetime.date(2024, 2, 1), price=30_000, service_type="Tinas", service_name="Tina")
    add_history(
        rosa, service_date=datetime.date(2024, 1, 10), price=20_000, service_type="Masajes", service_name="Reiki"
    )
    add_history(
        rosa, service_date=settings.HISTORY_PLACEHOLDER_DATE, price=10_000, service_type="Otros", service_name="X"
    )
    return rosa


def test_profile_metrics(regular):
    perfil = customer_360(regular.pk, as_of=AS_OF)
    assert perfil.total_services == 7
    assert perfil.services_last_180_days == 2  # 10 and 100 days ago; 200 days is out
    assert perfil.total_spent == Decimal(360_000)
    assert perfil.average_ticket == Decimal(360_000) / 7
    assert perfil.first_service == datetime.date(2024, 1, 10)  # the placeholder date does not count
    assert perfil.last_service == days_ago(10)
    assert perfil.days_as_customer == (AS_OF - datetime.date(2024, 1, 10)).days


def test_profile_rfm_badge_with_scores_and_reasons(regular):
    perfil = customer_360(regular.pk, as_of=AS_OF)
    assert (perfil.rfm.r, perfil.rfm.f, perfil.rfm.m) == (3, 2, 1)
    assert perfil.rfm.segment.key == "loyal"


def test_favourite_categories_are_the_top_three_by_count(regular):
    favourites = customer_360(regular.pk, as_of=AS_OF).favourite_categories
    assert [(c.name, c.services, c.spent) for c in favourites] == [
        ("Tinas", 3, Decimal(140_000)),
        ("Masajes", 2, Decimal(60_000)),
        ("Cabañas", 1, Decimal(150_000)),
    ]


def test_ten_most_recent_services_newest_first():
    cliente = make_cliente("Muchas Visitas")
    for index in range(15):
        add_history(cliente, service_date=days_ago(index * 3), service_name=f"Visita {index}")
    recent = customer_360(cliente.pk, as_of=AS_OF).recent_services
    assert [row.service_name for row in recent] == [f"Visita {index}" for index in range(10)]


def test_spend_per_year_leaves_unknown_dates_apart(regular):
    perfil = customer_360(regular.pk, as_of=AS_OF)
    assert [(y.year, y.services, y.spent) for y in perfil.spend_by_year] == [
        (2024, 2, Decimal(50_000)),
        (2025, 2, Decimal(200_000)),  # 01-03-2025 and 200 days before 30-06-2026 (11-12-2025)
        (2026, 2, Decimal(100_000)),
    ]
    assert perfil.undated_spent == Decimal(10_000)
    assert len(perfil.spend_chart.bars) == 3


def test_profile_page_renders_everything(staff_client, regular):
    response = staff_client.get(reverse("cliente_detalle", args=[regular.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Rosa Ríos" in html and "+56912345678" in html and "Puerto Varas" in html
    assert "Acepta" in html
    assert "$360.000" in html
    assert "Categorías favoritas" in html and "Tinas" in html
    assert "Sin fecha" in html  # the placeholder row among the recent services
    assert 'role="img"' in html  # the spend-per-year chart
    assert f'href="{reverse("historial_servicios", args=[regular.pk])}"' in html
    assert "Propuesta personalizada" in html or "propuesta" in html.lower()
    assert "Enviar por email" in html


def test_profile_explains_the_segment(staff_client):
    cliente = make_cliente("Lola Leal")
    add_history(cliente, service_date=timezone.localdate(), price=1_000)
    html = staff_client.get(reverse("cliente_detalle", args=[cliente.pk])).content.decode()
    assert "R3" in html and "F1" in html and "M1" in html
    assert "Prometedores" in html
    assert "1 servicio." in html


def test_unsubscribed_customer_shows_the_opt_out(staff_client):
    cliente = make_cliente("Baja Bustos")
    cliente.unsubscribe()
    html = staff_client.get(reverse("cliente_detalle", args=[cliente.pk])).content.decode()
    assert "Dado de baja" in html


def test_customer_without_history_has_a_calm_profile(staff_client):
    cliente = make_cliente("Nuevo Núñez", email="")
    response = staff_client.get(reverse("cliente_detalle", args=[cliente.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Sin historial" in html
    assert "todavía no tiene servicios" in html


def test_unknown_customer_is_a_spanish_404(staff_client):
    response = staff_client.get(reverse("cliente_detalle", args=[999_999]))
    assert response.status_code == 404
    assert "No encontramos lo que buscas" in response.content.decode()


def test_profile_context_has_cliente_and_rfm_for_the_included_panels(staff_client, regular):
    response = staff_client.get(reverse("cliente_detalle", args=[regular.pk]))
    assert response.context["cliente"].pk == regular.pk
    assert response.context["rfm"].segment.key
    names = [template.name for template in response.templates]
    assert "crm/_propuesta.html" in names and "crm/_envio.html" in names


@pytest.mark.parametrize("customers", [1, 50])
def test_profile_query_count_does_not_grow_with_customers(staff_client, django_assert_max_num_queries, customers):
    top = many_customers(customers, services_each=12)[0]
    with django_assert_max_num_queries(12):
        assert staff_client.get(reverse("cliente_detalle", args=[top.pk])).status_code == 200
