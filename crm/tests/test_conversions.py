"""`Proposal.next_visit_on` (crm.services.conversions): the results page's conversions without reading the
history, equal to asking the history every time, and kept in step by every write."""

import datetime
import importlib
import random
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import DateField, Exists, ExpressionWrapper, OuterRef, Value
from django.db.models.functions import TruncDate
from django.utils import timezone

from crm.models import Proposal
from crm.services import conversions, mail, results, summaries
from crm.tests.builders import add_history, make_cliente
from crm.tests.mailtools import make_proposal
from ventas.models import ServiceHistory

pytestmark = pytest.mark.django_db
SENT = Proposal.Status.SENT


def asked_of_the_history(proposals):
    """The rule as the results page asked it before: a real-dated service in [sent day, sent day + window]."""
    sent_day = TruncDate("sent_at")
    end = ExpressionWrapper(
        sent_day + Value(datetime.timedelta(days=settings.PROPOSAL_CONVERSION_DAYS)), output_field=DateField()
    )
    window = ServiceHistory.objects.with_real_dates().filter(
        cliente_id=OuterRef("cliente_id"), service_date__gte=OuterRef("sent_day"), service_date__lte=OuterRef("end")
    )
    return dict(
        proposals.annotate(sent_day=sent_day, end=end).annotate(converted=Exists(window)).values_list("pk", "converted")
    )


def random_world(seed: int, customers: int = 60):
    """Customers with proposals sent at random local times and visits around them, the placeholder date and
    late-evening sends (the next UTC day) included; history written in bulk, as imports do."""
    rnd = random.Random(seed)
    base = datetime.date(2026, 3, 1)
    rows = []
    for n in range(customers):
        cliente = make_cliente(f"Cliente Conversión {n}")
        for _ in range(rnd.randint(0, 3)):
            day = base + datetime.timedelta(days=rnd.randint(0, 200))
            when = timezone.make_aware(datetime.datetime.combine(day, datetime.time(rnd.choice([9, 12, 23]), 30)))
            make_proposal(cliente, status=SENT, sent_at=when, sent_to="x@example.org")
        if rnd.random() < 0.3:
            make_proposal(cliente)  # generated, never sent
        for _ in range(rnd.randint(0, 6)):
            day = base + datetime.timedelta(days=rnd.randint(-30, 260))
            if rnd.random() < 0.1:
                day = settings.HISTORY_PLACEHOLDER_DATE
            rows.append(ServiceHistory(cliente=cliente, service_date=day, price_paid=10_000, service_type="Tinas"))
    ServiceHistory.objects.bulk_create(rows)
    summaries.history_written.send(sender=ServiceHistory, cliente_ids=None)  # as a bulk writer announces it


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("window", [0, 7, 30])
def test_stored_conversions_equal_asking_the_history(seed, window, settings):
    settings.PROPOSAL_CONVERSION_DAYS = window
    random_world(seed)
    proposals = Proposal.objects.all()
    stored = dict(results.with_conversion(proposals).values_list("pk", "converted"))
    assert stored == asked_of_the_history(proposals)
    if window:
        assert sum(stored.values()) > 0 and not all(stored.values())  # the data set tells both cases apart
    assert conversions.mismatches() == []


def test_a_visit_written_after_the_email_converts_it_and_deleting_it_undoes_that():
    cliente = make_cliente("Ana Vuelve")
    proposal = make_proposal(
        cliente, status=SENT, sent_at=timezone.make_aware(datetime.datetime(2026, 3, 1, 10)), sent_to="a@example.org"
    )
    visit = add_history(cliente, service_date=datetime.date(2026, 3, 20))
    proposal.refresh_from_db()
    assert proposal.next_visit_on == datetime.date(2026, 3, 20)
    earlier = add_history(cliente, service_date=datetime.date(2026, 3, 5))
    proposal.refresh_from_db()
    assert proposal.next_visit_on == datetime.date(2026, 3, 5)
    earlier.delete()
    visit.delete()
    proposal.refresh_from_db()
    assert proposal.next_visit_on is None


def test_sending_records_a_booking_already_in_the_history(smtp_server):
    cliente = make_cliente("Bruno Reservó", email="bruno.reservo@example.org")
    booked = timezone.localdate() + datetime.timedelta(days=3)
    add_history(cliente, service_date=booked)  # the booking system already wrote his next visit
    proposal = mail.send_proposal(proposal=make_proposal(cliente))
    assert proposal.status == SENT
    assert proposal.next_visit_on == booked


def test_the_migration_fills_proposals_sent_before_it():
    random_world(3, customers=30)
    expected = dict(Proposal.objects.values_list("pk", "next_visit_on"))
    Proposal.objects.update(next_visit_on=None)
    migration = importlib.import_module("crm.migrations.0016_proposal_next_visit_on")
    migration.fill_next_visit_on(None, SimpleNamespace(connection=connection))  # it only uses the connection
    assert dict(Proposal.objects.values_list("pk", "next_visit_on")) == expected
    assert any(expected.values())


def test_the_results_figures_read_no_history(django_assert_max_num_queries):
    random_world(4, customers=20)
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        rows = results.results_by_segment(results.filtered_proposals(results.ProposalFilters()))
        results.results_by_campaign(results.filtered_proposals(results.ProposalFilters()))
    assert rows
    assert not [q["sql"] for q in queries.captured_queries if "crm_service_history" in q["sql"]]
