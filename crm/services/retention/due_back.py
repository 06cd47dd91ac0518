"""Due back: each customer's usual gap per service category, and who is overdue.

Rule (issue 13): for each customer and category with at least 3 real visit days in it, the usual gap is the
median of the days between consecutive visit days in that category; the due date is the last visit plus that gap;
the customer is overdue once more than 25% past it, i.e. when the days since the last visit exceed 1.25 × the gap.
Categories are compared without case (`tinas` = `Tinas`); the placeholder day of unknown legacy dates never counts.

`refresh(as_of)` rebuilds the `DueBack` table in one set-based statement (window functions compute the gaps and
the median in the database, on SQLite and PostgreSQL alike); pages read the table and compare `overdue_since`
with today, so they never scan the history.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from crm.models import DueBack
from ventas.models import Cliente, ServiceHistory

MIN_VISIT_DAYS = 3
OVERDUE_FACTOR = 1.25


def days_between_sql(later: str, earlier: str) -> str:
    """SQL for whole days from the date expression `earlier` to `later`, on SQLite and PostgreSQL (raw queries;
    ORM code uses crm.services.rfm.DaysBetween)."""
    if connection.vendor == "postgresql":
        return f"({later} - {earlier})"
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


def refresh(as_of: datetime.date | None = None) -> int:
    """Rebuild DueBack from the history up to `as_of` (default today). Returns the number of rows written."""
    as_of = as_of or timezone.localdate()
    days = (
        ServiceHistory.objects.with_real_dates()
        .filter(service_date__lte=as_of)
        .order_by()
        .values("cliente_id", "service_type", "service_date")
    )
    days_sql, params = days.query.sql_with_params()
    gap = days_between_sql(
        "service_date", "LAG(service_date) OVER (PARTITION BY cliente_id, cat ORDER BY service_date)"
    )
    # Only ORM-generated SQL and fixed fragments are joined; every value is a parameter.
    sql = f"""
        WITH raw AS ({days_sql}),
        d AS (SELECT cliente_id, LOWER(service_type) AS cat, MIN(service_type) AS label, service_date
              FROM raw GROUP BY cliente_id, LOWER(service_type), service_date),
        g AS (SELECT cliente_id, cat, label, service_date, {gap} AS gap FROM d),
        r AS (SELECT cliente_id, cat, gap,
                     ROW_NUMBER() OVER (PARTITION BY cliente_id, cat ORDER BY gap) AS rn,
                     COUNT(*) OVER (PARTITION BY cliente_id, cat) AS n
              FROM g WHERE gap IS NOT NULL),
        m AS (SELECT cliente_id, cat, AVG(gap) AS median_gap, MAX(n) + 1 AS visit_days FROM r
              WHERE rn IN ((n + 1) / 2, (n + 2) / 2) GROUP BY cliente_id, cat),
        l AS (SELECT cliente_id, cat, MIN(label) AS label, MAX(service_date) AS last_visit FROM d
              GROUP BY cliente_id, cat)
        SELECT m.cliente_id, l.label, m.visit_days, m.median_gap, l.last_visit
        FROM m JOIN l ON l.cliente_id = m.cliente_id AND l.cat = m.cat
        WHERE m.visit_days >= %s
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, MIN_VISIT_DAYS])
        rows = cursor.fetchall()
    objects = [_due_back(*row) for row in rows]
    with transaction.atomic():
        DueBack.objects.all().delete()
        DueBack.objects.bulk_create(objects, batch_size=5000)
    return len(objects)


def _due_back(cliente_id, label, visit_days, median_gap, last_visit) -> DueBack:
    if not isinstance(last_visit, datetime.date):
        last_visit = datetime.date.fromisoformat(str(last_visit)[:10])
    gap = float(median_gap)
    return DueBack(
        cliente_id=cliente_id,
        category=label,
        visit_days=visit_days,
        usual_gap_days=gap,
        last_visit=last_visit,
        due_date=last_visit + datetime.timedelta(days=round(gap)),
        # Overdue when days since the last visit > 1.25 × gap: the first such whole day.
        overdue_since=last_visit + datetime.timedelta(days=math.floor(OVERDUE_FACTOR * gap) + 1),
    )


def overdue_rows(today: datetime.date | None = None) -> QuerySet[DueBack]:
    return DueBack.objects.filter(overdue_since__lte=today or timezone.localdate())


def overdue_customers(today: datetime.date | None = None) -> QuerySet[Cliente]:
    """Customers overdue in at least one category (a plain filter: count it, page it, use it as an audience)."""
    return Cliente.objects.filter(pk__in=overdue_rows(today).values("cliente_id"))


def overdue_count(today: datetime.date | None = None) -> int:
    return overdue_rows(today).values("cliente_id").distinct().count()


@dataclass(frozen=True)
class Rhythm:
    category: str
    usual_gap_days: int
    days_since: int
    overdue: bool

    @property
    def sentence(self) -> str:
        """'Suele venir a Tinas cada ~62 días; su última visita fue hace 95 días'."""
        return (
            f"Suele venir a {self.category} cada ~{_days(self.usual_gap_days)}; "
            f"su última visita fue hace {_days(self.days_since)}"
        )


def _days(n: int) -> str:
    return "1 día" if n == 1 else f"{n} días"


def customer_rhythms(cliente_id: int, today: datetime.date | None = None) -> list[Rhythm]:
    """The customer's rhythms, overdue first, then by how far along the gap they are (one query)."""
    today = today or timezone.localdate()
    rows = DueBack.objects.filter(cliente_id=cliente_id).values_list(
        "category", "usual_gap_days", "last_visit", "overdue_since"
    )
    return sorted_rhythms([rhythm(*row, today=today) for row in rows])


def rhythm(category: str, usual_gap_days: float, last_visit, overdue_since, *, today: datetime.date) -> Rhythm:
    return Rhythm(
        category=category,
        usual_gap_days=round(usual_gap_days),
        days_since=(today - last_visit).days,
        overdue=overdue_since <= today,
    )


def sorted_rhythms(rhythms: list[Rhythm]) -> list[Rhythm]:
    """Overdue first, then by how far along their gap they are."""
    return sorted(rhythms, key=lambda r: (not r.overdue, -(r.days_since / max(r.usual_gap_days, 1)), r.category))
