"""Summary tables of `crm_service_history`: build them, refresh them incrementally, verify them.

Pages read these tables instead of aggregating a million history rows per request:

- `CustomerSummary`, one row per customer with history: first/last real service, days with a visit, services,
  money spent, the next future-dated service, a watermark (row count, highest id) and R/F/M + segment;
- `MonthlyServiceSummary`, services and revenue per (month, category, service); placeholder-dated rows apart;
- `SummaryState`, one row: when the tables were built/refreshed, the day the stored scores are for, and the
  highest history id seen.

Exact and fresh, by this rule:

- Figures count the rows dated up to the refresh day, exactly as `crm.services.rfm` does for today. R depends
  on the day, so the stored scores are those of `SummaryState.scored_on`; readers compare it with the day they
  want and otherwise score the stored figures live with the same expressions (`rfm.score_expressions`), so a
  page is exact even before the daily refresh ran. The daily job (`refresh_daily`, 00:00 Santiago) counts the
  rows whose future date has come (`upcoming_service`) and rescores everyone as of the new day.
- Writes the CRM makes refresh the customers and months they touch in the same transaction: admin edits of a
  history row (signal receivers below) and the demo loader (`refresh_customers(ids)`, or `rebuild()` after a
  bulk load). The importer commits a transaction per batch and refreshes everything its batches touched once,
  in its last transaction: while it runs, the summaries lag the rows it has committed.
- Writes the legacy system makes straight into the table are found by `sync_legacy_changes` (periodic, every
  5 minutes): rows past the highest id seen, and per-customer row counts when the total count moved (deletes).
  In-place edits of old rows are not visible that way: the nightly `rebuild()` catches them.

Every refresh first locks the `SummaryState` row, so two refreshes never interleave their DELETE/INSERT.
Aggregation is set-based SQL (INSERT ... SELECT ... GROUP BY) on SQLite and PostgreSQL: the per-customer
select is the RFM query of `rfm.py` with a few more aggregates; the monthly one groups by day and service in
the ORM, then by month in a small outer query. The periodic jobs are registered in `crm/tasks.py`.

Cost at scale 40 (1M history rows, PostgreSQL, busy 2-core machine): full rebuild 3-7 s; 500 customers and
one month after 1,000 new rows ~0.4 s; one admin edit ~0.1-0.3 s; `sync_legacy_changes` with nothing to do
~0.4 s (one count of the history). Pass `months=` to `refresh_customers`: without it every month of those
customers is recomputed (seconds for hundreds of customers).
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from crm.models import CustomerSummary, MonthlyServiceSummary, SummaryState
from crm.services import conversions
from crm.services.rfm import (
    rfm_by_customer,
    score_expressions,
    score_rule,
    scored_summaries,
    segment_expression,
    with_rfm,
)
from ventas.models import Cliente, ServiceHistory
from ventas.signals import history_written

logger = logging.getLogger(__name__)

CHUNK = 500  # ids per statement on SQLite: well under its parameter limit
# On PostgreSQL: planning each statement and the ORM compiling it cost more than the ids; refreshing 7,520
# customers took 0.87-0.93 s in chunks of 500 and 0.47-0.51 s in chunks of 5,000.
CHUNK_POSTGRESQL = 5000

CUSTOMER_COLUMNS = [
    "cliente_id",
    "first_service",
    "last_service",
    "visit_days",
    "frequency",
    "monetary",
    "upcoming_service",
    "history_rows",
    "history_max_id",
    "r",
    "f",
    "m",
    "segment",
]
MONTH_COLUMNS = ["month", "dated", "service_type", "service_name", "services", "revenue"]


@dataclass(frozen=True)
class RefreshReport:
    customers: int  # customer rows written
    months: int  # months recomputed (None bucket counts as one)
    seconds: float


# --- Building blocks: each one statement ---


def _customer_rows(today: datetime.date, scored_on: datetime.date, cliente_ids: list[int] | None) -> QuerySet:
    """One row per customer with history, in CUSTOMER_COLUMNS order: figures up to `today`, scores as of
    `scored_on` (the day every stored score is for)."""
    history = ServiceHistory.objects.order_by()
    if cliente_ids is not None:
        history = history.filter(cliente_id__in=cliente_ids)
    real = Q(service_date__lte=today) & ~Q(service_date=settings.HISTORY_PLACEHOLDER_DATE)
    rows = (
        with_rfm(history.values("cliente_id"), today, "")
        .annotate(
            visit_days=Count("service_date", filter=real, distinct=True),
            upcoming_service=Min("service_date", filter=Q(service_date__gt=today)),
            history_rows=Count("id"),
            history_max_id=Max("id"),
        )
        .annotate(**{f"scored_{k}": v for k, v in _scores(scored_on).items()})
    )
    rows = rows.annotate(
        scored_segment=segment_expression(r="scored_r", f="scored_f", m="scored_m", frequency="frequency")
    )
    return rows.values_list(*CUSTOMER_COLUMNS[:9], "scored_r", "scored_f", "scored_m", "scored_segment")


def _scores(as_of: datetime.date) -> dict:
    return score_expressions(as_of, last_service="last_service", frequency="frequency", monetary="monetary")


def _month_rows(months: list[datetime.date] | None) -> tuple[str, list]:
    """SQL and params of (month, dated, category, service, services, revenue) for every history row of the
    given months (all if None).

    Grouped twice: by day and service first (plain columns hash fast), then the few thousand day rows by month,
    so the month arithmetic runs on those rows only, not on every history row.
    """
    history = ServiceHistory.objects.order_by()
    if months is not None:
        in_months = Q(pk__in=[])
        for month in months:
            in_months |= Q(service_date__gte=month, service_date__lt=_next_month(month))
        history = history.filter(in_months)
    days = history.values("service_date", "service_type", "service_name").annotate(
        services=Count("id"), revenue=Sum("price_paid")
    )
    inner, params = days.query.sql_with_params()
    month = MONTH_OF_DATE[connection.vendor].format(column="days.service_date")
    sql = (
        f"SELECT {month}, days.service_date <> %s, days.service_type, days.service_name, "  # noqa: S608
        f"SUM(days.services), SUM(days.revenue) FROM ({inner}) days GROUP BY 1, 2, 3, 4"
    )
    return sql, [settings.HISTORY_PLACEHOLDER_DATE, *params]


MONTH_OF_DATE = {
    "postgresql": "CAST(date_trunc('month', CAST({column} AS timestamp)) AS date)",
    "sqlite": "date({column}, 'start of month')",
}


def _insert(model, columns: list[str], rows: QuerySet | tuple[str, list]) -> int:
    sql, params = rows if isinstance(rows, tuple) else rows.query.sql_with_params()
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({names}) {sql}", params)
        return cursor.rowcount


def _next_month(day: datetime.date) -> datetime.date:
    return datetime.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _month_of(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def _locked_state() -> SummaryState:
    """The state row, locked until the surrounding transaction ends (created on first use)."""
    SummaryState.objects.get_or_create(pk=1)
    return SummaryState.objects.select_for_update().get(pk=1)


def _scoring_day(state: SummaryState, today: datetime.date) -> datetime.date:
    """Rows refreshed between two daily rescorings are scored as of the same day as all the others."""
    if state.scored_on and state.scored_on <= today and state.score_rule == score_rule():
        return state.scored_on
    return today


def _segment_totals() -> dict[str, list]:
    """Customers and revenue per stored segment (one GROUP BY over the summary), for the dashboard."""
    rows = (
        CustomerSummary.objects.exclude(segment="no_history")
        .order_by()
        .values("segment")
        .annotate(customers=Count("cliente_id"), revenue=Sum("monetary"))
    )
    return {row["segment"]: [row["customers"], str(row["revenue"])] for row in rows}


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    size = CHUNK_POSTGRESQL if connection.vendor == "postgresql" else CHUNK
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _faster_sorts() -> None:
    """More memory for the one big GROUP BY of a rebuild, so it sorts in memory (PostgreSQL; this transaction)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '128MB'")


