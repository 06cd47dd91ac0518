import datetime
import json

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from aremko.pytest_plugin import make_role_user
from crm.models import Proposal
from crm.roles import RECEPCION
from crm.services.proposals import ProposalBackendError, ProposalTimeout
from crm.services.proposals.schema import UNSUBSCRIBE_MARKER
from crm.tests.proposal_fixtures import catalogue_fixture, cliente, community_fixture, visit  # noqa: F401
from ventas.models import Servicio

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def customer(community):
    person = cliente("Antonia Llanquihue")
    visit(person, timezone.localdate() - datetime.timedelta(days=15), "Tina Calbuco", "Masaje Relajación")
    return person


def generate_url(customer_id):
    return reverse("generar_propuesta", args=[customer_id])


def test_generating_returns_the_whole_proposal_as_json(staff_client, customer):
    response = staff_client.post(generate_url(customer.pk), **JSON)

    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True
    assert {
        "proposal_id",
        "customer_profile",
        "insights",
        "recommendations",
        "offer",
        "email_subject",
        "email_body",
        "backend",
    } <= set(data)
    assert data["backend"] == "local"
    assert Proposal.objects.get(pk=data["proposal_id"]).cliente == customer
    assert 2 <= len(data["recommendations"]) <= 3
    first = data["recommendations"][0]
    assert {"service_id", "service_name", "category", "reason", "confidence", "estimated_price"} <= set(first)
    assert first["price_display"].startswith("$")
    assert data["offer"]["code"].startswith("ARK-")
    assert data["email_url"] == reverse("propuesta_email", args=[data["proposal_id"]])


def test_an_unknown_customer_is_404_in_json(staff_client, community):
    response = staff_client.post(generate_url(999_999), **JSON)

    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "El cliente no existe."}


def test_only_post_is_allowed(staff_client, customer):
    assert staff_client.get(generate_url(customer.pk)).status_code == 405


def test_csrf_token_is_required(staff_user, customer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)

    refused = client.post(generate_url(customer.pk), **JSON)

    assert refused.status_code == 403
    assert not Proposal.objects.exists()
    client.get(reverse("propuesta_preview", args=[customer.pk]))  # sets the CSRF cookie, like the browser
    token = client.cookies["csrftoken"].value
    accepted = client.post(generate_url(customer.pk), HTTP_X_CSRFTOKEN=token, **JSON)
    assert accepted.status_code == 200


def test_anonymous_users_get_401_in_json(client, customer):
    response = client.post(generate_url(customer.pk), **JSON)

    assert response.status_code == 401
    assert response.json()["ok"] is False


def test_non_staff_users_get_403_in_json(client, customer, django_user_model):
    client.force_login(django_user_model.objects.create_user("recepcion", password="clave-segura-123"))

    response = client.post(generate_url(customer.pk), **JSON)

    assert response.status_code == 403
    assert "permiso" in response.json()["error"]
    assert not Proposal.objects.exists()


def test_the_rate_limit_answers_429_after_the_configured_number(staff_client, customer, settings):
    settings.PROPOSAL_RATE_LIMIT_PER_MINUTE = 2

    statuses = [staff_client.post(generate_url(customer.pk), **JSON).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    last = staff_client.post(generate_url(customer.pk), **JSON)
    assert "espera" in last.json()["error"]
    assert int(last["Retry-After"]) <= 60
    assert Proposal.objects.count() == 2


def test_the_rate_limit_is_per_user(staff_client, customer, settings, django_user_model):
    settings.PROPOSAL_RATE_LIMIT_PER_MINUTE = 1
    staff_client.post(generate_url(customer.pk), **JSON)
    other = Client()
    other.force_login(make_role_user("otra", RECEPCION))

    assert other.post(generate_url(customer.pk), **JSON).status_code == 200


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ProposalBackendError("El motor de propuestas respondió con datos inválidos."), 502),
        (ProposalTimeout("Claude no respondió a tiempo."), 504),
    ],
)
def test_upstream_failures_map_to_502_and_504(staff_client, customer, monkeypatch, error, status):
    def failing(**kwargs):
        raise error

    monkeypatch.setattr("crm.views.proposals.generate_proposal", failing)

    response = staff_client.post(generate_url(customer.pk), **JSON)

    assert response.status_code == status
    assert response.json() == {"ok": False, "error": error.message}


