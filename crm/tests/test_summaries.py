import datetime
import random
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from crm.services import summaries
from crm.services.rfm import rfm_by_customer, scored_summaries, segment_members, segment_members_from_summaries
from ventas.models import Cliente, ServiceHistory

pytestmark = pytest.mark.django_db


def generated_history(customers=60, seed=7, today=None):
    """Customers with random history around every RFM threshold, placeholder dates and future dates."""
    today = today or timezone.localdate()
    rng = random.Random(seed)
    clientes = Cliente.objects.bulk_create(
        [Cliente(nombre=f"Cliente Generado {n}", busqueda=f"cliente generado {n}") for n in range(customers)]
    )
    rows = []
    for cliente in clientes[: customers * 5 // 6]:  # the rest have no history
        for _ in range(rng.choice([1, 1, 2, 4, 5, 6, 9, 10, 12])):
            kind = rng.random()
            if kind < 0.1:
                day = settings.HISTORY_PLACEHOLDER_DATE
            elif kind < 0.15:
                day = today + datetime.timedelta(days=rng.randint(1, 40))  # booked ahead
            else:
                day = today - datetime.timedelta(days=rng.choice([0, 89, 90, 91, 179, 180, 181, rng.randint(0, 900)]))
            rows.append(
                ServiceHistory(
                    cliente=cliente,
                    service_date=day,
                    price_paid=Decimal(rng.choice([20_000, 99_999, 100_000, 250_000, 499_999, 500_000])),
                    service_type=rng.choice(["Tinas", "Masajes", "Cabañas"]),
                    service_name=rng.choice(["Tina Calbuco", "Masaje Piedras", "Cabaña Laurel"]),
                )
            )
    ServiceHistory.objects.bulk_create(rows)
    return clientes


def raw_segments(today):
    with_history = dict(rfm_by_customer(today).values_list("cliente_id", "segment"))
    return {pk: with_history.get(pk, "no_history") for pk in Cliente.objects.values_list("pk", flat=True)}


def summary_segments(today, stored):
    scored = dict(scored_summaries(today, stored=stored).values_list("cliente_id", "rfm_segment"))
    return {pk: scored.get(pk, "no_history") for pk in Cliente.objects.values_list("pk", flat=True)}


def test_rebuilt_summary_gives_the_raw_segment_of_every_customer():
    today = timezone.localdate()
    generated_history()
    summaries.rebuild()
    raw = raw_segments(today)
    assert len(set(raw.values())) >= 6  # the data really spreads over the segments
    assert summary_segments(today, stored=True) == raw
    assert summary_segments(today, stored=False) == raw
    assert summaries.verify() == []


@pytest.mark.postgres
def test_rebuilt_summary_equals_the_raw_query_on_postgresql():
    assert connection.vendor == "postgresql"
    test_rebuilt_summary_gives_the_raw_segment_of_every_customer()


def test_live_scores_follow_the_day_without_a_refresh():
    today = timezone.localdate()
    generated_history()
    summaries.rebuild(today=today)
    later = today + datetime.timedelta(days=100)
    # Future-dated rows up to `later` must be counted: the daily refresh does that on each day.
    summaries.refresh_daily(today=later)
    assert summary_segments(later, stored=False) == raw_segments(later)
    assert summary_segments(later, stored=True) == raw_segments(later)


def test_segment_members_from_summaries_match_the_raw_members():
    generated_history()
    summaries.rebuild()
    for key in ("at_risk", "lost", "no_history", "promising"):
        assert set(segment_members_from_summaries(key).values_list("pk", flat=True)) == set(
            segment_members(key).values_list("pk", flat=True)
        )
