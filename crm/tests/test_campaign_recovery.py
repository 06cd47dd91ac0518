"""Campaign leases, recovery, cancel, resume and staff decisions on interrupted sends (in process)."""

import datetime

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from crm.models import Campaign, CampaignRecipient, Proposal
from crm.services import campaigns, mail, proposals
from crm.services.campaigns import CampaignOptions
from crm.tests.mailtools import make_proposal
from crm.tests.test_campaigns import at_risk_customers

R = CampaignRecipient.Status


@pytest.fixture(autouse=True)
def _no_throttle(settings):
    settings.EMAIL_MAX_PER_MINUTE = 0


def quick_generation(*, cliente, **kwargs):
    return make_proposal(cliente)


def new_campaign(count, *, mode=Campaign.Mode.SEND, **kwargs):
    at_risk_customers(count, **kwargs)
    return campaigns.start_campaign(options=CampaignOptions(segment="at_risk", mode=mode), enqueue=False)


def test_a_live_lease_keeps_a_second_worker_out(db):
    campaign = new_campaign(2)
    assert campaigns.acquire_lease(campaign.pk, "worker-a") is not None

    assert campaigns.acquire_lease(campaign.pk, "worker-b") is None
    assert campaigns.run_campaign(campaign.pk, owner="worker-b", generate=quick_generation)["status"] == "generating"
    assert not Proposal.objects.exists()


def test_an_expired_lease_is_taken_over(db):
    campaign = new_campaign(1)
    campaigns.acquire_lease(campaign.pk, "dead-worker")
    Campaign.objects.filter(pk=campaign.pk).update(lease_expires_at=timezone.now() - datetime.timedelta(seconds=1))

    assert campaigns.acquire_lease(campaign.pk, "worker-b") is not None


def test_recovery_reenqueues_only_campaigns_whose_lease_expired(db, django_capture_on_commit_callbacks):
    alive, dead = new_campaign(1, prefix="vivo"), new_campaign(1, prefix="muerto")
    campaigns.acquire_lease(alive.pk, "worker-a")
    campaigns.acquire_lease(dead.pk, "worker-b")
    Campaign.objects.filter(pk=dead.pk).update(lease_expires_at=timezone.now() - datetime.timedelta(seconds=1))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert campaigns.recover_campaigns() == [dead.pk]

    assert len(callbacks) == 1
    dead.refresh_from_db()
    assert dead.lease_owner == ""  # waiting for a worker
    assert dead.lease_expires_at > timezone.now()


def test_recovery_marks_sends_silent_past_the_lease_interrupted(db, settings):
    cliente = at_risk_customers(1)[0]
    long_ago = timezone.now() - datetime.timedelta(seconds=settings.SEND_LEASE_SECONDS + 1)
    stuck = make_proposal(cliente, status=Proposal.Status.SENDING, sending_since=long_ago)
    fresh = make_proposal(cliente, status=Proposal.Status.SENDING, sending_since=timezone.now())

    campaigns.recover_campaigns()

    assert Proposal.objects.get(pk=stuck.pk).status == Proposal.Status.INTERRUPTED
    assert Proposal.objects.get(pk=fresh.pk).status == Proposal.Status.SENDING


def test_opening_the_campaign_page_recovers_a_campaign_whose_worker_died(
    staff_client, smtp_server, db, django_capture_on_commit_callbacks
):
    campaign = new_campaign(2)  # never enqueued, as if the task was lost

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.get(reverse("crm_campana", args=[campaign.pk]))

    assert response.status_code == 200
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DONE
    assert len(smtp_server.envelopes) == 2


def test_cancel_stops_between_two_sends_and_resume_finishes_without_duplicates(
    smtp_server, db, django_capture_on_commit_callbacks
):
    campaign = new_campaign(4)

    class CancellingMailer(mail.Mailer):
        def send(self, message):
            super().send(message)
            campaigns.cancel_campaign(campaign_id=campaign.pk)  # staff click "Cancelar" during the first send

    mailer = CancellingMailer(from_email="reservas@example.com", site_url="https://crm.example.com")
    campaigns.run_campaign(campaign.pk, mailer=mailer, generate=quick_generation)

    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.CANCELLED
    assert len(smtp_server.envelopes) == 1
    assert CampaignRecipient.objects.filter(campaign=campaign, status=R.GENERATED).count() == 3

    with django_capture_on_commit_callbacks(execute=True):
        campaigns.resume_campaign(campaign_id=campaign.pk)

    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DONE
    recipients = [envelope.rcpt_tos[0] for envelope in smtp_server.envelopes]
    assert len(recipients) == len(set(recipients)) == 4


def test_cancel_during_generation_stops_generating(db):
    campaign = new_campaign(3, mode=Campaign.Mode.GENERATE)

    def generate_then_cancel(*, cliente, **kwargs):
        campaigns.cancel_campaign(campaign_id=campaign.pk)
        return make_proposal(cliente)

    campaigns.run_campaign(campaign.pk, generate=generate_then_cancel)

    assert Proposal.objects.count() == 1
    assert CampaignRecipient.objects.filter(campaign=campaign, status=R.PENDING).count() == 2