def test_a_missing_ai_key_is_a_clear_error_not_a_500(staff_client, customer, settings):
    settings.PROPOSAL_BACKEND = "anthropic"
    settings.ANTHROPIC_API_KEY = ""

    response = staff_client.post(generate_url(customer.pk), **JSON)

    assert response.status_code == 503
    assert "ANTHROPIC_API_KEY" in response.json()["error"]


def test_without_javascript_the_form_redirects_to_the_preview(staff_client, customer):
    response = staff_client.post(generate_url(customer.pk), HTTP_ACCEPT="text/html,application/xhtml+xml")

    assert response.status_code == 302
    assert response["Location"] == reverse("propuesta_preview", args=[customer.pk])
    assert Proposal.objects.count() == 1


def test_the_preview_shows_the_latest_email_sandboxed_with_text_and_history(
    staff_client, customer, django_assert_max_num_queries
):
    older = json.loads(staff_client.post(generate_url(customer.pk), **JSON).content)["proposal_id"]
    latest = json.loads(staff_client.post(generate_url(customer.pk), **JSON).content)["proposal_id"]

    with django_assert_max_num_queries(8):
        response = staff_client.get(reverse("propuesta_preview", args=[customer.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert f'src="{reverse("propuesta_email", args=[latest])}"' in html
    assert 'sandbox=""' in html
    assert "Hola Antonia" in html  # the text version
    assert UNSUBSCRIBE_MARKER not in html
    assert f"?propuesta={older}" in html
    assert Proposal.objects.get(pk=older).offer_code in html


def test_the_preview_of_a_customer_without_proposals_invites_to_generate(staff_client, customer):
    response = staff_client.get(reverse("propuesta_preview", args=[customer.pk]))

    assert response.status_code == 200
    assert "Aún no hay propuestas" in response.content.decode()


def test_the_preview_of_an_unknown_customer_is_404(staff_client, community):
    assert staff_client.get(reverse("propuesta_preview", args=[999_999])).status_code == 404


def test_the_email_frame_is_served_with_a_locked_down_policy(staff_client, customer):
    proposal_id = staff_client.post(generate_url(customer.pk), **JSON).json()["proposal_id"]

    response = staff_client.get(reverse("propuesta_email", args=[proposal_id]))

    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "sandbox" in policy
    assert "script-src" not in policy
    assert response["X-Frame-Options"] == "SAMEORIGIN"  # framed by the preview page, never by other sites
    body = response.content.decode()
    assert UNSUBSCRIBE_MARKER not in body
    assert 'href="#"' in body


def test_the_preview_pages_are_staff_only(client, customer, django_user_model):
    client.force_login(django_user_model.objects.create_user("recepcion", password="clave-segura-123"))

    assert client.get(reverse("propuesta_preview", args=[customer.pk])).status_code == 403


def test_the_profile_page_shows_the_generate_button(staff_client, customer):
    html = staff_client.get(reverse("cliente_detalle", args=[customer.pk])).content.decode()

    assert "Generar Propuesta" in html
    assert reverse("generar_propuesta", args=[customer.pk]) in html
    assert "crm/propuesta.js" in html
    assert "<script>" not in html


def test_the_admin_lists_proposals_with_read_only_provenance(admin_client, staff_client, customer):
    proposal_id = staff_client.post(generate_url(customer.pk), **JSON).json()["proposal_id"]

    listing = admin_client.get(reverse("admin:crm_proposal_changelist"), {"segmento": "promising", "backend": "local"})
    detail = admin_client.get(reverse("admin:crm_proposal_change", args=[proposal_id]))

    assert listing.status_code == 200
    assert Proposal.objects.get(pk=proposal_id).offer_code in listing.content.decode()
    assert detail.status_code == 200
    assert "Procedencia" in detail.content.decode()
    assert 'name="offer_code"' not in detail.content.decode()  # read-only, not an input


EMPTY_CATALOGUE = "El catálogo no tiene servicios activos: importa el historial o agrega servicios en Administración"


def test_without_active_services_generating_answers_409_and_stores_nothing(staff_client, customer):
    Servicio.objects.update(activo=False)

    response = staff_client.post(generate_url(customer.pk), **JSON)

    assert response.status_code == 409
    assert response.json() == {"ok": False, "error": EMPTY_CATALOGUE}
    assert not Proposal.objects.exists()


def test_without_active_services_the_form_post_shows_the_message(staff_client, customer):
    Servicio.objects.all().delete()

    response = staff_client.post(generate_url(customer.pk), HTTP_ACCEPT="text/html", follow=True)

    assert EMPTY_CATALOGUE in response.content.decode()
    assert not Proposal.objects.exists()
