"""A campaign that emails customers asks staff to confirm the number of recipients first."""

import pytest
from django.urls import reverse

from crm.models import Campaign, CampaignRecipient
from crm.services import campaigns
from crm.tests.test_campaigns import at_risk_customers

R = CampaignRecipient.Status


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.EMAIL_MAX_PER_MINUTE = 0
    settings.CAMPAIGN_APPROVAL_THRESHOLD = 100


def test_count_line_names_the_segment_size_and_the_limit(staff_client, db):
    at_risk_customers(7)

    response = staff_client.get(reverse("crm_campanas"), {"segmento": "at_risk", "limite": "5", "modo": "generate"})

    body = response.content.decode()
    assert "<strong>7</strong> clientes en el segmento; se contactará a <strong>5</strong> (límite)." in body
    assert "Generar propuestas para revisar (5 clientes)" in body


def test_send_mode_preview_button_asks_for_confirmation_not_to_start(staff_client, db):
    at_risk_customers(6, opted_out=1)

    response = staff_client.get(reverse("crm_campanas"), {"segmento": "at_risk", "modo": "send"})

    body = response.content.decode()
    assert "Continuar: confirmar el envío a 5 clientes" in body
    assert "Generar propuestas para revisar" not in body


def test_send_mode_start_without_confirmation_shows_the_number_and_sends_nothing(
    staff_client, smtp_server, db, django_capture_on_commit_callbacks
):
    at_risk_customers(4, opted_out=1)

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("crm_campana_iniciar"), {"segmento": "at_risk", "modo": "send"})

    body = response.content.decode()
    assert response.status_code == 200
    assert "Se enviará un email a 3 clientes" in body
    assert "Sí, enviar email a 3 clientes" in body
    assert 'name="confirmar" value="3"' in body
    assert not Campaign.objects.exists()
    assert smtp_server.envelopes == []


def test_send_mode_start_with_the_confirmed_number_sends(
    staff_client, smtp_server, db, django_capture_on_commit_callbacks
):
    at_risk_customers(4, opted_out=1)

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("crm_campana_iniciar"), {"segmento": "at_risk", "modo": "send", "confirmar": "3"}
        )

    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert campaign.mode == Campaign.Mode.SEND
    assert len(smtp_server.envelopes) == 3


def test_send_mode_start_with_a_stale_number_asks_again(staff_client, smtp_server, db):
    at_risk_customers(4)

    response = staff_client.post(
        reverse("crm_campana_iniciar"), {"segmento": "at_risk", "modo": "send", "confirmar": "2"}
    )

    body = response.content.decode()
    assert response.status_code == 409
    assert "El número de clientes cambió" in body
    assert "Sí, enviar email a 4 clientes" in body
    assert not Campaign.objects.exists()


def test_a_big_send_campaign_confirmation_says_it_will_wait_for_review(staff_client, settings, db):
    settings.CAMPAIGN_APPROVAL_THRESHOLD = 2
    at_risk_customers(3)

    response = staff_client.post(reverse("crm_campana_iniciar"), {"segmento": "at_risk", "modo": "send"})

    body = response.content.decode()
    assert "quedará en revisión" in body
    assert "Generar y dejar en revisión (3 clientes)" in body


def test_approve_asks_for_confirmation_naming_the_number_then_sends(
    staff_client, smtp_server, db, django_capture_on_commit_callbacks
):
    at_risk_customers(3)
    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaigns.start_campaign(options=campaigns.CampaignOptions(segment="at_risk"))
    url = reverse("crm_campana_aprobar", args=[campaign.pk])

    detail = staff_client.get(reverse("crm_campana", args=[campaign.pk]))
    asked = staff_client.post(url)
    with django_capture_on_commit_callbacks(execute=True):
        approved = staff_client.post(url, {"confirmar": "3"})

    assert "Aprobar envío (3 clientes)…" in detail.content.decode()
    assert asked.status_code == 200
    assert "Se enviará un email a 3 clientes" in asked.content.decode()
    assert "Sí, enviar email a 3 clientes" in asked.content.decode()
    assert approved.status_code == 302
    assert len(smtp_server.envelopes) == 3
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DONE


