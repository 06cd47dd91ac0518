"""POST /ventas/crm/cliente/<id>/enviar/ and the "Enviar por email" area of the customer profile."""

import datetime

import pytest
from django.core.cache import cache
from django.db import connection
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from crm.models import Proposal
from crm.services import mail
from crm.tests.builders import make_cliente, make_service
from crm.tests.mailtools import make_proposal

JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """The per-user generation limit lives in the (process-wide) cache; every test starts with a clean slate."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def cliente(db):
    make_service()  # a proposal needs an active service to recommend
    return make_cliente("Ignacio Muñoz", email="ignacio@example.org")


def enviar(client, cliente, **data):
    return client.post(reverse("crm_enviar_propuesta", args=[cliente.pk]), data, **JSON)


def test_send_answers_json_with_proposal_recipient_and_time(staff_client, smtp_server, cliente):
    proposal = make_proposal(cliente)

    response = enviar(staff_client, cliente, proposal_id=proposal.pk)

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["proposal_id"] == proposal.pk
    assert body["sent_to"] == "ignacio@example.org"
    assert datetime.datetime.fromisoformat(body["sent_at"]) <= timezone.now()
    assert smtp_server.envelopes[0].rcpt_tos == ["ignacio@example.org"]


def test_send_without_proposal_id_sends_the_latest_unsent_proposal(staff_client, smtp_server, cliente):
    make_proposal(cliente, email_subject="Antigua")
    latest = make_proposal(cliente, email_subject="Nueva")

    response = enviar(staff_client, cliente)

    assert response.json()["proposal_id"] == latest.pk
    assert smtp_server.messages[0]["Subject"] == "Nueva"


def test_send_generates_a_proposal_first_when_there_is_none(staff_client, smtp_server, cliente):
    response = enviar(staff_client, cliente)

    assert response.status_code == 200
    proposal = Proposal.objects.get(cliente=cliente)
    assert proposal.status == Proposal.Status.SENT
    [message] = smtp_server.messages
    assert message["Subject"] == proposal.email_subject
    assert mail.unsubscribe_url(cliente.pk) in message.get_body(preferencelist=("plain",)).get_content()


def test_double_click_sends_one_email(staff_client, smtp_server, cliente):
    proposal = make_proposal(cliente)

    first = enviar(staff_client, cliente, proposal_id=proposal.pk)
    second = enviar(staff_client, cliente, proposal_id=proposal.pk)

    assert first.status_code == 200
    assert second.status_code == 409
    assert "ya fue enviada" in second.json()["error"]
    assert len(smtp_server.envelopes) == 1


def test_double_click_without_a_proposal_generates_and_sends_once(staff_client, smtp_server, cliente):
    first = enviar(staff_client, cliente, confirmar="1")
    second = enviar(staff_client, cliente, confirmar="1")

    assert first.status_code == 200
    assert second.status_code == 409
    assert len(smtp_server.envelopes) == 1
    assert Proposal.objects.filter(cliente=cliente).count() == 1


def test_opted_out_customer_gets_409_with_reason(staff_client, smtp_server, cliente):
    cliente.unsubscribe()

    response = enviar(staff_client, cliente)

    assert response.status_code == 409
    assert response.json()["reason"] == "opted_out"
    assert "se dio de baja" in response.json()["error"]
    assert smtp_server.envelopes == []
    assert not Proposal.objects.filter(cliente=cliente).exists()


def test_customer_without_email_gets_409_with_reason(staff_client, smtp_server, db):
    cliente = make_cliente("Sin Email", email="")

    response = enviar(staff_client, cliente)

    assert response.status_code == 409
    assert response.json()["reason"] == "no_email"
    assert "email válido" in response.json()["error"]


def test_inside_the_frequency_window_asks_for_confirmation_then_sends(staff_client, smtp_server, cliente):
    make_proposal(cliente, status=Proposal.Status.SENT, sent_at=timezone.now() - datetime.timedelta(days=3))
    proposal = make_proposal(cliente)

    refused = enviar(staff_client, cliente, proposal_id=proposal.pk)
    confirmed = enviar(staff_client, cliente, proposal_id=proposal.pk, confirmar="1")

    assert refused.status_code == 409
    assert refused.json()["needs_confirmation"] is True
    assert "hace menos de 14 días" in refused.json()["error"]
    assert confirmed.status_code == 200
    assert len(smtp_server.envelopes) == 1


def test_smtp_failure_answers_502_and_leaves_the_proposal_failed(staff_client, smtp_down, cliente):
    proposal = make_proposal(cliente)

    response = enviar(staff_client, cliente, proposal_id=proposal.pk)

    assert response.status_code == 502
    assert "servidor de correo" in response.json()["error"]
    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.FAILED
    assert proposal.error


def test_proposal_of_another_customer_is_refused(staff_client, smtp_server, cliente):
    other = make_proposal(make_cliente("Otra Persona", email="otra@example.org"))

    response = enviar(staff_client, cliente, proposal_id=other.pk)

    assert response.status_code == 409
    assert smtp_server.envelopes == []


def test_malformed_proposal_id_is_a_400(staff_client, cliente):
    assert enviar(staff_client, cliente, proposal_id="abc").status_code == 400


def test_unknown_customer_is_a_404(staff_client, db):
    response = staff_client.post(reverse("crm_enviar_propuesta", args=[999999]), **JSON)

    assert response.status_code == 404


def test_send_needs_post_and_staff(client, staff_client, cliente, django_user_model):
    url = reverse("crm_enviar_propuesta", args=[cliente.pk])
    assert staff_client.get(url).status_code == 405
    assert client.post(url).status_code == 302  # to the login page
    django_user_model.objects.create_user(username="cliente", password="x-clave-larga-123")
    client.login(username="cliente", password="x-clave-larga-123")
    assert client.post(url).status_code == 403


def test_without_javascript_the_answer_is_a_message_and_a_redirect_back(staff_client, smtp_server, cliente):
    proposal = make_proposal(cliente)
    back = reverse("cliente_detalle", args=[cliente.pk])

    response = staff_client.post(
        reverse("crm_enviar_propuesta", args=[cliente.pk]), {"proposal_id": proposal.pk, "next": back}
    )

    assert response.status_code == 302
    assert response["Location"] == back


def test_without_javascript_an_external_next_is_ignored(staff_client, smtp_server, cliente):
    response = staff_client.post(
        reverse("crm_enviar_propuesta", args=[cliente.pk]), {"next": "https://evil.example.com/"}
    )

    assert response.status_code == 302
    assert "evil" not in response["Location"]


def render_panel(cliente):
    request = RequestFactory().get(f"/ventas/crm/cliente/{cliente.pk}/")
    return render_to_string("crm/_envio.html", {"cliente": cliente, "rfm": None}, request=request)


def test_panel_explains_why_sending_is_disabled_for_an_opted_out_customer(cliente):
    cliente.unsubscribe()

    html = render_panel(cliente)

    assert "disabled" in html
    assert "se dio de baja" in html


def test_panel_explains_why_sending_is_disabled_without_email(db):
    html = render_panel(make_cliente("Sin Email", email=""))

    assert "disabled" in html
    assert "no tiene un email válido" in html


def test_panel_shows_the_pending_proposal_and_the_last_failure(cliente):
    make_proposal(
        cliente,
        offer_code="AREMKO-FALLA",
        status=Proposal.Status.FAILED,
        failed_at=timezone.now(),
        error="No se pudo conectar con el servidor de correo.",
    )

    html = render_panel(cliente)

    assert "AREMKO-FALLA" in html
    assert "El último envío falló" in html
    assert "Reintentar envío" in html
    assert "disabled" not in html


def test_panel_asks_for_confirmation_inside_the_frequency_window(cliente):
    make_proposal(cliente, status=Proposal.Status.SENT, sent_at=timezone.now(), sent_to="ignacio@example.org")

    html = render_panel(cliente)

    assert "hace menos de 14 días" in html
    assert 'name="confirmar"' in html


def test_panel_costs_one_query(cliente, django_assert_num_queries):
    make_proposal(cliente)
    with django_assert_num_queries(1):
        render_panel(cliente)


def test_profile_page_shows_the_send_area(staff_client, cliente):
    cliente.unsubscribe()

    body = staff_client.get(reverse("cliente_detalle", args=[cliente.pk])).content.decode()

    assert "Enviar por email" in body
    assert "No se puede enviar" in body


def test_sending_without_a_proposal_respects_the_generation_rate_limit(staff_client, smtp_server, db, settings):
    settings.PROPOSAL_RATE_LIMIT_PER_MINUTE = 1
    make_service()
    first, second = (
        make_cliente("Uno Limite", email="uno@example.org"),
        make_cliente("Dos Limite", email="dos@example.org"),
    )

    assert enviar(staff_client, first).status_code == 200
    response = enviar(staff_client, second)

    assert response.status_code == 429
    assert "Demasiadas propuestas" in response.json()["error"]


def stuck_in_sending(cliente, settings, **fields):
    """A proposal whose send started longer than SEND_LEASE_SECONDS ago and never finished (process died)."""
    long_ago = timezone.now() - datetime.timedelta(seconds=settings.SEND_LEASE_SECONDS + 1)
    return make_proposal(cliente, status=Proposal.Status.SENDING, sending_since=long_ago, **fields)


def test_a_send_stuck_in_sending_asks_for_confirmation_then_goes_out(staff_client, smtp_server, cliente, settings):
    proposal = stuck_in_sending(cliente, settings)

    refused = enviar(staff_client, cliente)
    confirmed = enviar(staff_client, cliente, proposal_id=proposal.pk, confirmar="1")

    assert refused.status_code == 409
    assert refused.json()["reason"] == "interrupted"
    assert refused.json()["needs_confirmation"] is True
    assert "se interrumpió" in refused.json()["error"]
    assert confirmed.status_code == 200
    assert confirmed.json()["proposal_id"] == proposal.pk
    assert len(smtp_server.envelopes) == 1


def test_a_send_in_progress_is_refused_while_its_lease_runs(staff_client, smtp_server, cliente):
    proposal = make_proposal(cliente, status=Proposal.Status.SENDING, sending_since=timezone.now())

    response = enviar(staff_client, cliente, proposal_id=proposal.pk, confirmar="1")

    assert response.status_code == 409
    assert "enviando en este momento" in response.json()["error"]
    assert smtp_server.envelopes == []


def test_panel_offers_a_confirmed_resend_of_an_interrupted_send(cliente, settings):
    stuck_in_sending(cliente, settings, offer_code="AREMKO-CORTADA")

    html = render_panel(cliente)

    assert "se interrumpió" in html
    assert 'name="confirmar"' in html
    assert "AREMKO-CORTADA" in html
    assert "disabled" not in html


@pytest.mark.django_db(transaction=True)
def test_send_by_email_calls_the_backend_and_the_smtp_server_outside_any_transaction(smtp_server):
    cliente = make_cliente("Sin Transaccion", email="sin.tx@example.org")
    seen = []

    def slow_backend(*, cliente, **kwargs):
        seen.append(("generate", connection.in_atomic_block))
        return make_proposal(cliente)

    class WatchingMailer(mail.Mailer):
        def send(self, message):
            seen.append(("send", connection.in_atomic_block))
            super().send(message)

    proposal = mail.send_to_customer(
        cliente_id=cliente.pk, generate=slow_backend, mailer=WatchingMailer(from_email="reservas@example.com")
    )

    assert seen == [("generate", False), ("send", False)]
    assert proposal.status == Proposal.Status.SENT
    assert len(smtp_server.envelopes) == 1
