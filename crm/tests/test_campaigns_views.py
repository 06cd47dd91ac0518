"""The campaign pages, their JSON progress endpoint and the generate_proposals command."""

import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from crm.models import Campaign, CampaignRecipient, Proposal
from crm.services import campaigns
from crm.tests.test_campaigns import at_risk_customers

R = CampaignRecipient.Status


@pytest.fixture(autouse=True)
def _no_throttle(settings):
    settings.EMAIL_MAX_PER_MINUTE = 0


def test_campaign_page_lists_segments_and_past_campaigns(staff_client, db, django_assert_max_num_queries):
    at_risk_customers(2)
    campaigns.start_campaign(options=campaigns.CampaignOptions(segment="at_risk"), enqueue=False)

    with django_assert_max_num_queries(6):
        response = staff_client.get(reverse("crm_campanas"))

    body = response.content.decode()
    assert response.status_code == 200
    assert "En riesgo" in body
    assert "Generando propuestas" in body  # the past campaign with its status


def test_preview_shows_how_many_customers_before_starting(staff_client, db):
    at_risk_customers(7, opted_out=1, without_email=2)

    response = staff_client.get(reverse("crm_campanas"), {"segmento": "at_risk", "modo": "generate"})

    body = response.content.decode()
    assert response.status_code == 200
    assert "<strong>7</strong> clientes" in body
    assert "<strong>4</strong>" in body  # will receive
    assert "Generar propuestas para revisar (7 clientes)" in body
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    "params",
    [{"segmento": "inventado"}, {"segmento": "at_risk", "limite": "muchos"}, {"segmento": "at_risk", "limite": "0"}],
)
def test_bad_campaign_options_answer_400_in_spanish(staff_client, db, params):
    response = staff_client.get(reverse("crm_campanas"), params)

    assert response.status_code == 400
    assert 'class="error"' in response.content.decode()


def test_start_creates_the_campaign_runs_it_and_redirects_to_its_page(
    staff_client, smtp_server, db, django_capture_on_commit_callbacks
):
    at_risk_customers(3)

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("crm_campana_iniciar"), {"segmento": "at_risk", "limite": "2", "modo": "generate"}
        )

    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("crm_campana", args=[campaign.pk])
    assert campaign.status == Campaign.Status.REVIEW
    assert campaign.recipients.count() == 2
    assert smtp_server.envelopes == []


def test_starting_an_empty_campaign_is_a_409_with_a_message(staff_client, db):
    response = staff_client.post(reverse("crm_campana_iniciar"), {"segmento": "vip", "modo": "generate"})

    assert response.status_code == 409
    assert "No hay clientes" in response.content.decode()


def test_review_open_drop_and_approve(staff_client, smtp_server, db, django_capture_on_commit_callbacks):
    at_risk_customers(3)
    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaigns.start_campaign(options=campaigns.CampaignOptions(segment="at_risk"))
    first = campaign.recipients.order_by("id").first()

    detail = staff_client.get(reverse("crm_campana", args=[campaign.pk]))
    opened = staff_client.get(reverse("crm_campana_destinatario", args=[campaign.pk, first.pk]))
    dropped = staff_client.post(reverse("crm_campana_descartar", args=[campaign.pk, first.pk]))
    with django_capture_on_commit_callbacks(execute=True):
        approved = staff_client.post(reverse("crm_campana_aprobar", args=[campaign.pk]), {"confirmar": "2"})

    assert "Aprobar envío" in detail.content.decode()
    assert opened.status_code == 200
    assert first.proposal.email_subject in opened.content.decode()
    assert dropped.status_code == 302
    assert approved.status_code == 302
    assert len(smtp_server.envelopes) == 2
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DONE
    first.refresh_from_db()
    assert first.status == R.DROPPED


def test_approving_twice_is_a_409(staff_client, db):
    at_risk_customers(1)
    campaign = campaigns.start_campaign(options=campaigns.CampaignOptions(segment="at_risk"), enqueue=False)

    response = staff_client.post(reverse("crm_campana_aprobar", args=[campaign.pk]))

    assert response.status_code == 409
    assert "no está esperando aprobación" in response.content.decode()


