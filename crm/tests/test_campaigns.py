"""Campaigns: audience, preview, generation, review, sending, throttling and resumability."""

import datetime
import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Campaign, CampaignRecipient, Proposal
from crm.services import campaigns, mail, proposals
from crm.services.campaigns import CampaignOptions
from crm.services.rfm import customers_in_segment
from crm.services.summaries import refresh_customers
from crm.tests.builders import make_service
from crm.tests.mailtools import make_proposal
from ventas.models import Cliente, ServiceHistory

R = CampaignRecipient.Status


def at_risk_customers(count, *, opted_out=0, without_email=0, prefix="riesgo", spend_step=1000):
    """`count` customers in the at_risk segment (5 services, the last one 400 days ago).

    The first `opted_out` have unsubscribed, the next `without_email` have no email. Customer i spent
    100,000 + i * spend_step CLP, so a limit keeps the last ones (highest spend first).
    """
    now = timezone.now()
    make_service("Tina Calbuco")
    customers = Cliente.objects.bulk_create(
        [
            Cliente(
                nombre=f"Cliente {prefix} {i:03d}",
                email="" if opted_out <= i < opted_out + without_email else f"{prefix}{i:03d}@example.org",
                acepta_marketing=i >= opted_out,
                fecha_baja=now if i < opted_out else None,
            )
            for i in range(count)
        ]
    )
    last = timezone.localdate() - datetime.timedelta(days=400)
    ServiceHistory.objects.bulk_create(
        [
            ServiceHistory(
                cliente=cliente,
                service_date=last - datetime.timedelta(days=30 * k),
                price_paid=Decimal(20_000 + (i * spend_step if k == 0 else 0)),
                service_type="Tinas",
                service_name="Tina Calbuco",
                year=(last - datetime.timedelta(days=30 * k)).year,
            )
            for i, cliente in enumerate(customers)
            for k in range(5)
        ]
    )
    refresh_customers([cliente.pk for cliente in customers])  # bulk_create sends no signals: as the importer does
    return customers


@pytest.fixture(autouse=True)
def _no_throttle(settings):
    settings.EMAIL_MAX_PER_MINUTE = 0


def start(django_capture_on_commit_callbacks, **options):
    with django_capture_on_commit_callbacks(execute=True):
        return campaigns.start_campaign(options=CampaignOptions(**options))


def quick_generation(*, cliente, **kwargs):
    """The local engine needs ~0.1 s per customer; the 200-customer test is about delivery, so it stores
    ready-made proposals instead (the smaller tests below use the real engine)."""
    return make_proposal(cliente)


def test_campaign_over_200_customers_sends_190_and_reports_10_skipped_with_reasons(smtp_server, db):
    at_risk_customers(200, opted_out=5, without_email=5)

    options = CampaignOptions(segment="at_risk", mode=Campaign.Mode.SEND)
    campaign = campaigns.start_campaign(options=options, enqueue=False)
    campaigns.run_campaign(campaign.pk, generate=quick_generation)

    progress = campaigns.campaign_progress(campaign.pk)
    assert progress.status == Campaign.Status.DONE
    assert progress.counts["total"] == 200
    assert progress.counts["sent"] == 190
    assert progress.counts["skipped"] == 10
    assert progress.counts["failed"] == 0
    assert {row["reason"]: row["count"] for row in progress.skipped_by_reason} == {"opted_out": 5, "no_email": 5}
    assert len(smtp_server.envelopes) == 190
    assert len({envelope.rcpt_tos[0] for envelope in smtp_server.envelopes}) == 190

    # Re-running the task, even from the start, sends nobody anything more.
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.GENERATING)
    campaigns.run_campaign(campaign.pk, generate=quick_generation)
    assert len(smtp_server.envelopes) == 190
    assert Proposal.objects.count() == 190


def test_worker_crash_while_sending_never_sends_a_customer_twice(smtp_server, db, django_capture_on_commit_callbacks):
    at_risk_customers(6)
    campaign = start(django_capture_on_commit_callbacks, segment="at_risk", mode=Campaign.Mode.GENERATE)
    campaigns.approve_send(campaign_id=campaign.pk)  # enqueued on commit: not run inside this test transaction

    class DyingMailer(mail.Mailer):
        """Delivers two messages, then the worker process dies in the middle of the third."""

        calls = 0

        def send(self, message):
            DyingMailer.calls += 1
            if DyingMailer.calls == 3:
                raise SystemExit("worker killed")
            super().send(message)

    dying = DyingMailer(from_email="reservas@example.com", site_url="https://crm.example.com")
    with pytest.raises(SystemExit):
        campaigns.run_campaign(campaign.pk, mailer=dying)
    assert len(smtp_server.envelopes) == 2

    campaigns.run_campaign(campaign.pk)  # the task runs again

    assert len(smtp_server.envelopes) == 5  # the interrupted one is not retried: it may have left
    assert len({envelope.rcpt_tos[0] for envelope in smtp_server.envelopes}) == 5
    counts = campaigns.campaign_progress(campaign.pk).counts
    assert counts["sent"] == 5
    assert counts["interrupted"] == 1  # staff decide on the campaign page


