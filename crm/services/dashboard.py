"""The dashboard selector: every figure staff see on `/ventas/crm/`, read from the summary tables.

The summaries (`crm.services.summaries`) are kept exact by every write the CRM makes and by the periodic
refresh; the page says when they last changed. No query here reads the history table.

Between two changes every request would compute the same page, so `dashboard_page` gives the template a
version token (`dashboard_version`, one cheap query) and lazy figures: the template caches its body under
the token and computes the figures only when that version is not cached yet, once per process (a lock).
The token moves with every write that changes a figure: a summary refresh or a deleted customer
(`SummaryState.refreshed_at`), a new customer (highest customer id), the retention jobs (they rewrite their
tables: highest ids, the CLV model id), the day and the RFM thresholds.
"""

import datetime
import hashlib
import threading
from dataclasses import dataclass
from decimal import Decimal

from django.core.cache import cache
from django.db import connection
from django.db.models import Sum
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from crm.models import CustomerValue, DueBack, MonthlyServiceSummary, SegmentSnapshot, SummaryState
from crm.services.charts import BarChart, bar_chart
from crm.services.retention.report import RetentionHighlights, retention_highlights
from crm.services.rfm import score_rule
from crm.services.segments import SegmentShare, segment_distribution
from ventas.formatting import format_clp, format_number
from ventas.models import Cliente

MONTHS_SHOWN = 24
TOP_SERVICES = 5
MONTH_ABBREVIATIONS = ["ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"]
MONTH_NAMES = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
]


@dataclass(frozen=True)
class MonthFigures:
    month: datetime.date  # first day of the month
    services: int
    revenue: Decimal

    @property
    def name(self) -> str:
        return f"{MONTH_NAMES[self.month.month - 1]} {self.month.year}"


@dataclass(frozen=True)
class ServiceFigures:
    name: str
    services: int
    revenue: Decimal
    revenue_share: float = 0.0


@dataclass(frozen=True)
class DashboardStats:
    as_of: datetime.date
    total_customers: int
    customers_with_history: int
    customers_without_history: int
    this_month: MonthFigures
    same_month_last_year: MonthFigures
    total_services: int
    total_revenue: Decimal
    average_ticket: Decimal
    top_services: list[ServiceFigures]
    categories: list[ServiceFigures]
    months: list[MonthFigures]
    revenue_chart: BarChart
    segments: list[SegmentShare]
    refreshed_at: datetime.datetime | None  # when the summaries last changed; None: never built