# --- The jobs ---


def rebuild(*, today: datetime.date | None = None) -> RefreshReport:
    """Recompute every summary from the whole history (three statements plus bookkeeping), in one transaction."""
    started = time.perf_counter()
    today = today or timezone.localdate()
    with transaction.atomic():
        state = _locked_state()
        _faster_sorts()
        max_id = ServiceHistory.objects.aggregate(top=Max("id"))["top"] or 0
        CustomerSummary.objects.all().delete()
        customers = _insert(CustomerSummary, CUSTOMER_COLUMNS, _customer_rows(today, today, None))
        MonthlyServiceSummary.objects.all().delete()
        _insert(MonthlyServiceSummary, MONTH_COLUMNS, _month_rows(None))
        now = timezone.now()
        state.built_at = state.refreshed_at = now
        state.scored_on, state.score_rule, state.history_max_id = today, score_rule(), max_id
        state.segment_totals = _segment_totals()
        state.save()
        conversions.refresh()
    report = RefreshReport(customers=customers, months=-1, seconds=time.perf_counter() - started)
    logger.info("Summaries rebuilt: %s customers in %.2f s", customers, report.seconds)
    return report


def refresh_customers(
    cliente_ids: Iterable[int],
    *,
    months: Iterable[datetime.date] | None = None,
    today: datetime.date | None = None,
) -> RefreshReport:
    """Recompute the summary rows of these customers and the monthly rows of `months`, in one transaction
    (the caller's, when there is one: call it right after writing history).

    `months` are any dates of the months whose rows changed (e.g. the service dates written); None means every
    month these customers have rows in (always right, broader). For the importer and the demo loader.
    """
    started = time.perf_counter()
    today = today or timezone.localdate()
    ids = sorted({int(pk) for pk in cliente_ids})
    with transaction.atomic():
        state = _locked_state()
        scored_on = _scoring_day(state, today)
        if months is None:
            months = _months_of_customers(ids)
        month_list = sorted({_month_of(day) for day in months})
        written = 0
        for chunk in _chunks(ids):
            CustomerSummary.objects.filter(cliente_id__in=chunk).delete()
            written += _insert(CustomerSummary, CUSTOMER_COLUMNS, _customer_rows(today, scored_on, chunk))
        _refresh_months(month_list)
        conversions.refresh(ids)
        state.refreshed_at = timezone.now()
        if state.scored_on is None:
            state.scored_on, state.score_rule = scored_on, score_rule()
        state.segment_totals = _segment_totals()
        state.save(update_fields=["refreshed_at", "scored_on", "score_rule", "segment_totals"])
    return RefreshReport(customers=written, months=len(month_list), seconds=time.perf_counter() - started)