def test_preview_counts_who_will_be_included_and_skipped(db, settings):
    customers = at_risk_customers(12, opted_out=2, without_email=3)
    make_proposal(customers[-1], status=Proposal.Status.SENT, sent_at=timezone.now() - datetime.timedelta(days=2))

    preview = campaigns.preview(CampaignOptions(segment="at_risk"))

    assert (preview.total, preview.opted_out, preview.no_email, preview.recently_contacted) == (12, 2, 3, 1)
    assert preview.will_receive == 6


def test_preview_is_one_query(db, django_assert_num_queries):
    at_risk_customers(3)
    with django_assert_num_queries(1):
        campaigns.preview(CampaignOptions(segment="at_risk", limit=2, not_contacted_days=30))


@pytest.mark.parametrize("segment", ["at_risk", "overdue", "valuable_to_at_risk"])
def test_audiences_read_the_summaries_not_the_history(db, segment):
    at_risk_customers(3)
    with CaptureQueriesContext(connection) as queries:
        campaigns.preview(CampaignOptions(segment=segment, limit=2))
        list(campaigns.audience(CampaignOptions(segment=segment)))
    assert not [q["sql"] for q in queries.captured_queries if "crm_service_history" in q["sql"]]


def test_audience_matches_the_raw_rfm_query(db):
    customers = at_risk_customers(4)
    raw = set(customers_in_segment("at_risk").values_list("pk", flat=True))
    assert raw == {cliente.pk for cliente in customers}
    assert set(campaigns.audience(CampaignOptions(segment="at_risk")).values_list("pk", flat=True)) == raw


def test_limit_keeps_the_highest_spending_customers(db):
    customers = at_risk_customers(5)

    chosen = list(campaigns.audience(CampaignOptions(segment="at_risk", limit=2)).values_list("pk", flat=True))

    assert chosen == [customers[4].pk, customers[3].pk]


def test_not_contacted_filter_leaves_out_recently_contacted_customers(db):
    customers = at_risk_customers(3)
    make_proposal(customers[0], status=Proposal.Status.SENT, sent_at=timezone.now() - datetime.timedelta(days=20))

    options = CampaignOptions(segment="at_risk", not_contacted_days=30)
    chosen = set(campaigns.audience(options).values_list("pk", flat=True))

    assert chosen == {customers[1].pk, customers[2].pk}


def test_customer_contacted_within_the_frequency_window_is_skipped(smtp_server, db, django_capture_on_commit_callbacks):
    customers = at_risk_customers(3)
    make_proposal(customers[0], status=Proposal.Status.SENT, sent_at=timezone.now() - datetime.timedelta(days=3))

    campaign = start(django_capture_on_commit_callbacks, segment="at_risk", mode=Campaign.Mode.SEND)

    skipped = CampaignRecipient.objects.get(campaign=campaign, cliente=customers[0])
    assert skipped.status == R.SKIPPED
    assert skipped.reason == "recent_contact"
    assert len(smtp_server.envelopes) == 2


def test_generate_only_waits_for_review_then_sends_all_but_dropped(smtp_server, db, django_capture_on_commit_callbacks):
    at_risk_customers(4)
    campaign = start(django_capture_on_commit_callbacks, segment="at_risk", mode=Campaign.Mode.GENERATE)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.REVIEW
    assert smtp_server.envelopes == []
    dropped = CampaignRecipient.objects.filter(campaign=campaign).first()
    campaigns.drop_recipient(campaign_id=campaign.pk, recipient_id=dropped.pk)
    with django_capture_on_commit_callbacks(execute=True):
        campaigns.approve_send(campaign_id=campaign.pk)

    assert len(smtp_server.envelopes) == 3
    assert dropped.cliente.email not in {envelope.rcpt_tos[0] for envelope in smtp_server.envelopes}
    dropped.refresh_from_db()
    assert dropped.status == R.DROPPED
    assert dropped.proposal.status == Proposal.Status.DISCARDED
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DONE


def test_a_campaign_can_be_approved_only_once(db, django_capture_on_commit_callbacks):
    at_risk_customers(1)
    campaign = start(django_capture_on_commit_callbacks, segment="at_risk")
    campaigns.approve_send(campaign_id=campaign.pk)

    with pytest.raises(campaigns.CampaignError, match="no está esperando aprobación"):
        campaigns.approve_send(campaign_id=campaign.pk)


def test_starting_enqueues_the_task_only_on_commit(db, django_capture_on_commit_callbacks):
    at_risk_customers(2)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        campaign = campaigns.start_campaign(options=CampaignOptions(segment="at_risk"))

    assert len(callbacks) == 1
    assert CampaignRecipient.objects.filter(campaign=campaign, status=R.PENDING).count() == 2
    assert not Proposal.objects.exists()


def test_a_customer_appears_once_per_campaign(db):
    [cliente] = at_risk_customers(1)
    campaign = Campaign.objects.create(segment="at_risk")
    CampaignRecipient.objects.create(campaign=campaign, cliente=cliente)

    with pytest.raises(IntegrityError):
        CampaignRecipient.objects.create(campaign=campaign, cliente=cliente)


