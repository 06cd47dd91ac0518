"""End to end in a real headless browser: log in, open a profile, generate a proposal, see it.

Debian's chromium driven by Playwright for Python (crm/tests/browser.py).
"""

import datetime

import pytest
from django.utils import timezone

from aremko.pytest_plugin import make_role_user
from crm.models import RecommenderModel
from crm.roles import RECEPCION
from crm.services.recommender.model import DEFAULT_BIAS, DEFAULT_WEIGHTS
from crm.tests.browser import ARTIFACTS, chromium
from crm.tests.proposal_fixtures import catalogue_fixture, cliente, community_fixture, visit  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_page(skip_or_fail):
    with chromium(skip_or_fail) as browser:
        yield browser.new_page(viewport={"width": 1280, "height": 1600})


def test_staff_generate_a_proposal_from_the_profile_and_see_it(live_server, browser_page, community, django_user_model):
    make_role_user("recepcion", RECEPCION)
    # A stored model with base rates, as the nightly training leaves it: each confidence is compared with them.
    RecommenderModel.objects.create(
        fitted_at=timezone.now(),
        kind="motor",
        weights=DEFAULT_WEIGHTS,
        bias=DEFAULT_BIAS,
        metrics={"base_rates": {str(service.pk): 0.1 for service in community.values()}},
    )
    customer = cliente("Catalina Petrohué")
    visit(customer, timezone.localdate() - datetime.timedelta(days=12), "Tina Calbuco", "Masaje Relajación")
    page = browser_page
    csp_errors = []
    page.on("console", lambda message: "Content Security Policy" in message.text and csp_errors.append(message.text))

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "recepcion")
    page.fill("#id_password", "clave-segura-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/ventas/crm/")
    page.goto(f"{live_server.url}/ventas/crm/cliente/{customer.pk}/")

    button = page.get_by_role("button", name="Generar Propuesta")
    button.focus()
    page.keyboard.press("Enter")  # keyboard-usable

    result = page.locator(".propuesta-resultado")
    result.wait_for(state="visible", timeout=15_000)
    recommendations = page.locator(".propuesta-recomendaciones li")
    assert 2 <= recommendations.count() <= 3
    # The chance of taking it on the next visit, in words (neutral, explained on hover), not an alarm bar.
    confidences = page.locator(".propuesta-recomendaciones .propuesta-confianza")
    assert confidences.count() == recommendations.count()
    assert "Probabilidad de tomarlo en la próxima visita: " in confidences.first.inner_text()
    assert "el promedio)" in confidences.first.inner_text()
    assert page.locator(".propuesta-recomendaciones .propuesta-nivel").count() == recommendations.count()
    assert "próxima visita" in confidences.first.get_attribute("title")
    assert page.locator(".propuesta-recomendaciones meter").count() == 0
    assert "cliente promedio" in page.locator(".propuesta-resultado .propuesta-leyenda").inner_text()
    assert "$" in page.locator(".propuesta-precio").first.inner_text()
    assert "ARK-" in page.locator(".propuesta-oferta").inner_text()
    assert button.is_enabled()
    # The send panel now offers exactly the proposal on screen.
    offer_code = page.locator(".propuesta-oferta").inner_text().split("ARK-")[1][:8]
    assert f"ARK-{offer_code}" in page.locator(".envio-descripcion").inner_text()
    frame = page.frame_locator("iframe.propuesta-email")
    frame.get_by_text("Hola Catalina").wait_for(timeout=10_000)
    assert csp_errors == []

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "propuesta.png"), full_page=True)

    page.get_by_role("link", name="Vista previa e historial de propuestas").first.click()
    page.frame_locator("iframe.propuesta-email").first.get_by_text("Hola Catalina").wait_for(timeout=10_000)
    assert "Hola Catalina" in page.locator(".propuesta-texto").inner_text()
    page.screenshot(path=str(ARTIFACTS / "propuesta-preview.png"), full_page=True)
    assert csp_errors == []