def _months_of_customers(ids: list[int]) -> set[datetime.date]:
    months: set[datetime.date] = set()
    for chunk in _chunks(ids):
        rows = (
            ServiceHistory.objects.filter(cliente_id__in=chunk)
            .order_by()
            .annotate(month=TruncMonth("service_date"))
            .values_list("month", flat=True)
            .distinct()
        )
        months.update(_as_date(month) for month in rows)
    return months


def _as_date(value) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, str):
        return datetime.date.fromisoformat(value[:10])
    return value


def _refresh_months(months: list[datetime.date]) -> None:
    for start in range(0, len(months), 24):
        chunk = months[start : start + 24]
        MonthlyServiceSummary.objects.filter(month__in=chunk).delete()
        _insert(MonthlyServiceSummary, MONTH_COLUMNS, _month_rows(chunk))


def refresh_daily(*, today: datetime.date | None = None) -> RefreshReport:
    """The new day: count the rows whose (future) date has come, then rescore everyone as of today.

    The rescoring writes only the rows whose scores change (recency moves a few thousand customers a day).
    """
    started = time.perf_counter()
    today = today or timezone.localdate()
    due = list(CustomerSummary.objects.filter(upcoming_service__lte=today).values_list("cliente_id", flat=True))
    if due:
        refresh_customers(due, today=today)
    with transaction.atomic():
        state = _locked_state()
        scores = _scores(today)
        changed = CustomerSummary.objects.all()
        if state.score_rule == score_rule():  # same thresholds: only recency can have moved
            changed = changed.annotate(new_r=scores["r"]).exclude(new_r=F("r"))
        ids = list(changed.values_list("cliente_id", flat=True))
        for chunk in _chunks(ids):
            rows = CustomerSummary.objects.filter(cliente_id__in=chunk)
            rows.update(**scores)
            rows.update(segment=segment_expression(r="r", f="f", m="m", frequency="frequency"))
        state.scored_on, state.score_rule, state.refreshed_at = today, score_rule(), timezone.now()
        state.segment_totals = _segment_totals()
        state.save()
    return RefreshReport(customers=len(ids) + len(due), months=0, seconds=time.perf_counter() - started)


