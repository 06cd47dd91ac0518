"""The service history list of the admin fits a 1366 px laptop screen (headless chromium, as the CRM's e2e)."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from crm.tests.test_e2e_browser import ARTIFACTS, browser_page  # noqa: F401 (fixture)
from ventas.models import Cliente, ServiceHistory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_history_changelist_fits_1366_px(live_server, browser_page):  # noqa: F811
    get_user_model().objects.create_superuser("jefa", "jefa@example.org", "clave-segura-123")
    cliente = Cliente.objects.create(
        nombre="María Fernanda de los Ángeles Santibáñez Oyarzún", email="maria.fernanda.santibanez@example.org"
    )
    ServiceHistory.objects.bulk_create(
        ServiceHistory(
            cliente=cliente,
            service_date=datetime.date(2026, 11, 25) - datetime.timedelta(days=day),
            service_type="Tinas Calientes con Hidromasaje",
            service_name="Tina Calbuco con hidromasaje + Masaje de relajación 60 minutos (2 personas)",
            price_paid=Decimal(1_246_535),
            season="Primavera",
            year=2026,
        )
        for day in range(30)
    )
    page = browser_page
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "jefa")
    page.fill("#id_password", "clave-segura-123")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/ventas/servicehistory/")

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-historial-1366.png"))
    assert "$1.246.535" in page.locator("#result_list").inner_text()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls {overflow} px sideways at 1366 px"
    table = page.evaluate(
        "(() => { const t = document.querySelector('#result_list');"
        " const c = document.querySelector('#changelist .changelist-form-container') || t.parentElement;"
        " return [t.getBoundingClientRect().right, c.getBoundingClientRect().right]; })()"
    )
    assert table[0] <= table[1] + 1, f"the table ends at {table[0]} px, its container at {table[1]} px"
