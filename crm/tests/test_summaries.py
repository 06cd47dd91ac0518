import datetime
import random
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from crm.models import CustomerSummary, MonthlyServiceSummary, SummaryState
from crm.services import summaries
from crm.services.rfm import (
    customers_in_segment,
    customers_in_segment_from_summaries,
    rfm_by_customer,
    scored_summaries,
    segment_members,
    segment_members_from_summaries,
)
from crm.services.segments import segment_distribution, segment_distribution_on
from crm.tests.builders import add_history, make_cliente
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


def raw_months():
    """(month, category, service) -> (services, revenue) straight from the history, placeholder rows apart."""
    rows = {}
    for row in ServiceHistory.objects.all():
        dated = row.service_date != settings.HISTORY_PLACEHOLDER_DATE
        key = (row.service_date.replace(day=1), dated, row.service_type, row.service_name)
        services, revenue = rows.get(key, (0, Decimal(0)))
        rows[key] = (services + 1, revenue + row.price_paid)
    return rows


def summary_months():
    return {
        (row.month, row.dated, row.service_type, row.service_name): (row.services, row.revenue)
        for row in MonthlyServiceSummary.objects.all()
    }


def test_monthly_summary_equals_the_history_grouped_by_month_and_service():
    generated_history()
    summaries.rebuild()
    assert summary_months() == raw_months()


def test_an_admin_edit_refreshes_the_customer_and_both_months_in_the_same_transaction():
    today = timezone.localdate()
    cliente = make_cliente("Edita Ejemplo")
    row = add_history(cliente, service_date=today - datetime.timedelta(days=400), price=600_000)
    summary = CustomerSummary.objects.get(pk=cliente.pk)
    assert (summary.frequency, summary.segment) == (1, "hibernating")

    row.service_date = today - datetime.timedelta(days=3)
    row.save()
    assert CustomerSummary.objects.get(pk=cliente.pk).segment == "promising"
    assert summary_months() == raw_months()  # the old month lost the row, the new one has it

    row.delete()
    assert not CustomerSummary.objects.filter(pk=cliente.pk).exists()
    assert summary_months() == {}


def test_an_edit_that_fails_leaves_the_summary_as_it_was():
    from django.db import transaction

    cliente = make_cliente("Falla Ejemplo")
    add_history(cliente, service_date=timezone.localdate(), price=10_000)
    with pytest.raises(RuntimeError), transaction.atomic():
        add_history(cliente, service_date=timezone.localdate(), price=5_000_000)
        raise RuntimeError("the admin form blew up after saving")
    assert CustomerSummary.objects.get(pk=cliente.pk).monetary == Decimal(10_000)


def test_refresh_customers_after_a_bulk_insert_as_the_importer_calls_it():
    today = timezone.localdate()
    generated_history(customers=12)
    summaries.rebuild()
    cliente = Cliente.objects.first()
    ServiceHistory.objects.bulk_create(
        [
            ServiceHistory(
                cliente=cliente, service_date=today, price_paid=1_000_000, service_type="Tinas", service_name="Nueva"
            )
        ]
    )
    summaries.refresh_customers([cliente.pk], months=[today])
    assert summaries.verify() == []
    assert summary_months() == raw_months()


def test_sync_finds_rows_the_legacy_system_inserted_and_deleted():
    today = timezone.localdate()
    clientes = generated_history(customers=12)
    summaries.rebuild()
    table = ServiceHistory._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (cliente_id, service_type, service_name, service_date, quantity, price_paid) "
            "VALUES (%s, 'Tinas', 'Tina Legado', %s, 1, 900000)",
            [clientes[-1].pk, today],  # a customer without history until now
        )
        cursor.execute(f"DELETE FROM {table} WHERE id = (SELECT MIN(id) FROM {table})")
    report = summaries.sync_legacy_changes()
    assert report.customers >= 2
    assert summaries.verify() == []
    assert summary_months() == raw_months()
    assert summaries.sync_legacy_changes().customers == 0  # nothing moved since


def test_a_future_dated_row_counts_from_its_day_on():
    today = timezone.localdate()
    cliente = make_cliente("Reserva Futura")
    add_history(cliente, service_date=today + datetime.timedelta(days=2), price=100_000)
    assert CustomerSummary.objects.get(pk=cliente.pk).frequency == 0
    summaries.refresh_daily(today=today + datetime.timedelta(days=2))
    summary = CustomerSummary.objects.get(pk=cliente.pk)
    assert (summary.frequency, summary.segment) == (1, "promising")


def test_refresh_summaries_command_rebuilds_and_verifies():
    generated_history(customers=12)
    out = StringIO()
    call_command("refresh_summaries", full=True, verify=True, stdout=out)
    assert "Verificado" in out.getvalue()
    assert SummaryState.objects.get().built_at is not None
    call_command("refresh_summaries", stdout=out)
    assert "Resúmenes actualizados" in out.getvalue()


@pytest.mark.parametrize("stored", [True, False])
def test_campaign_audience_from_summaries_matches_the_raw_audience(stored, django_assert_num_queries):
    generated_history()
    summaries.rebuild()
    for key in ("at_risk", "lost", "promising", "no_history"):
        expected = list(
            customers_in_segment(key).order_by("-monetary", "pk").values_list("pk", "monetary", "r", "f", "m")
        )
        with django_assert_num_queries(1):
            found = list(
                customers_in_segment_from_summaries(key, stored=stored)
                .order_by("-monetary", "pk")
                .values_list("pk", "monetary", "r", "f", "m")
            )
        assert found == expected


def test_dashboard_segment_totals_equal_the_raw_distribution_after_rebuilds_and_edits():
    today = timezone.localdate()
    clientes = generated_history()
    summaries.rebuild()

    def shares(items):
        return [(share.segment.key, share.customers, share.revenue) for share in items]

    assert shares(segment_distribution()) == shares(segment_distribution_on(today))
    add_history(clientes[0], service_date=today, price=2_000_000)  # an admin edit moves one customer
    assert shares(segment_distribution()) == shares(segment_distribution_on(today))
    summaries.refresh_daily(today=today + datetime.timedelta(days=45))  # past every booked-ahead row
    day = today + datetime.timedelta(days=60)  # not the scored day: scored live from the stored figures
    assert shares(segment_distribution(day)) == shares(segment_distribution_on(day))


def test_deleting_a_customer_refreshes_the_months_once_not_once_per_row():
    from django.test.utils import CaptureQueriesContext

    today = timezone.localdate()
    keep = make_cliente("Queda Quintana")
    add_history(keep, service_date=today, price=10_000)
    gone = make_cliente("Borra Barros")
    for days in range(6):
        add_history(gone, service_date=today - datetime.timedelta(days=40 * days), price=20_000)
    with CaptureQueriesContext(connection) as queries:
        gone.delete()
    refreshes = [q for q in queries.captured_queries if "INSERT INTO" in q["sql"] and "crm_customersummary" in q["sql"]]
    assert len(refreshes) == 1
    assert summary_months() == raw_months()
    assert list(CustomerSummary.objects.values_list("cliente_id", flat=True)) == [keep.pk]


def test_deleting_history_rows_in_bulk_through_django_refreshes_them():
    today = timezone.localdate()
    cliente = make_cliente("Masivo Morales")
    for days in range(3):
        add_history(cliente, service_date=today - datetime.timedelta(days=days), price=10_000)
    ServiceHistory.objects.filter(cliente=cliente, service_date__lt=today).delete()
    assert CustomerSummary.objects.get(pk=cliente.pk).frequency == 1
    assert summary_months() == raw_months()