def sync_legacy_changes(*, today: datetime.date | None = None) -> RefreshReport:
    """Refresh what the legacy system changed straight in `crm_service_history` since the last look.

    Cheap when nothing moved: the highest id (an index lookup), then the total row count against the summary's
    per-customer counts. New rows: their customers and months. A count that does not add up (rows deleted or
    inserted below the highest id): customers whose count or highest id differ, and every month.
    Never built yet: a full rebuild.
    """
    started = time.perf_counter()
    state = SummaryState.objects.filter(pk=1).first()
    if state is None or state.built_at is None:
        return rebuild(today=today)
    top = ServiceHistory.objects.aggregate(top=Max("id"))["top"] or 0
    written = months = 0
    if top > state.history_max_id:
        new = ServiceHistory.objects.filter(id__gt=state.history_max_id, id__lte=top).order_by()
        ids = list(new.values_list("cliente_id", flat=True).distinct())
        new_months = new.annotate(m=TruncMonth("service_date")).values_list("m", flat=True).distinct()
        new_months = {_as_date(month) for month in new_months}
        report = refresh_customers(ids, months=new_months, today=today)
        written, months = report.customers, report.months
    total = ServiceHistory.objects.count()
    counted = CustomerSummary.objects.aggregate(rows=Sum("history_rows"))["rows"] or 0
    if total != counted:
        moved = _customers_out_of_step()
        report = refresh_customers(moved, months=_all_months(), today=today)
        written, months = written + report.customers, report.months
    with transaction.atomic():
        state = _locked_state()
        state.history_max_id = max(state.history_max_id, top)
        state.save(update_fields=["history_max_id"])
    return RefreshReport(customers=written, months=months, seconds=time.perf_counter() - started)


def _customers_out_of_step() -> list[int]:
    """Customers whose history row count or highest id differs from their summary row (either side missing)."""
    actual = dict(
        (row[0], (row[1], row[2]))
        for row in ServiceHistory.objects.order_by()
        .values("cliente_id")
        .annotate(n=Count("id"), top=Max("id"))
        .values_list("cliente_id", "n", "top")
        .iterator(chunk_size=5000)
    )
    summarised = dict(
        (row[0], (row[1], row[2]))
        for row in CustomerSummary.objects.values_list("cliente_id", "history_rows", "history_max_id").iterator(
            chunk_size=5000
        )
    )
    return [pk for pk in actual.keys() | summarised.keys() if actual.get(pk) != summarised.get(pk)]


def _all_months() -> set[datetime.date]:
    history = ServiceHistory.objects.order_by().annotate(m=TruncMonth("service_date"))
    found = {_as_date(m) for m in history.values_list("m", flat=True).distinct()}
    return found | {_as_date(m) for m in MonthlyServiceSummary.objects.values_list("month", flat=True).distinct()}


def last_refreshed() -> datetime.datetime | None:
    """When the summaries last changed (any refresh, or a customer deleted), or None if they were never built."""
    return SummaryState.objects.filter(pk=1).values_list("refreshed_at", flat=True).first()


# --- Verification ---


@dataclass(frozen=True)
class Mismatch:
    cliente_id: int
    summary: tuple
    raw: tuple


