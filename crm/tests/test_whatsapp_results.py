"""What the tray achieved: contacted vs control with the uplift interval, reply rates, template counts."""

import datetime

import pytest
from django.urls import reverse

from crm.models import TrayItem
from crm.services.whatsapp import build_tray, record_outcome
from crm.services.whatsapp.results import template_counts, whatsapp_results
from crm.tests.builders import add_history
from crm.tests.whatsapp_builders import TODAY, overdue_customers

pytestmark = pytest.mark.django_db


@pytest.fixture
def worked_tray(settings, staff_user):
    """20 customers; holdout share 0.5; every shown one sent, the first two answered and booked 10 days later,
    one control customer booked too, and one customer came back 40 days later (outside the window)."""
    settings.WHATSAPP_HOLDOUT_SHARE = 0.5
    settings.PROPOSAL_CONVERSION_DAYS = 30
    overdue_customers(20)
    build_tray(TODAY, size=50)
    shown = list(TrayItem.objects.filter(holdout=False).order_by("rank"))
    held = list(TrayItem.objects.filter(holdout=True).order_by("rank"))
    for index, item in enumerate(shown):
        record_outcome(item_id=item.pk, outcome="enviado", user=staff_user)
        if index < 2:
            record_outcome(item_id=item.pk, outcome="reservó", user=staff_user)
            add_history(item.cliente, service_date=TODAY + datetime.timedelta(days=10), price=50_000)
    add_history(held[0].cliente, service_date=TODAY + datetime.timedelta(days=3), price=20_000)
    add_history(held[1].cliente, service_date=TODAY + datetime.timedelta(days=40), price=90_000)
    return shown, held


def test_contacted_and_control_groups_with_conversion_and_revenue(worked_tray):
    shown, held = worked_tray
    results = whatsapp_results()
    assert results.contacted.customers == len(shown)
    assert results.contacted.converted == 2
    assert results.contacted.revenue == 100_000
    assert results.holdout.customers == len(held)
    assert results.holdout.converted == 1
    assert results.holdout.revenue == 20_000
    assert results.conversion.low < results.conversion.difference < results.conversion.high
    assert results.conversion.difference == pytest.approx(2 / len(shown) - 1 / len(held))
    assert results.revenue.difference == pytest.approx(100_000 / len(shown) - 20_000 / len(held))


def test_reply_rate_per_template_and_operator(worked_tray, staff_user):
    shown, _ = worked_tray
    results = whatsapp_results()
    assert sum(row["contacted"] for row in results.by_template) == len(shown)
    assert sum(row["replied"] for row in results.by_template) == 2
    assert sum(row["booked"] for row in results.by_template) == 2
    (operator,) = results.by_operator
    assert operator["operator__username"] == staff_user.username
    assert operator["reply_rate"] == pytest.approx(2 / len(shown))


def test_template_counts_for_the_admin(worked_tray):
    shown, _ = worked_tray
    rows = list(template_counts().filter(sent__gt=0))
    assert sum(row.sent for row in rows) == len(shown)
    assert sum(row.replied for row in rows) == 2
    assert sum(row.booked for row in rows) == 2


def test_results_page_has_the_whatsapp_section(staff_client, worked_tray, django_assert_max_num_queries):
    with django_assert_max_num_queries(14):
        response = staff_client.get(reverse("crm_propuestas"))
    body = response.content.decode()
    assert "WhatsApp: bandeja diaria" in body
    assert "Control (sin contacto)" in body
    assert "intervalo del 95" in body


def test_admin_lists_templates_with_their_counts(admin_client, worked_tray):
    response = admin_client.get("/admin/crm/plantillawhatsapp/")
    assert response.status_code == 200
    assert "reservaron" in response.content.decode().lower()


def test_admin_refuses_a_template_with_an_unknown_variable(admin_client):
    response = admin_client.post(
        "/admin/crm/plantillawhatsapp/add/",
        {"nombre": "Mala", "tier": "overdue", "segment": "", "texto": "Hola {apellido}", "activa": "on"},
    )
    assert response.status_code == 200
    assert "variable desconocida" in response.content.decode()