def test_approve_with_a_number_that_changed_asks_again(staff_client, smtp_server, db):
    at_risk_customers(3)
    campaign = campaigns.start_campaign(options=campaigns.CampaignOptions(segment="at_risk"), enqueue=False)
    campaign.recipients.update(status=R.GENERATED)
    campaign.status = Campaign.Status.REVIEW
    campaign.save(update_fields=["status"])
    first = campaign.recipients.order_by("id").first()
    CampaignRecipient.objects.filter(pk=first.pk).update(status=R.DROPPED)  # dropped after the confirmation page

    response = staff_client.post(reverse("crm_campana_aprobar", args=[campaign.pk]), {"confirmar": "3"})

    assert response.status_code == 409
    assert "Sí, enviar email a 2 clientes" in response.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.REVIEW
    assert smtp_server.envelopes == []


def test_approve_send_service_refuses_a_stale_expected_count(db):
    at_risk_customers(2)
    campaign = campaigns.start_campaign(options=campaigns.CampaignOptions(segment="at_risk"), enqueue=False)
    campaign.recipients.update(status=R.GENERATED)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.REVIEW)

    with pytest.raises(campaigns.CampaignError, match="cambió"):
        campaigns.approve_send(campaign_id=campaign.pk, expected=5)


def test_send_confirmation_leaves_out_the_control_group_and_names_exactly_who_gets_an_email(
    staff_client, settings, smtp_server, db, django_capture_on_commit_callbacks
):
    settings.CAMPAIGN_HOLDOUT_SHARE = 0.10
    at_risk_customers(22, opted_out=2)  # 20 can receive an email: 2 of them are the control group

    preview = staff_client.get(reverse("crm_campanas"), {"segmento": "at_risk", "modo": "send"}).content.decode()
    asked = staff_client.post(reverse("crm_campana_iniciar"), {"segmento": "at_risk", "modo": "send"})
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(reverse("crm_campana_iniciar"), {"segmento": "at_risk", "modo": "send", "confirmar": "18"})

    assert "Continuar: confirmar el envío a 18 clientes" in preview
    assert "2 en el grupo de control" in preview
    assert "Se enviará un email a 18 clientes" in asked.content.decode()
    assert "2 quedan en el grupo de control" in asked.content.decode()
    assert len(smtp_server.envelopes) == 18
    rows = CampaignRecipient.objects.filter(campaign=Campaign.objects.get())
    assert rows.filter(status=R.CONTROL).count() == 2
    assert rows.filter(status=R.SKIPPED).count() == 2


def test_going_back_from_the_send_confirmation_keeps_the_chosen_options(staff_client, db):
    at_risk_customers(4)

    response = staff_client.post(reverse("crm_campana_iniciar"), {"segmento": "at_risk", "limite": "3", "modo": "send"})
    back = staff_client.get(f"{reverse('crm_campanas')}?segmento=at_risk&limite=3&modo=send").content.decode()

    assert f'href="{reverse("crm_campanas")}?segmento=at_risk&amp;limite=3&amp;modo=send">Volver sin enviar' in (
        response.content.decode()
    )
    assert "Continuar: confirmar el envío a 3 clientes" in back  # the same preview, ready to change or continue
    assert not Campaign.objects.exists()


def test_a_big_campaign_in_review_tells_its_creator_who_must_approve_instead_of_offering_the_button(
    client, settings, marketing_user, administracion_user, db
):
    settings.CAMPAIGN_APPROVAL_THRESHOLD = 2
    at_risk_customers(3)
    campaign = campaigns.start_campaign(options=campaigns.CampaignOptions(segment="at_risk"), enqueue=False)
    campaign.recipients.update(status=R.GENERATED)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.REVIEW, created_by=administracion_user)
    url = reverse("crm_campana", args=[campaign.pk])

    client.force_login(marketing_user)
    marketing = client.get(url).content.decode()
    client.force_login(administracion_user)
    creator = client.get(url).content.decode()

    assert "debe aprobarla alguien con permiso para aprobar campañas (rol Administración)" in marketing
    assert "Aprobar envío (3 clientes)…" not in marketing
    assert "debe aprobarla otra persona, no quien la creó" in creator
    assert "Aprobar envío (3 clientes)…" not in creator
