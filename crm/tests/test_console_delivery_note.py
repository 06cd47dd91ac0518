"""With the console email backend (development, `manage.py demo`) the send confirmations say the email stays there."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from crm.models import Campaign, CampaignRecipient
from crm.services import campaigns, mail
from crm.tests.builders import make_cliente, make_service
from crm.tests.mailtools import make_proposal
from crm.tests.test_campaigns import at_risk_customers

CONSOLE = "django.core.mail.backends.console.EmailBackend"
NOTE = "Modo demo: el email se muestra en la consola del servidor, no se envía."


@pytest.fixture
def console_email(settings):
    settings.EMAIL_BACKEND = CONSOLE
    settings.EMAIL_MAX_PER_MINUTE = 0


@pytest.fixture
def cliente(db):
    make_service()
    return make_cliente("Ignacio Muñoz", email="ignacio@example.org")


def test_the_note_is_empty_when_emails_really_leave(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"

    assert mail.delivery_note() == ""
    assert not mail.emails_stay_on_console()


def test_the_profile_send_panel_warns_before_sending(staff_client, console_email, cliente):
    make_proposal(cliente)

    response = staff_client.get(reverse("cliente_detalle", args=[cliente.pk]))

    assert NOTE in response.content.decode()


def test_the_profile_send_panel_has_no_note_with_smtp(staff_client, smtp_server, cliente):
    make_proposal(cliente)

    response = staff_client.get(reverse("cliente_detalle", args=[cliente.pk]))

    assert NOTE not in response.content.decode()


def test_the_json_send_answer_carries_the_note(staff_client, console_email, cliente, capsys):
    proposal = make_proposal(cliente)

    response = staff_client.post(
        reverse("crm_enviar_propuesta", args=[cliente.pk]), {"proposal_id": proposal.pk}, HTTP_ACCEPT="application/json"
    )

    assert response.json()["note"] == NOTE
    assert "ignacio@example.org" in capsys.readouterr().out  # printed, as the note says


def test_the_send_message_without_javascript_carries_the_note(staff_client, console_email, cliente):
    proposal = make_proposal(cliente)

    response = staff_client.post(reverse("crm_enviar_propuesta", args=[cliente.pk]), {"proposal_id": proposal.pk})

    [message] = get_messages(response.wsgi_request)
    assert str(message) == f"Propuesta enviada a ignacio@example.org. {NOTE}"


def test_the_campaign_send_confirmation_carries_the_note(staff_client, console_email, db):
    at_risk_customers(2)

    response = staff_client.post(reverse("crm_campana_iniciar"), {"segmento": "at_risk", "modo": "send"})

    body = response.content.decode()
    assert "Se enviará un email a 2 clientes" in body
    assert NOTE in body


def test_the_campaign_approval_confirmation_carries_the_note(staff_client, console_email, db):
    at_risk_customers(2)
    campaign = campaigns.start_campaign(options=campaigns.CampaignOptions(segment="at_risk"), enqueue=False)
    campaign.recipients.update(status=CampaignRecipient.Status.GENERATED)
    campaign.status = Campaign.Status.REVIEW
    campaign.save(update_fields=["status"])

    response = staff_client.post(reverse("crm_campana_aprobar", args=[campaign.pk]))

    body = response.content.decode()
    assert "Se enviará un email a 2 clientes" in body
    assert NOTE in body
