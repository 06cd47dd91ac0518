"""Selectors for one customer: the 360° profile and the service history (page and CSV)."""

import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import ExtractYear
from django.utils import timezone

from crm.services.charts import BarChart, bar_chart
from crm.services.csv_export import DEFAULT_SEPARATOR, csv_writer
from crm.services.pagination import paginate
from crm.services.rfm import RFMResult, annotate_rfm
from ventas.formatting import csv_safe, format_clp, format_date, format_number
from ventas.models import Cliente, ServiceHistory

RECENT_DAYS = 180
RECENT_SERVICES = 10
FAVOURITE_CATEGORIES = 3
HISTORY_PAGE_SIZE = 50
CSV_COLUMNS = ["fecha", "categoria", "servicio", "cantidad", "precio_pagado", "reserva", "temporada"]


@dataclass(frozen=True)
class CategoryFigures:
    name: str
    services: int
    spent: Decimal


@dataclass(frozen=True)
class YearFigures:
    year: int
    services: int
    spent: Decimal


@dataclass(frozen=True)
class Customer360:
    cliente: Cliente
    rfm: RFMResult
    as_of: datetime.date
    total_services: int
    services_last_180_days: int
    total_spent: Decimal
    average_ticket: Decimal
    first_service: datetime.date | None
    last_service: datetime.date | None
    days_as_customer: int | None
    favourite_categories: list[CategoryFigures]
    recent_services: list[ServiceHistory]
    spend_by_year: list[YearFigures]
    undated_spent: Decimal  # spend on rows with the legacy placeholder date, not attributable to a year
    spend_chart: BarChart

    @property
    def thresholds(self) -> dict[str, list[int]]:
        """The RFM thresholds in force, to explain the scores to staff."""
        return {
            "recency": settings.RFM_RECENCY_DAYS,
            "frequency": settings.RFM_FREQUENCY,
            "monetary": settings.RFM_MONETARY,
        }


def customer_360(cliente_id: int, as_of: datetime.date | None = None) -> Customer360:
    """Everything the profile page shows about one customer, in four queries.

    Raises Cliente.DoesNotExist for an unknown id. First/last service and recency use real dates only;
    totals and averages include rows on the placeholder date. "Days as customer" runs from the first real
    service to as_of.
    """
    as_of = as_of or timezone.localdate()
    since = as_of - datetime.timedelta(days=RECENT_DAYS)
    cliente = annotate_rfm(Cliente.objects.filter(pk=cliente_id).select_related("valor"), as_of).annotate(
        services_last_180_days=Count(
            "historial_servicios",
            filter=Q(historial_servicios__service_date__gte=since, historial_servicios__service_date__lte=as_of)
            & ~Q(historial_servicios__service_date=settings.HISTORY_PLACEHOLDER_DATE),
        )
    )
    cliente = cliente.get()
    rfm = RFMResult.from_annotated(cliente)

    history = ServiceHistory.objects.filter(cliente_id=cliente.pk)
    favourites = [
        CategoryFigures(row["service_type"], row["services"], Decimal(row["spent"] or 0))
        for row in history.values("service_type")
        .annotate(services=Count("id"), spent=Sum("price_paid"))
        .order_by("-services", "-spent", "service_type")[:FAVOURITE_CATEGORIES]
    ]
    recent = list(history.order_by("-service_date", "-id")[:RECENT_SERVICES])
    years = [
        YearFigures(row["year_of"], row["services"], Decimal(row["spent"] or 0))
        for row in history.with_real_dates()
        .annotate(year_of=ExtractYear("service_date"))
        .values("year_of")
        .annotate(services=Count("id"), spent=Sum("price_paid"))
        .order_by("year_of")
    ]
    dated_spent = sum((year.spent for year in years), Decimal(0))
    chart = bar_chart(
        [
            (str(y.year), y.spent, f"{y.year}: {format_clp(y.spent)} en {format_number(y.services)} servicios")
            for y in years
        ],
        width=360,
        height=160,
    )
    return Customer360(
        cliente=cliente,
        rfm=rfm,
        as_of=as_of,
        total_services=rfm.frequency,
        services_last_180_days=cliente.services_last_180_days,
        total_spent=rfm.monetary,
        average_ticket=rfm.monetary / rfm.frequency if rfm.frequency else Decimal(0),
        first_service=cliente.first_service,
        last_service=rfm.last_service,
        days_as_customer=(as_of - cliente.first_service).days if cliente.first_service else None,
        favourite_categories=favourites,
        recent_services=recent,
        spend_by_year=years,
        undated_spent=rfm.monetary - dated_spent,
        spend_chart=chart,
    )


@dataclass(frozen=True)
class HistoryFilters:
    category: str = ""
    year: int | None = None


def filtered_history(cliente_id: int, filters: HistoryFilters) -> QuerySet[ServiceHistory]:
    """One customer's services, newest first, by category (exact) and calendar year (real dates only)."""
    rows = ServiceHistory.objects.filter(cliente_id=cliente_id)
    if filters.category:
        rows = rows.filter(service_type=filters.category)
    if filters.year:
        # A date range, not the legacy `year` column: it uses the (cliente_id, service_date) index and is
        # always right, and placeholder dates (year unknown) are left out.
        rows = rows.with_real_dates().filter(
            service_date__gte=datetime.date(filters.year, 1, 1), service_date__lt=datetime.date(filters.year + 1, 1, 1)
        )
    return rows.order_by("-service_date", "-id")


@dataclass(frozen=True)
class HistoryPage:
    cliente: Cliente
    filters: HistoryFilters
    categories: list[str]
    years: list[int]
    total_services: int
    total_spent: Decimal
    page: object  # django.core.paginator.Page of ServiceHistory


def history_page(cliente: Cliente, filters: HistoryFilters, page_number=1) -> HistoryPage:
    """A page of 50 services with the totals of the whole filtered set; the totals double as the page count."""
    rows = filtered_history(cliente.pk, filters)
    totals = rows.order_by().aggregate(services=Count("id"), spent=Sum("price_paid"))
    all_rows = ServiceHistory.objects.filter(cliente_id=cliente.pk).order_by()
    categories = list(all_rows.values_list("service_type", flat=True).distinct().order_by("service_type"))
    years = [day.year for day in all_rows.with_real_dates().dates("service_date", "year", order="DESC")]
    return HistoryPage(
        cliente=cliente,
        filters=filters,
        categories=categories,
        years=years,
        total_services=totals["services"],
        total_spent=Decimal(totals["spent"] or 0),
        page=paginate(rows, page_number, HISTORY_PAGE_SIZE, count=totals["services"]),
    )


def write_history_csv(rows: QuerySet[ServiceHistory], out, sep: str = DEFAULT_SEPARATOR) -> None:
    """CSV of history rows: dates as 26-10-2025 (empty when unknown), amounts as plain integers (CLP has no
    decimals), text cells defused against formula injection; `sep` as in `crm.services.csv_export`."""
    writer = csv_writer(out, sep)
    writer.writerow(CSV_COLUMNS)
    placeholder = settings.HISTORY_PLACEHOLDER_DATE
    for row in rows.iterator(chunk_size=500):
        writer.writerow(
            [
                "" if row.service_date == placeholder else format_date(row.service_date),
                csv_safe(row.service_type),
                csv_safe(row.service_name),
                row.quantity,
                int(row.price_paid.quantize(Decimal(1), rounding=ROUND_HALF_UP)),
                csv_safe(row.reserva_id),
                csv_safe(row.season),
            ]
        )