def test_progress_endpoint_reports_done_sent_skipped_with_reasons_and_failed(
    staff_client, smtp_server, db, django_capture_on_commit_callbacks
):
    at_risk_customers(5, opted_out=1, without_email=1)
    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaigns.start_campaign(options=campaigns.CampaignOptions(segment="at_risk", mode="send"))

    data = staff_client.get(reverse("crm_campana_progreso", args=[campaign.pk])).json()

    assert data["status"] == "done"
    assert data["finished"] is True
    assert (data["total"], data["done"], data["sent"], data["skipped"], data["failed"]) == (5, 5, 3, 2, 0)
    assert {row["label"]: row["count"] for row in data["skipped_by_reason"]} == {
        "Se dio de baja": 1,
        "Sin email válido": 1,
    }


def test_detail_page_query_count_is_bounded(staff_client, db, django_assert_max_num_queries):
    at_risk_customers(30)
    campaign = campaigns.start_campaign(options=campaigns.CampaignOptions(segment="at_risk"), enqueue=False)

    # 9 = the page's 7 + the recovery of this never-enqueued campaign (lease UPDATE, dead task rows UPDATE).
    with django_assert_max_num_queries(11):
        response = staff_client.get(reverse("crm_campana", args=[campaign.pk]))

    assert response.status_code == 200
    assert "campanas.js" in response.content.decode()


def test_detail_page_filters_by_status_and_rejects_unknown_ones(staff_client, db):
    at_risk_customers(2, opted_out=1)
    campaign = campaigns.start_campaign(options=campaigns.CampaignOptions(segment="at_risk"), enqueue=False)

    assert staff_client.get(reverse("crm_campana", args=[campaign.pk]), {"estado": "pending"}).status_code == 200
    assert staff_client.get(reverse("crm_campana", args=[campaign.pk]), {"estado": "x"}).status_code == 400
    assert staff_client.get(reverse("crm_campana", args=[999999])).status_code == 404
    assert staff_client.get(reverse("crm_campana_progreso", args=[999999])).status_code == 404


def test_campaign_pages_need_staff(client, db):
    assert client.get(reverse("crm_campanas")).status_code == 302
    assert client.get(reverse("crm_campana_progreso", args=[1])).status_code == 302


def test_command_dry_run_counts_and_creates_nothing(db):
    at_risk_customers(4, opted_out=1)
    out = io.StringIO()

    call_command("generate_proposals", "--segment", "at_risk", "--dry-run", stdout=out)

    assert "4 clientes" in out.getvalue()
    assert "3 recibirían" in out.getvalue()
    assert not Campaign.objects.exists()


def test_generate_proposals_dry_run_leaves_out_the_control_group(db, settings):
    settings.CAMPAIGN_HOLDOUT_SHARE = 0.10
    at_risk_customers(21, opted_out=1)
    out = io.StringIO()

    call_command("generate_proposals", "--segment", "at_risk", "--dry-run", stdout=out)

    assert "18 recibirían propuesta" in out.getvalue()
    assert "; 2 en el grupo de control (no se contactan)." in out.getvalue()


def test_command_generates_and_sends_with_progress(smtp_server, db):
    at_risk_customers(3)
    out = io.StringIO()

    call_command("generate_proposals", "--segment", "at_risk", "--limit", "2", "--send", stdout=out)

    assert "Enviando [" in out.getvalue()
    assert "2 enviadas" in out.getvalue()
    assert len(smtp_server.envelopes) == 2
    assert Proposal.objects.filter(status=Proposal.Status.SENT).count() == 2


def test_command_without_send_leaves_the_campaign_for_review(smtp_server, db):
    at_risk_customers(2)
    out = io.StringIO()

    call_command("generate_proposals", "--segment", "at_risk", stdout=out)

    assert Campaign.objects.get().status == Campaign.Status.REVIEW
    assert smtp_server.envelopes == []
    assert "2 por revisar" in out.getvalue()


def test_command_refuses_a_bad_limit(db):
    with pytest.raises(CommandError, match="límite"):
        call_command("generate_proposals", "--segment", "at_risk", "--limit", "0")


def test_a_just_started_campaign_says_it_is_queued_and_offers_no_resume(staff_client, db):
    at_risk_customers(2)
    campaign = campaigns.start_campaign(options=campaigns.CampaignOptions(segment="at_risk"))  # task not run yet

    body = staff_client.get(reverse("crm_campana", args=[campaign.pk])).content.decode()

    assert "La campaña está en cola: empieza en cuanto el proceso en segundo plano la tome" in body
    assert "Reanudar campaña" not in body  # nothing to resume: it has not even started
    assert "se puso de nuevo en cola" not in body
    assert "Cancelar campaña" in body