def add_months(day: datetime.date, months: int) -> datetime.date:
    """First day of the month `months` away from `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return datetime.date(index // 12, index % 12 + 1, 1)


def monthly_revenue(as_of: datetime.date, months: int = MONTHS_SHOWN) -> list[MonthFigures]:
    """Services and revenue for each of the last `months` calendar months up to as_of's month, oldest first.

    Months without services are present with zeros. Rows on the placeholder date are left out (unknown month).
    """
    start = add_months(as_of, -(months - 1))
    end = add_months(as_of, 1)
    rows = (
        MonthlyServiceSummary.objects.filter(dated=True, month__gte=start, month__lt=end)
        .values("month")
        .annotate(services=Sum("services"), revenue=Sum("revenue"))
        .order_by("month")
    )
    found = {_as_date(row["month"]): row for row in rows}
    result = []
    for offset in range(months):
        month = add_months(start, offset)
        row = found.get(month, {})
        result.append(MonthFigures(month, row.get("services", 0), Decimal(row.get("revenue") or 0)))
    return result


def _as_date(value) -> datetime.date:
    return value.date() if isinstance(value, datetime.datetime) else value


def service_figures() -> tuple[list[ServiceFigures], list[ServiceFigures]]:
    """(categories, services), each by revenue over the whole history (placeholder dates included).

    One query grouped by (category, service) on the monthly summary; the few dozen resulting rows are folded
    per category here.
    """
    rows = (
        MonthlyServiceSummary.objects.order_by()
        .values("service_type", "service_name")
        .annotate(services=Sum("services"), revenue=Sum("revenue"))
    )
    services: dict[str, list] = {}
    categories: dict[str, list] = {}
    for row in rows:
        for key, bucket in ((row["service_name"], services), (row["service_type"], categories)):
            figures = bucket.setdefault(key, [0, Decimal(0)])
            figures[0] += row["services"]
            figures[1] += Decimal(row["revenue"] or 0)

    def ranked(bucket):
        ordered = sorted(bucket.items(), key=lambda item: (-item[1][1], -item[1][0], item[0]))
        return [ServiceFigures(name, count, revenue) for name, (count, revenue) in ordered]

    return ranked(categories), ranked(services)


def dashboard_stats(as_of: datetime.date | None = None) -> DashboardStats:
    """All dashboard figures as of a date (default today in Santiago), in six small queries on the summaries.

    Service and category figures cover the whole history. `as_of` places the month window and the recency
    scores; the other figures are the summaries' (the history as of today).

    - customers: total, with and without history, and per RFM segment (customers, lifetime revenue);
    - this calendar month and the same month last year (services, revenue), from the 24-month series;
    - services and revenue by category over the whole history, whose sums give the total and the average
      ticket (revenue / services); top 5 services by revenue over the whole history.
    """
    as_of = as_of or timezone.localdate()
    state = SummaryState.objects.filter(pk=1).first()
    segments = segment_distribution(as_of, state=state)
    months = monthly_revenue(as_of)
    categories, services = service_figures()
    total_services = sum(category.services for category in categories)
    total_revenue = sum((category.revenue for category in categories), Decimal(0))
    categories = [
        ServiceFigures(c.name, c.services, c.revenue, float(c.revenue / total_revenue) if total_revenue else 0.0)
        for c in categories
    ]
    total_customers = sum(share.customers for share in segments)
    without_history = next(share.customers for share in segments if share.segment.key == "no_history")

    points = [
        (
            f"{MONTH_ABBREVIATIONS[m.month.month - 1]} {m.month:%y}",
            m.revenue,
            f"{m.name}: {format_clp(m.revenue)} en {format_number(m.services)} servicios",
        )
        for m in months
    ]
    return DashboardStats(
        as_of=as_of,
        total_customers=total_customers,
        customers_with_history=total_customers - without_history,
        customers_without_history=without_history,
        this_month=months[-1],
        same_month_last_year=months[-13],
        total_services=total_services,
        total_revenue=total_revenue,
        average_ticket=total_revenue / total_services if total_services else Decimal(0),
        top_services=services[:TOP_SERVICES],
        categories=categories,
        months=months,
        revenue_chart=bar_chart(points, label_every=3),
        segments=segments,
        refreshed_at=state.refreshed_at if state else None,
    )


def dashboard_version(as_of: datetime.date) -> str:
    """A token that changes whenever a dashboard figure can change (one query of index lookups).

    `SummaryState.refreshed_at` moves with every summary refresh and every deleted customer; the highest
    customer id with every new customer; the retention tables are rewritten whole by their jobs (due-back
    refresh, segment snapshots, CLV fit), so their highest id (the CLV model's id) moves with every run.
    """
    quote = connection.ops.quote_name
    tables = {model: quote(model._meta.db_table) for model in (SummaryState, Cliente, DueBack, SegmentSnapshot)}
    sql = (
        f"SELECT (SELECT refreshed_at FROM {tables[SummaryState]} WHERE id = 1), "  # noqa: S608 model metadata only
        f"(SELECT MAX(id) FROM {tables[Cliente]}), (SELECT MAX(id) FROM {tables[DueBack]}), "
        f"(SELECT MAX(model_id) FROM {quote(CustomerValue._meta.db_table)}), "
        f"(SELECT MAX(id) FROM {tables[SegmentSnapshot]})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    text = "|".join(str(value) for value in (as_of, score_rule(), *row))
    return hashlib.sha256(text.encode()).hexdigest()[:32]  # a plain cache key on any backend


@dataclass(frozen=True)
class DashboardPage:
    """What the dashboard template needs: the version its cached body is keyed by, and the figures, computed
    on first use (only when that version is not cached)."""

    version: str
    stats: DashboardStats
    retention: RetentionHighlights


FIGURES_SECONDS = 24 * 60 * 60  # a version is keyed by its day: it is never read after that day
_computing = threading.Lock()


def _figures(version: str, as_of: datetime.date) -> tuple[DashboardStats, RetentionHighlights]:
    """The figures of `version`, computed once per process however many threads miss it at the same moment
    (after a refresh, every busy thread would otherwise run the same dozen queries at once)."""
    key = f"crm:dashboard:figures:{version}"
    figures = cache.get(key)
    if figures is None:
        with _computing:
            figures = cache.get(key)
            if figures is None:
                figures = (dashboard_stats(as_of), retention_highlights(as_of))
                cache.set(key, figures, FIGURES_SECONDS)
    return figures


def dashboard_page(as_of: datetime.date | None = None) -> DashboardPage:
    as_of = as_of or timezone.localdate()
    version = dashboard_version(as_of)
    return DashboardPage(
        version=version,
        stats=SimpleLazyObject(lambda: _figures(version, as_of)[0]),
        retention=SimpleLazyObject(lambda: _figures(version, as_of)[1]),
    )


def warm_figures(as_of: datetime.date | None = None) -> None:
    """Compute today's figures into the cache (a new worker's first dashboard then only renders)."""
    as_of = as_of or timezone.localdate()
    _figures(dashboard_version(as_of), as_of)