def test_a_failed_generation_is_recorded_and_the_campaign_goes_on(smtp_server, db):
    customers = at_risk_customers(3)

    def flaky(*, cliente, **kwargs):
        if cliente.pk == customers[1].pk:
            raise proposals.ProposalBackendError("El motor de propuestas no respondió.")
        return proposals.generate_proposal(cliente=cliente, **kwargs)

    options = CampaignOptions(segment="at_risk", mode=Campaign.Mode.SEND)
    campaign = campaigns.start_campaign(options=options, enqueue=False)
    campaigns.run_campaign(campaign.pk, generate=flaky)

    failed = CampaignRecipient.objects.get(campaign=campaign, cliente=customers[1])
    assert failed.status == R.FAILED
    assert "no respondió" in failed.error
    assert len(smtp_server.envelopes) == 2


def test_smtp_failures_are_recorded_per_customer(smtp_down, db, django_capture_on_commit_callbacks):
    at_risk_customers(2)

    campaign = start(django_capture_on_commit_callbacks, segment="at_risk", mode=Campaign.Mode.SEND)

    counts = campaigns.campaign_progress(campaign.pk).counts
    assert counts["failed"] == 2
    assert set(Proposal.objects.values_list("status", flat=True)) == {Proposal.Status.FAILED}


def test_empty_audience_is_refused(db):
    with pytest.raises(campaigns.CampaignError, match="No hay clientes"):
        campaigns.start_campaign(options=CampaignOptions(segment="vip"))


@pytest.mark.parametrize(
    "options",
    [{"segment": "inventado"}, {"segment": "at_risk", "limit": 0}, {"segment": "at_risk", "mode": "x"}],
)
def test_invalid_options_are_refused(options):
    with pytest.raises(campaigns.CampaignError):
        CampaignOptions(**options)


def test_throttle_waits_once_the_per_minute_limit_is_reached(db, settings):
    settings.EMAIL_MAX_PER_MINUTE = 3
    cliente = at_risk_customers(1)[0]
    now = timezone.now()
    for seconds_ago in (50, 20):
        make_proposal(cliente, status=Proposal.Status.SENT, sent_at=now - datetime.timedelta(seconds=seconds_ago))
    assert campaigns.send_slot_wait(now) == 0

    make_proposal(cliente, status=Proposal.Status.FAILED, failed_at=now - datetime.timedelta(seconds=5))

    assert campaigns.send_slot_wait(now) == pytest.approx(10, abs=0.1)  # the one sent 50 s ago leaves in 10 s


def test_throttle_is_off_when_the_limit_is_zero(db, settings):
    settings.EMAIL_MAX_PER_MINUTE = 0
    assert campaigns.send_slot_wait() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_four_workers_on_one_campaign_send_each_customer_exactly_once(smtp_server):
    at_risk_customers(24, prefix="paralelo")
    campaign = campaigns.start_campaign(options=CampaignOptions(segment="at_risk", mode="send"), enqueue=False)
    errors = []

    def worker():
        try:
            campaigns.run_campaign(campaign.pk)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(smtp_server.envelopes) == 24
    assert len({envelope.rcpt_tos[0] for envelope in smtp_server.envelopes}) == 24
    assert Proposal.objects.count() == 24


def test_preview_and_sending_agree_on_what_a_valid_email_is(smtp_server, db):
    customers = at_risk_customers(3)
    Cliente.objects.filter(pk=customers[0].pk).update(email="sin-arroba.example.org")

    preview = campaigns.preview(CampaignOptions(segment="at_risk"))
    campaign = campaigns.start_campaign(options=CampaignOptions(segment="at_risk", mode="send"), enqueue=False)
    campaigns.run_campaign(campaign.pk, generate=quick_generation)

    assert (preview.no_email, preview.will_receive) == (1, 2)
    skipped = CampaignRecipient.objects.get(campaign=campaign, cliente=customers[0])
    assert (skipped.status, skipped.reason) == (R.SKIPPED, "no_email")
    assert len(smtp_server.envelopes) == 2


def test_a_new_rule_is_applied_by_the_preview_the_campaign_and_the_sender(smtp_server, db, monkeypatch):
    customers = at_risk_customers(2)

    def blocked(cliente, last_sent_at, now):
        return mail.SendRefused("Bloqueado.") if cliente.pk == customers[0].pk else None

    monkeypatch.setattr(mail.rules, "RULES", [*mail.rules.RULES, blocked])

    preview = campaigns.preview(CampaignOptions(segment="at_risk"))
    with pytest.raises(mail.SendRefused):
        mail.send_proposal(proposal=make_proposal(customers[0]))
    campaign = campaigns.start_campaign(options=CampaignOptions(segment="at_risk", mode="send"), enqueue=False)
    campaigns.run_campaign(campaign.pk, generate=quick_generation)

    assert (preview.other_refusals, preview.will_receive) == (1, 1)
    assert CampaignRecipient.objects.get(campaign=campaign, cliente=customers[0]).status == R.SKIPPED
    assert [envelope.rcpt_tos[0] for envelope in smtp_server.envelopes] == [customers[1].email]