def test_opening_a_campaign_nobody_is_working_on_enqueues_it_again_and_says_so(
    staff_client, db, django_capture_on_commit_callbacks
):
    at_risk_customers(1)
    campaign = campaigns.start_campaign(options=campaigns.CampaignOptions(segment="at_risk"), enqueue=False)

    with django_capture_on_commit_callbacks() as enqueued:
        body = staff_client.get(reverse("crm_campana", args=[campaign.pk])).content.decode()

    assert len(enqueued) == 1
    assert "Ningún proceso en segundo plano estaba avanzando con esta campaña: se puso de nuevo en cola." in body


def test_campaign_page_names_who_approved_the_send_and_when(staff_client, staff_user, db):
    at_risk_customers(1)
    campaign = campaigns.start_campaign(options=campaigns.CampaignOptions(segment="at_risk"), enqueue=False)
    approved_at = timezone.make_aware(datetime.datetime(2026, 11, 25, 10, 30))
    Campaign.objects.filter(pk=campaign.pk).update(
        status=Campaign.Status.DONE, approved_at=approved_at, approved_by=staff_user
    )

    body = staff_client.get(reverse("crm_campana", args=[campaign.pk])).content.decode()

    assert "Solo generar (revisar antes de enviar) · envío aprobado el 25-11-2026 10:30 por staff" in body


@pytest.mark.parametrize(
    ("mode", "status", "label"),
    [
        ("generate", "generating", "Propuestas por revisar"),
        ("generate", "review", "Propuestas por revisar"),
        ("send", "generating", "Por enviar"),  # no review in this mode
        ("generate", "sending", "Por enviar"),
        ("generate", "cancelled", "Sin enviar"),
    ],
)
def test_generated_proposals_are_labelled_for_the_phase_of_the_campaign(staff_client, db, mode, status, label):
    at_risk_customers(1)
    options = campaigns.CampaignOptions(segment="at_risk", mode=mode)
    campaign = campaigns.start_campaign(options=options, enqueue=False)
    approved_at = timezone.now() if status == "sending" else None
    Campaign.objects.filter(pk=campaign.pk).update(
        status=status, approved_at=approved_at, lease_owner="worker", lease_expires_at=timezone.now()
    )

    body = staff_client.get(reverse("crm_campana", args=[campaign.pk])).content.decode()

    assert f"<dt>{label}</dt>" in body
    assert body.count("<dt>") == 7


def test_a_cancelled_campaign_says_nothing_more_is_sent_and_how_many_wait(staff_client, db):
    at_risk_customers(3)
    campaign = campaigns.start_campaign(options=campaigns.CampaignOptions(segment="at_risk"), enqueue=False)
    CampaignRecipient.objects.filter(campaign=campaign).update(status=R.GENERATED)
    campaigns.cancel_campaign(campaign_id=campaign.pk)

    body = staff_client.get(reverse("crm_campana", args=[campaign.pk])).content.decode()

    assert "no se envía ningún email más; 3 propuestas quedaron sin enviar y solo se envían si la reanudas." in body
    assert "Reanudar campaña" in body


@pytest.mark.parametrize(
    ("interrupted", "sentence"),
    [
        (1, "1 envío quedó interrumpido: no se reintenta solo porque el correo pudo haber salido."),
        (2, "2 envíos quedaron interrumpidos: no se reintentan solos porque el correo pudo haber salido."),
    ],
)
def test_interrupted_sends_are_counted_in_correct_spanish(staff_client, db, interrupted, sentence):
    at_risk_customers(3)
    campaign = campaigns.start_campaign(options=campaigns.CampaignOptions(segment="at_risk"), enqueue=False)
    rows = CampaignRecipient.objects.filter(campaign=campaign).order_by("id")
    rows.filter(pk__in=list(rows.values_list("pk", flat=True)[:interrupted])).update(status=R.INTERRUPTED)

    body = staff_client.get(reverse("crm_campana", args=[campaign.pk])).content.decode()

    assert sentence in body


@pytest.mark.parametrize(
    ("generated", "phrase"), [(1, "el envío de la que queda."), (3, "el envío de las 3 que quedan.")]
)
def test_review_invitation_counts_the_proposals_left_in_correct_spanish(staff_client, db, generated, phrase):
    at_risk_customers(generated)
    campaign = campaigns.start_campaign(options=campaigns.CampaignOptions(segment="at_risk"), enqueue=False)
    CampaignRecipient.objects.filter(campaign=campaign).update(status=R.GENERATED)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.REVIEW)

    body = staff_client.get(reverse("crm_campana", args=[campaign.pk])).content.decode()

    assert f"descarta las que no quieras y aprueba {phrase}" in body