def test_a_finished_campaign_cannot_be_cancelled_or_resumed(db):
    campaign = new_campaign(1)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.DONE)

    with pytest.raises(campaigns.CampaignError):
        campaigns.cancel_campaign(campaign_id=campaign.pk)
    with pytest.raises(campaigns.CampaignError):
        campaigns.resume_campaign(campaign_id=campaign.pk)


def interrupted_campaign(smtp_server):
    """A sending campaign whose worker died in the middle of the second send (SystemExit stands for SIGKILL)."""
    campaign = new_campaign(3)

    class DyingMailer(mail.Mailer):
        calls = 0

        def send(self, message):
            DyingMailer.calls += 1
            if DyingMailer.calls == 2:
                raise SystemExit("worker killed")
            super().send(message)

    with pytest.raises(SystemExit):
        campaigns.run_campaign(
            campaign.pk, mailer=DyingMailer(from_email="reservas@example.com"), generate=quick_generation
        )
    campaigns.run_campaign(campaign.pk)
    return campaign


def test_an_interrupted_send_is_not_retried_and_waits_for_staff(smtp_server, db):
    campaign = interrupted_campaign(smtp_server)

    progress = campaigns.campaign_progress(campaign.pk)
    assert progress.status == Campaign.Status.DONE
    assert (progress.counts["sent"], progress.counts["interrupted"]) == (2, 1)
    assert len(smtp_server.envelopes) == 2
    row = CampaignRecipient.objects.get(campaign=campaign, status=R.INTERRUPTED)
    assert row.proposal.status == Proposal.Status.INTERRUPTED


def test_staff_mark_an_interrupted_send_as_sent(staff_client, smtp_server, db):
    campaign = interrupted_campaign(smtp_server)
    row = CampaignRecipient.objects.get(campaign=campaign, status=R.INTERRUPTED)
    page = staff_client.get(reverse("crm_campana", args=[campaign.pk])).content.decode()

    response = staff_client.post(reverse("crm_campana_decidir", args=[campaign.pk, row.pk]), {"decision": "enviada"})

    assert "Marcar como enviada" in page and "Enviar de nuevo" in page
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.status == R.SENT
    assert row.proposal.status == Proposal.Status.SENT
    assert row.proposal.sent_at is not None
    assert len(smtp_server.envelopes) == 2  # nothing sent: staff said it arrived


def test_staff_send_an_interrupted_one_again(staff_client, smtp_server, db, django_capture_on_commit_callbacks):
    campaign = interrupted_campaign(smtp_server)
    row = CampaignRecipient.objects.get(campaign=campaign, status=R.INTERRUPTED)

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("crm_campana_decidir", args=[campaign.pk, row.pk]), {"decision": "reenviar"}
        )

    assert response.status_code == 302
    row.refresh_from_db()
    assert row.status == R.SENT
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DONE
    recipients = [envelope.rcpt_tos[0] for envelope in smtp_server.envelopes]
    assert len(recipients) == len(set(recipients)) == 3
    assert recipients[-1] == row.cliente.email


def test_a_bad_or_stale_decision_is_a_4xx_in_spanish(staff_client, db):
    campaign = new_campaign(1)
    row = CampaignRecipient.objects.get(campaign=campaign)
    url = reverse("crm_campana_decidir", args=[campaign.pk, row.pk])

    bad = staff_client.post(url, {"decision": "quizas"})
    stale = staff_client.post(url, {"decision": "enviada"})

    assert bad.status_code == 400
    assert "Elige si el correo se envió" in bad.content.decode()
    assert stale.status_code == 409
    assert "ya no está interrumpido" in stale.content.decode()


def test_cancel_and_resume_from_the_campaign_page(staff_client, smtp_server, db, django_capture_on_commit_callbacks):
    campaign = new_campaign(2, mode=Campaign.Mode.GENERATE)
    page = staff_client.get(reverse("crm_campana", args=[campaign.pk])).content.decode()

    cancelled = staff_client.post(reverse("crm_campana_cancelar", args=[campaign.pk]))
    again = staff_client.post(reverse("crm_campana_cancelar", args=[campaign.pk]))
    with django_capture_on_commit_callbacks(execute=True):
        resumed = staff_client.post(reverse("crm_campana_reanudar", args=[campaign.pk]))

    assert "Cancelar campaña" in page
    assert cancelled.status_code == 302
    assert again.status_code == 409
    assert resumed.status_code == 302
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.REVIEW  # generated, waiting for review


@pytest.mark.django_db(transaction=True)
def test_campaign_generation_and_sending_hold_no_transaction_during_network_calls(smtp_server):
    at_risk_customers(2, prefix="sintx")
    campaign = campaigns.start_campaign(options=CampaignOptions(segment="at_risk", mode="send"), enqueue=False)
    seen = []

    def generate(*, cliente, **kwargs):
        seen.append(("generate", connection.in_atomic_block))
        return proposals.generate_proposal(cliente=cliente, **kwargs)

    class WatchingMailer(mail.Mailer):
        def send(self, message):
            seen.append(("send", connection.in_atomic_block))
            super().send(message)

    campaigns.run_campaign(campaign.pk, generate=generate, mailer=WatchingMailer(from_email="reservas@example.com"))

    assert seen == [("generate", False)] * 2 + [("send", False)] * 2
    assert len(smtp_server.envelopes) == 2