def verify(*, today: datetime.date | None = None, limit: int = 20) -> list[Mismatch]:
    """Compare every customer's summary (stored and live scores) with the raw RFM query of `rfm.py` for today.

    Returns up to `limit` mismatches (empty when the summaries are exact). Reads both sides in id order.
    """
    today = today or timezone.localdate()
    fields = ("last_service", "frequency", "monetary", "r", "f", "m", "segment")
    raw = {
        row[0]: tuple(row[1:])
        for row in rfm_by_customer(today).values_list("cliente_id", *fields).iterator(chunk_size=5000)
    }
    mismatches = []
    for stored in (None, False):
        summary = (
            scored_summaries(today, stored=stored)
            .filter(frequency__gt=0)
            .values_list("cliente_id", *fields[:3], "rfm_r", "rfm_f", "rfm_m", "rfm_segment")
        )
        seen = set()
        for row in summary.iterator(chunk_size=5000):
            seen.add(row[0])
            expected = raw.get(row[0])
            if expected is None or _normalised(row[1:]) != _normalised(expected):
                mismatches.append(Mismatch(row[0], tuple(row[1:]), expected or ()))
        mismatches += [Mismatch(pk, (), raw[pk]) for pk in raw.keys() - seen]
        if len(mismatches) >= limit:
            break
    return mismatches[:limit]


def _normalised(values: tuple) -> tuple:
    last, frequency, monetary, *rest = values
    return (_as_date(last) if last else None, int(frequency), round(float(monetary), 2), *rest)


# --- Admin edits of history rows: refresh in the same transaction ---


def _before_history_save(sender, instance, **kwargs):
    instance._summary_before = None
    if instance.pk:
        instance._summary_before = (
            ServiceHistory.objects.filter(pk=instance.pk).values_list("cliente_id", "service_date").first()
        )


def _after_history_save(sender, instance, **kwargs):
    touched = [(instance.cliente_id, instance.service_date)]
    if getattr(instance, "_summary_before", None):
        touched.append(instance._summary_before)
    refresh_customers([c for c, _ in touched], months=[_as_date(d) for _, d in touched])


# Rows deleted by a cascade (a customer deleted in the admin), keyed by the object that started the delete:
# refreshed once when the customers themselves are deleted, not once per row.
_CASCADED: dict[int, set[tuple[int, datetime.date]]] = {}


def _after_history_delete(sender, instance, origin=None, **kwargs):
    touched = (instance.cliente_id, _as_date(instance.service_date))
    if isinstance(origin, Cliente) or getattr(origin, "model", None) is Cliente:  # a customer or a queryset of them
        _CASCADED.setdefault(id(origin), set()).add(touched)
        return
    refresh_customers([touched[0]], months=[touched[1]])


def _after_customer_delete(sender, instance, origin=None, **kwargs):
    touched = _CASCADED.pop(id(origin), None)  # the history goes before the customers in a cascade
    if touched:
        refresh_customers({pk for pk, _ in touched}, months={day for _, day in touched})
    else:
        # No summary row moved, but the customer count did ("Sin historial"): the dashboard's cached page is
        # keyed by `refreshed_at` (crm.services.dashboard.dashboard_version), so say the figures changed.
        SummaryState.objects.filter(pk=1).update(refreshed_at=timezone.now())


def connect_signals() -> None:
    """Called from CrmConfig.ready(): every ServiceHistory saved or deleted through Django refreshes its customer
    and month in the same transaction (QuerySet.update() and raw SQL are left to `sync_legacy_changes`)."""
    from django.db.models.signals import post_delete, post_save, pre_save

    pre_save.connect(_before_history_save, sender=ServiceHistory, dispatch_uid="summaries_before_save")
    post_save.connect(_after_history_save, sender=ServiceHistory, dispatch_uid="summaries_after_save")
    post_delete.connect(_after_history_delete, sender=ServiceHistory, dispatch_uid="summaries_after_delete")
    post_delete.connect(_after_customer_delete, sender=Cliente, dispatch_uid="summaries_after_customer_delete")
    history_written.connect(_after_bulk_write, dispatch_uid="summaries_after_bulk_write")


def _after_bulk_write(sender=None, *, cliente_ids=None, dates=None, **kwargs) -> None:
    """Bulk writes (imports, demo loader) announce what they wrote, inside their transaction."""
    if cliente_ids is None:
        rebuild()
    elif cliente_ids:
        refresh_customers(cliente_ids, months=dates)
