"""The results page's heading keeps its number on errors, and an impossible date says it does not exist."""

import pytest
from django.urls import reverse


@pytest.mark.parametrize("params", [{"desde": "31-02-2026"}, {"desde": "mañana"}, {"estado": "inventado"}])
def test_the_heading_keeps_the_conversion_window_on_a_bad_filter(staff_client, db, settings, params):
    settings.PROPOSAL_CONVERSION_DAYS = 45

    response = staff_client.get(reverse("crm_propuestas"), params)

    assert response.status_code == 400
    assert "dentro de 45 días después del email" in response.content.decode()


@pytest.mark.parametrize("value", ["31-02-2026", "29-02-2025", "2026-13-01", "32/01/2026"])
def test_a_date_that_is_not_on_the_calendar_says_it_does_not_exist(staff_client, db, value):
    response = staff_client.get(reverse("crm_propuestas"), {"hasta": value})

    body = response.content.decode()
    assert response.status_code == 400
    assert f"La fecha {value} no existe." in body
    assert "Escribe la fecha como" not in body


def test_a_date_in_another_shape_still_shows_the_format(staff_client, db):
    response = staff_client.get(reverse("crm_propuestas"), {"desde": "febrero"})

    assert response.status_code == 400
    assert "Escribe la fecha como 26-10-2025." in response.content.decode()


def test_a_real_date_is_accepted(staff_client, db):
    assert staff_client.get(reverse("crm_propuestas"), {"desde": "28-02-2026"}).status_code == 200
