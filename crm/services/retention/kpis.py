"""Retention KPIs for the "Retención" page, each computed by one grouped query over real visit days.

Definitions (also written on the page):
- Cohort: the month of a customer's first real visit. Returning rate of cohort C after k months: share of C's
  customers with at least one visit in calendar month C + k (k = 0 is the cohort itself: 100%).
- First -> second visit within N days: among customers whose first visit was at least N days ago (so they all had
  N days to come back), the share whose second visit day came within N days of the first.
- Rebooking rate by category: among customers with at least one visit day in a category, the share with a
  later visit day in the same category (categories compared without case).
The placeholder day of unknown legacy dates never counts (it has no month and no order).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import F
from django.db.models.functions import ExtractMonth, ExtractYear, Lower
from django.utils import timezone

from crm.services.retention.due_back import days_between_sql
from ventas.models import ServiceHistory

COHORT_MONTHS = 12  # cohorts shown
HORIZON_MONTHS = 12  # months since the first visit shown
CONVERSION_WINDOWS = (90, 180)


def _rows(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _month_index(year: int, month: int) -> int:
    return year * 12 + month - 1


def _month_of(index: int) -> datetime.date:
    return datetime.date(index // 12, index % 12 + 1, 1)


@dataclass
class Cohort:
    month: datetime.date
    size: int
    returning: list[float | None] = field(default_factory=list)  # share per k = 1..HORIZON; None: not yet


def cohorts(today: datetime.date | None = None) -> list[Cohort]:
    """The last COHORT_MONTHS cohorts, newest first, with their returning rate k = 1..HORIZON_MONTHS months on."""
    today = today or timezone.localdate()
    visits = (
        ServiceHistory.objects.with_real_dates()
        .filter(service_date__lte=today)
        .order_by()
        .annotate(ym=ExtractYear("service_date") * 12 + ExtractMonth("service_date") - 1)
        .values("cliente_id", "ym")
        .distinct()
    )
    inner, params = visits.query.sql_with_params()
    current = _month_index(today.year, today.month)
    first_cohort = current - COHORT_MONTHS + 1
    rows = _rows(
        f"WITH v AS ({inner}), f AS (SELECT cliente_id, MIN(ym) AS c FROM v GROUP BY cliente_id) "  # noqa: S608
        "SELECT f.c, v.ym - f.c, COUNT(*) FROM v JOIN f ON f.cliente_id = v.cliente_id "
        "WHERE f.c >= %s GROUP BY f.c, v.ym - f.c",
        [*params, first_cohort],
    )
    counts: dict[int, dict[int, int]] = {}
    for cohort, offset, n in rows:
        counts.setdefault(int(cohort), {})[int(offset)] = n
    result = []
    for index in range(current, first_cohort - 1, -1):
        by_offset = counts.get(index, {})
        size = by_offset.get(0, 0)
        returning = [
            (by_offset.get(k, 0) / size if size else 0.0) if index + k <= current else None
            for k in range(1, HORIZON_MONTHS + 1)
        ]
        result.append(Cohort(month=_month_of(index), size=size, returning=returning))
    return result


@dataclass(frozen=True)
class Conversion:
    days: int
    eligible: int
    converted: int

    @property
    def rate(self) -> float:
        return self.converted / self.eligible if self.eligible else 0.0


def second_visit_conversion(today: datetime.date | None = None) -> list[Conversion]:
    """First -> second visit within each of CONVERSION_WINDOWS days (one query)."""
    today = today or timezone.localdate()
    days = (
        ServiceHistory.objects.with_real_dates()
        .filter(service_date__lte=today)
        .order_by()
        .values("cliente_id", "service_date")
        .distinct()
    )
    inner, params = days.query.sql_with_params()
    gap = days_between_sql("s.second_day", "f.first_day")
    age = days_between_sql("%s::date" if connection.vendor == "postgresql" else "%s", "f.first_day")
    selects, extra = [], []
    for window in CONVERSION_WINDOWS:
        selects.append(f"SUM(CASE WHEN {age} >= %s THEN 1 ELSE 0 END)")
        extra += [today, window]
        selects.append(f"SUM(CASE WHEN {age} >= %s AND s.second_day IS NOT NULL AND {gap} <= %s THEN 1 ELSE 0 END)")
        extra += [today, window, window]
    sql = (
        f"WITH d AS ({inner}), f AS (SELECT cliente_id, MIN(service_date) AS first_day FROM d GROUP BY cliente_id), "  # noqa: S608
        "s AS (SELECT d.cliente_id, MIN(d.service_date) AS second_day FROM d JOIN f ON f.cliente_id = d.cliente_id "
        "WHERE d.service_date > f.first_day GROUP BY d.cliente_id) "
        f"SELECT {', '.join(selects)} FROM f LEFT JOIN s ON s.cliente_id = f.cliente_id"
    )
    row = _rows(sql, [*params, *extra])[0]
    return [
        Conversion(days=window, eligible=int(row[2 * i] or 0), converted=int(row[2 * i + 1] or 0))
        for i, window in enumerate(CONVERSION_WINDOWS)
    ]


@dataclass(frozen=True)
class Rebooking:
    category: str
    customers: int
    rebooked: int

    @property
    def rate(self) -> float:
        return self.rebooked / self.customers if self.customers else 0.0


def rebooking_by_category(today: datetime.date | None = None) -> list[Rebooking]:
    """Per category: customers with a visit day in it, and those with two or more (one query)."""
    today = today or timezone.localdate()
    rows = (
        ServiceHistory.objects.with_real_dates()
        .filter(service_date__lte=today)
        .order_by()
        .annotate(cat=Lower("service_type"), label=F("service_type"))
        .values("cliente_id", "cat", "label", "service_date")
    )
    inner, params = rows.query.sql_with_params()
    result = [
        Rebooking(label, int(n), int(rebooked or 0))
        for _, label, n, rebooked in _rows(
            f"WITH d AS ({inner}), c AS (SELECT cliente_id, cat, MIN(label) AS label, "  # noqa: S608
            "COUNT(DISTINCT service_date) AS n FROM d GROUP BY cliente_id, cat) "
            "SELECT cat, MIN(label), COUNT(*), SUM(CASE WHEN n >= 2 THEN 1 ELSE 0 END) FROM c GROUP BY cat",
            params,
        )
    ]
    result.sort(key=lambda item: (-item.customers, item.category))
    return result
