"""The plain-text previews show the customer's real unsubscribe link, as in the email that is sent."""

from django.urls import reverse

from crm.models import Campaign, CampaignRecipient
from crm.services import mail
from crm.services.proposals.schema import UNSUBSCRIBE_MARKER
from crm.tests.builders import make_cliente
from crm.tests.mailtools import make_proposal


def test_profile_preview_text_has_the_real_unsubscribe_link(staff_client, db, settings):
    settings.SITE_URL = "https://crm.example.org"
    cliente = make_cliente("Cliente Vista", email="vista@example.org")
    make_proposal(cliente)

    body = staff_client.get(reverse("propuesta_preview", args=[cliente.pk])).content.decode()

    assert mail.unsubscribe_url(cliente.pk) in body
    assert UNSUBSCRIBE_MARKER not in body
    assert "Darme de baja: #" not in body


def test_campaign_review_text_has_the_real_unsubscribe_link(staff_client, db):
    cliente = make_cliente("Cliente Campaña", email="campana@example.org")
    campaign = Campaign.objects.create(segment="at_risk", status=Campaign.Status.REVIEW)
    recipient = CampaignRecipient.objects.create(
        campaign=campaign, cliente=cliente, proposal=make_proposal(cliente), status=CampaignRecipient.Status.GENERATED
    )

    body = staff_client.get(reverse("crm_campana_destinatario", args=[campaign.pk, recipient.pk])).content.decode()

    assert f"Darme de baja: {mail.unsubscribe_url(cliente.pk)}" in body
    assert UNSUBSCRIBE_MARKER not in body


def test_preview_text_matches_the_sent_text(db):
    cliente = make_cliente("Cliente Igual", email="igual@example.org")
    proposal = make_proposal(cliente)

    sent = mail.default_mailer().build(proposal=proposal, cliente=cliente)

    assert mail.preview_text(proposal) == sent.body


def test_the_fallback_unsubscribe_footer_is_in_usted(db):
    cliente = make_cliente("Cliente Pie", email="pie@example.org")
    proposal = make_proposal(cliente, email_text="Hola.", email_body="<p>Hola.</p>")

    sent = mail.default_mailer().build(proposal=proposal, cliente=cliente)

    assert "Si no desea recibir más propuestas" in sent.body
    assert "puede darse de baja aquí" in sent.alternatives[0][0]
