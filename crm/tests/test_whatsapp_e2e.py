"""End to end at 375 px in headless chromium: open the tray, check the wa.me link, edit the message, record an
outcome."""

import re
from urllib.parse import unquote

import pytest
from django.utils import timezone

from aremko.pytest_plugin import STAFF_PASSWORD, make_role_user
from crm.models import PlantillaWhatsApp, TrayItem
from crm.roles import RECEPCION
from crm.services.whatsapp import build_tray
from crm.tests.test_e2e_browser import ARTIFACTS, browser_page  # noqa: F401 (the shared chromium fixture)
from crm.tests.whatsapp_builders import overdue_customer
from ventas.models import ConsentEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_operator_on_a_phone_opens_the_tray_checks_the_link_and_records_an_outcome(
    live_server,
    browser_page,  # noqa: F811
    settings,
):
    settings.WHATSAPP_HOLDOUT_SHARE = 0.0
    today = timezone.localdate()
    make_role_user("recepcion", RECEPCION)  # password: STAFF_PASSWORD
    # Transactional tests start from an empty database: the seeded templates may be gone.
    PlantillaWhatsApp.objects.create(
        nombre="Atrasado: prueba", tier="overdue", texto="Hola {nombre}, le esperamos en Aremko. Código {codigo}."
    )
    overdue_customer("Valentina Prueba", telefono="+56991234567", today=today)
    build_tray(today, size=50)
    item = TrayItem.objects.get()

    page = browser_page
    page.set_viewport_size({"width": 375, "height": 812})
    csp_errors = []
    page.on("console", lambda message: "Content Security Policy" in message.text and csp_errors.append(message.text))
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "recepcion")
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/ventas/crm/")
    page.goto(f"{live_server.url}/ventas/crm/bandeja/")

    row = page.locator(f"#item-{item.pk}")
    row.wait_for(state="visible")
    link = row.locator("a.wa-link")
    href = link.get_attribute("href")
    assert re.fullmatch(r"https://wa\.me/56991234567\?text=[^\s]+", href)
    assert unquote(href.split("?text=", 1)[1]) == item.message
    assert link.get_attribute("target") == "_blank"
    # Nothing wider than the phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert link.bounding_box()["width"] <= 375

    # Editing the message updates the link (static JS), before opening the chat.
    row.locator("textarea").fill("Hola Valentina, ¿le guardamos una tina? Responda NO si prefiere no recibir mensajes")
    edited = unquote(link.get_attribute("href").split("?text=", 1)[1])
    assert edited == "Hola Valentina, ¿le guardamos una tina? Responda NO si prefiere no recibir mensajes"
    assert row.locator("button.open-edited").is_hidden()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "bandeja-375.png"), full_page=True)

    row.get_by_role("button", name="No contactar (respondió NO)").click()
    page.wait_for_url(re.compile(r".*/ventas/crm/bandeja/\?fecha=.*"))
    assert "No contactar" in page.locator(f"#item-{item.pk} legend").inner_text()
    item.refresh_from_db()
    assert item.outcome == "no_contactar"
    assert item.message.startswith("Hola Valentina, ¿le guardamos una tina?")  # what was actually sent
    assert ConsentEvent.objects.filter(cliente=item.cliente, channel="whatsapp", granted=False).exists()
    assert csp_errors == []
