"""The "Retención" page as one selector, its CSV downloads, and the customer lists it links to."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import QuerySet, Sum
from django.utils import timezone

from crm.models import CustomerValue
from crm.services.charts import BarChart, bar_chart
from crm.services.csv_export import DEFAULT_SEPARATOR, csv_decimal, csv_writer
from crm.services.customers import csv_safe
from crm.services.retention import due_back, kpis, movement
from crm.services.rfm import SEGMENTS
from ventas.models import Cliente

HEAT_LEVELS = 5


def heat_level(share: float | None) -> int | None:
    """0..5 colour step of a returning-rate cell (None for months that have not happened yet)."""
    if share is None:
        return None
    return min(HEAT_LEVELS, int(share * 100 // 10))


def _percent_axis(value: float) -> str:
    return f"{round(value * 100)}%"


@dataclass
class RetentionReport:
    as_of: datetime.date
    cohorts: list[kpis.Cohort]
    conversions: list[kpis.Conversion]
    rebooking: list[kpis.Rebooking]
    rebooking_chart: BarChart
    movement_month: datetime.date | None
    movements: list[movement.Movement]
    overdue: int

    @property
    def horizon(self) -> range:
        return range(1, kpis.HORIZON_MONTHS + 1)

    @property
    def cohort_rows(self) -> list[tuple[kpis.Cohort, list[tuple[float | None, int | None]]]]:
        return [(cohort, [(share, heat_level(share)) for share in cohort.returning]) for cohort in self.cohorts]


def retention_report(today: datetime.date | None = None) -> RetentionReport:
    today = today or timezone.localdate()
    rebooking = kpis.rebooking_by_category(today)
    month = movement.latest_month()
    return RetentionReport(
        as_of=today,
        cohorts=kpis.cohorts(today),
        conversions=kpis.second_visit_conversion(today),
        rebooking=rebooking,
        rebooking_chart=bar_chart(
            [(item.category, item.rate, f"{item.category}: {round(item.rate * 100)}%") for item in rebooking],
            axis_format=_percent_axis,
        ),
        movement_month=month,
        movements=[m for m in movement.movement_matrix(month) if m.source != m.target] if month else [],
        overdue=due_back.overdue_count(today),
    )


CSV_TABLES = {"cohortes", "conversion", "recompra"}


def write_csv(table: str, out, today: datetime.date | None = None, sep: str = DEFAULT_SEPARATOR) -> None:
    """One of the page's tables as CSV (shares as decimals in the file's locale, see `crm.services.csv_export`)."""
    writer = csv_writer(out, sep)
    if table == "cohortes":
        writer.writerow(["cohorte", "clientes", *[f"mes_{k}" for k in range(1, kpis.HORIZON_MONTHS + 1)]])
        for cohort in kpis.cohorts(today):
            shares = ["" if share is None else csv_decimal(share, sep) for share in cohort.returning]
            writer.writerow([cohort.month.strftime("%m-%Y"), cohort.size, *shares])
    elif table == "conversion":
        writer.writerow(["dias", "clientes_elegibles", "volvieron", "tasa"])
        for item in kpis.second_visit_conversion(today):
            writer.writerow([item.days, item.eligible, item.converted, csv_decimal(item.rate, sep)])
    elif table == "recompra":
        writer.writerow(["categoria", "clientes", "repitieron", "tasa"])
        for item in kpis.rebooking_by_category(today):
            writer.writerow([csv_safe(item.category), item.customers, item.rebooked, csv_decimal(item.rate, sep)])
    else:
        raise KeyError(table)


# --- customer lists the page links to -------------------------------------------------------------------


def overdue_list(today: datetime.date | None = None) -> QuerySet:
    """Overdue (customer, category) rows, the most overdue first, with the customer's name and contact."""
    return (
        due_back.overdue_rows(today).select_related("cliente").order_by("overdue_since", "cliente__nombre", "category")
    )


def movement_list(source: str, target: str, month: datetime.date | None = None) -> QuerySet[Cliente]:
    """Customers who moved from `source` (a key, or "valiosos" for VIP/Champions/Leales) to `target`."""
    sources = movement.VALUABLE if source == "valiosos" else (source,)
    for key in (*sources, target):
        if key not in SEGMENTS:
            raise KeyError(key)
    return movement.moved(sources, target, month).order_by("nombre", "id")


@dataclass
class RetentionHighlights:
    """The dashboard's retention figures: three small queries over stored results, never the history."""

    overdue: int
    forecast_12_months: int | None  # sum of every customer's expected value in 365 days; None before fit_clv
    movement_month: datetime.date | None
    valuable_to_at_risk: int
    movements: list[movement.Movement]


def retention_highlights(today: datetime.date | None = None) -> RetentionHighlights:
    today = today or timezone.localdate()
    forecast = CustomerValue.objects.aggregate(total=Sum("expected_value_365d"))["total"]
    month = movement.latest_month()
    moves = [m for m in movement.movement_matrix(month) if m.source != m.target] if month else []
    to_risk = sum(m.count for m in moves if m.source in movement.VALUABLE and m.target == "at_risk")
    return RetentionHighlights(
        overdue=due_back.overdue_count(today),
        forecast_12_months=int(forecast) if forecast is not None else None,
        movement_month=month,
        valuable_to_at_risk=to_risk,
        movements=sorted(moves, key=lambda m: -m.count)[:8],
    )
