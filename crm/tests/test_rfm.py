import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.services.rfm import (
    SEGMENTS,
    annotate_rfm,
    customer_rfm,
    customers_in_segment,
    get_segment,
    rfm_by_customer,
    segment_members,
)
from crm.tests.builders import AS_OF, add_history, customer_with, make_cliente
from ventas.models import Cliente

pytestmark = pytest.mark.django_db


def rfm_of(**kwargs):
    cliente = customer_with(**kwargs)
    return customer_rfm(cliente.pk, as_of=AS_OF)


@pytest.mark.parametrize(
    ("days", "expected_r"),
    [(0, 3), (90, 3), (91, 2), (180, 2), (181, 1), (2000, 1)],
)
def test_recency_score_boundaries(days, expected_r):
    result = rfm_of(services=1, spent=10_000, last_days_ago=days)
    assert result.r == expected_r
    assert result.recency_days == days


@pytest.mark.parametrize(
    ("services", "expected_f"),
    [(1, 1), (4, 1), (5, 2), (9, 2), (10, 3), (25, 3)],
)
def test_frequency_score_boundaries(services, expected_f):
    result = rfm_of(services=services, spent=100_000, last_days_ago=10)
    assert result.f == expected_f
    assert result.frequency == services


@pytest.mark.parametrize(
    ("spent", "expected_m"),
    [(0, 1), (499_999, 1), (500_000, 2), (999_999, 2), (1_000_000, 3)],
)
def test_monetary_score_boundaries(spent, expected_m):
    result = rfm_of(services=2, spent=spent, last_days_ago=10)
    assert result.m == expected_m
    assert result.monetary == Decimal(spent)


@pytest.mark.parametrize(
    ("services", "spent", "last_days_ago", "segment"),
    [
        (10, 1_000_000, 90, "vip"),
        (10, 999_999, 90, "champions"),
        (5, 500_000, 180, "champions"),
        (5, 499_999, 91, "loyal"),
        (10, 100_000, 30, "loyal"),
        (4, 2_000_000, 90, "promising"),
        (1, 10_000, 0, "promising"),
        (5, 600_000, 181, "at_risk"),
        (12, 100_000, 400, "at_risk"),
        (4, 500_000, 181, "hibernating"),
        (1, 1_500_000, 365, "hibernating"),
        (4, 499_999, 181, "lost"),
        (1, 10_000, 180, "occasional"),
        (4, 2_000_000, 91, "occasional"),
    ],
)
def test_every_segment_first_match_wins(services, spent, last_days_ago, segment):
    assert rfm_of(services=services, spent=spent, last_days_ago=last_days_ago).segment.key == segment


def test_customer_without_history_is_sin_historial():
    cliente = make_cliente("Nueva Clienta")
    result = customer_rfm(cliente.pk, as_of=AS_OF)
    assert result.segment == get_segment("no_history")
    assert result.segment.label == "Sin historial"
    assert (result.frequency, result.monetary, result.last_service) == (0, Decimal(0), None)
    assert (result.r, result.f, result.m, result.recency_days) == (None, None, None, None)


def test_placeholder_dates_count_for_frequency_and_spend_but_not_recency():
    result = rfm_of(services=10, spent=1_000_000, last_days_ago=None)
    assert result.last_service is None
    assert (result.r, result.f, result.m) == (1, 3, 3)
    assert result.segment.key == "at_risk"


def test_placeholder_rows_do_not_hide_the_real_last_service():
    cliente = customer_with(services=1, spent=10_000, last_days_ago=None)
    add_history(cliente, service_date=AS_OF - datetime.timedelta(days=20))
    result = customer_rfm(cliente.pk, as_of=AS_OF)
    assert result.last_service == AS_OF - datetime.timedelta(days=20)
    assert result.frequency == 2
    assert result.r == 3


def test_scores_default_to_today_in_santiago(settings):
    from django.utils import timezone

    cliente = make_cliente("Hoy")
    add_history(cliente, service_date=timezone.localdate())
    assert customer_rfm(cliente.pk).recency_days == 0


def test_thresholds_come_from_settings(settings):
    settings.RFM_FREQUENCY = [3, 2]
    assert rfm_of(services=3, spent=10_000, last_days_ago=1).f == 3


def test_annotate_rfm_is_a_single_query_for_all_customers():
    for index in range(5):
        customer_with(services=index + 1, spent=100_000 * index, last_days_ago=index * 50, nombre=f"C{index}")
    make_cliente("Sin Nada")
    with CaptureQueriesContext(connection) as queries:
        rows = list(annotate_rfm(Cliente.objects.all(), as_of=AS_OF).values("segment", "frequency"))
    assert len(queries) == 1
    assert len(rows) == 6
    assert {"frequency": 0, "segment": "no_history"} in rows


def test_customers_in_segment_filters_in_the_database():
    vip = customer_with(services=10, spent=1_000_000, last_days_ago=5, nombre="Vip Uno")
    customer_with(services=1, spent=1_000, last_days_ago=5, nombre="Nuevo Dos")
    found = list(customers_in_segment("vip", as_of=AS_OF))
    assert [c.pk for c in found] == [vip.pk]
    assert found[0].segment == "vip"
    assert found[0].monetary == Decimal(1_000_000)


def test_unknown_segment_key_raises_key_error():
    with pytest.raises(KeyError):
        get_segment("nope")
    with pytest.raises(KeyError):
        customers_in_segment("nope")


def test_segments_are_in_the_documented_order_with_labels_and_colours():
    assert list(SEGMENTS) == [
        "vip",
        "champions",
        "loyal",
        "promising",
        "at_risk",
        "hibernating",
        "lost",
        "occasional",
        "no_history",
    ]
    for segment in SEGMENTS.values():
        assert segment.label and segment.description
        assert segment.color.startswith("#") and len(segment.color) == 7


def test_services_after_as_of_are_ignored():
    cliente = customer_with(services=1, spent=10_000, last_days_ago=200)
    add_history(cliente, service_date=AS_OF + datetime.timedelta(days=1), price=990_000)
    result = customer_rfm(cliente.pk, as_of=AS_OF)
    assert (result.frequency, result.monetary, result.recency_days) == (1, Decimal(10_000), 200)


def test_history_side_rfm_matches_the_customer_side():
    for index, (services, spent, days) in enumerate([(10, 1_000_000, 3), (5, 600_000, 200), (1, 1_000, 95)]):
        customer_with(services=services, spent=spent, last_days_ago=days, nombre=f"C{index}")
    customer_with(services=2, spent=5_000, last_days_ago=None, nombre="Sin Fecha")
    make_cliente("Nadie")
    fields = ("recency_days", "frequency", "monetary", "r", "f", "m", "segment")
    from_customers = {
        row["pk"]: tuple(row[f] for f in fields)
        for row in annotate_rfm(Cliente.objects.all(), as_of=AS_OF).filter(frequency__gt=0).values("pk", *fields)
    }
    from_history = {row["cliente_id"]: tuple(row[f] for f in fields) for row in rfm_by_customer(as_of=AS_OF)}
    assert from_history == from_customers
    assert {row[-1] for row in from_history.values()} == {"vip", "at_risk", "occasional", "lost"}


def test_segment_members_is_a_plain_filter_for_every_segment():
    customer_with(services=10, spent=1_000_000, last_days_ago=3, nombre="Vip")
    sin = make_cliente("Sin Nada")
    assert [c.nombre for c in segment_members("vip", as_of=AS_OF)] == ["Vip"]
    assert [c.pk for c in segment_members("no_history", as_of=AS_OF)] == [sin.pk]
    assert segment_members("lost", as_of=AS_OF).count() == 0
