"""Segment movement: a monthly snapshot of every customer's RFM segment, and the matrix of who moved where.

A snapshot of month M holds each customer's segment as of the first day of M (the exact raw RFM query of
crm/services/rfm.py for that day, written with one INSERT ... SELECT). The worker takes one on the 1st of each
month; `take_snapshot()` also runs on demand, and `backfill()` fills the last 12 months the first time (history
carries the dates, so a past month's segments are reproducible). Customers without history are not stored: their
segment is "Sin historial" by definition and they never move until their first visit.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from crm.models import SegmentSnapshot
from crm.services.rfm import SEGMENTS, rfm_by_customer
from ventas.models import Cliente

# "Pasaron de Champions/Leales/VIP a En riesgo": the movement staff most want to act on.
VALUABLE = ("vip", "champions", "loyal")
BACKFILL_MONTHS = 12


def month_start(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def previous_month(month: datetime.date) -> datetime.date:
    return month_start(month - datetime.timedelta(days=1))


def take_snapshot(month: datetime.date | None = None) -> int:
    """(Re)write the snapshot of `month` (default: this month). Returns the number of customers stored."""
    month = month_start(month or timezone.localdate())
    rows = rfm_by_customer(as_of=month).values("cliente_id", "segment")
    select_sql, params = rows.query.sql_with_params()
    table = SegmentSnapshot._meta.db_table
    with transaction.atomic():
        SegmentSnapshot.objects.filter(month=month).delete()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (month, cliente_id, segment) "  # noqa: S608 - fixed names, ORM SQL, parameters
                f"SELECT %s, s.cliente_id, s.segment FROM ({select_sql}) s",
                [month, *params],
            )
    return SegmentSnapshot.objects.filter(month=month).count()


def backfill(months: int = BACKFILL_MONTHS, today: datetime.date | None = None) -> list[datetime.date]:
    """Take the snapshots missing among the last `months` months (this month included)."""
    month = month_start(today or timezone.localdate())
    wanted = []
    for _ in range(months):
        wanted.append(month)
        month = previous_month(month)
    present = set(SegmentSnapshot.objects.filter(month__in=wanted).values_list("month", flat=True).distinct())
    taken = [month for month in sorted(wanted) if month not in present]
    for month in taken:
        take_snapshot(month)
    return taken


@dataclass(frozen=True)
class Movement:
    source: str
    target: str
    count: int

    @property
    def source_label(self) -> str:
        return SEGMENTS[self.source].label if self.source in SEGMENTS else self.source

    @property
    def target_label(self) -> str:
        return SEGMENTS[self.target].label if self.target in SEGMENTS else self.target


def movement_matrix(month: datetime.date | None = None) -> list[Movement]:
    """Counts of customers per (segment last month -> segment this month), one grouped self-join query.

    Customers absent last month (their first visit came in between) move from "no_history".
    """
    month = month_start(month or timezone.localdate())
    before = previous_month(month)
    table = SegmentSnapshot._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COALESCE(p.segment, 'no_history'), c.segment, COUNT(*) FROM {table} c "  # noqa: S608
            f"LEFT JOIN {table} p ON p.cliente_id = c.cliente_id AND p.month = %s "
            "WHERE c.month = %s GROUP BY COALESCE(p.segment, 'no_history'), c.segment",
            [before, month],
        )
        return sorted(
            (Movement(source, target, count) for source, target, count in cursor.fetchall()),
            key=lambda m: (
                list(SEGMENTS).index(m.source) if m.source in SEGMENTS else 99,
                list(SEGMENTS).index(m.target) if m.target in SEGMENTS else 99,
            ),
        )


def moved(source: str | tuple[str, ...], target: str, month: datetime.date | None = None) -> QuerySet[Cliente]:
    """Customers who were in `source` (one key or several) last month and are in `target` this month."""
    month = month_start(month or timezone.localdate())
    sources = (source,) if isinstance(source, str) else tuple(source)
    was = SegmentSnapshot.objects.filter(month=previous_month(month), segment__in=sources).values("cliente_id")
    now = SegmentSnapshot.objects.filter(month=month, segment=target).values("cliente_id")
    return Cliente.objects.filter(pk__in=was).filter(pk__in=now)


def segment_path(cliente_id: int, months: int = BACKFILL_MONTHS) -> list[tuple[datetime.date, str]]:
    """The customer's segment month by month, oldest first (one query)."""
    rows = (
        SegmentSnapshot.objects.filter(cliente_id=cliente_id)
        .order_by("-month")
        .values_list("month", "segment")[:months]
    )
    return list(reversed(rows))


def latest_month() -> datetime.date | None:
    """The month of the newest snapshot (None before the first one)."""
    return SegmentSnapshot.objects.order_by("-month").values_list("month", flat=True).first()
