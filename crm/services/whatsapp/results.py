"""What the WhatsApp tray achieved, aggregated in the database.

A tray item *converted* when its customer has a new history row (real date) from the tray's day up to
PROPOSAL_CONVERSION_DAYS days after it; its revenue is what those rows paid. Contacted items (an outcome meaning
a message went out) are compared with the holdout items (drawn the same way, never contacted): conversion uplift
with a 95% Newcombe interval and revenue-per-customer uplift with a 95% Welch interval
(crm.services.retention.uplift). Reply rate per template and per operator: items answered (interested, booked,
later, NO) over items contacted; booked = converted.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db.models import (
    Count,
    DateField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from crm.models import PlantillaWhatsApp, TrayItem
from crm.services.retention.uplift import Uplift, conversion_uplift, mean_uplift
from crm.services.whatsapp.outcomes import REPLIED
from ventas.models import ServiceHistory


def _window_rows():
    return ServiceHistory.objects.with_real_dates().filter(
        cliente_id=OuterRef("cliente_id"),
        service_date__gte=OuterRef("tray__day"),
        service_date__lte=OuterRef("window_end"),
    )


def with_conversion(items: QuerySet[TrayItem]) -> QuerySet[TrayItem]:
    """Annotate `converted` (bool) and `revenue` (Decimal) over the conversion window of each item."""
    revenue = _window_rows().order_by().values("cliente_id").annotate(total=Sum("price_paid")).values("total")[:1]
    money = DecimalField(max_digits=14, decimal_places=2)
    return items.annotate(
        window_end=ExpressionWrapper(
            F("tray__day") + Value(datetime.timedelta(days=settings.PROPOSAL_CONVERSION_DAYS)),
            output_field=DateField(),
        )
    ).annotate(
        converted=Exists(_window_rows()),
        revenue=Coalesce(Subquery(revenue, output_field=money), Value(0), output_field=money),
    )


@dataclass(frozen=True)
class Group:
    customers: int
    converted: int
    revenue: float
    revenue_sq: float

    @property
    def conversion_rate(self) -> float | None:
        return self.converted / self.customers if self.customers else None

    @property
    def revenue_per_customer(self) -> float | None:
        return self.revenue / self.customers if self.customers else None


@dataclass(frozen=True)
class WhatsAppResults:
    contacted: Group
    holdout: Group
    conversion: Uplift | None
    revenue: Uplift | None
    by_template: list[dict]
    by_operator: list[dict]
    conversion_days: int


def _group(rows: dict | None) -> Group:
    rows = rows or {}
    return Group(
        customers=rows.get("n") or 0,
        converted=rows.get("conv") or 0,
        revenue=float(rows.get("rev") or 0),
        revenue_sq=float(rows.get("rev_sq") or 0),
    )


def whatsapp_results(since: datetime.date | None = None) -> WhatsAppResults:
    """Contacted vs holdout, and reply rates per template and per operator (four grouped queries)."""
    items = TrayItem.objects.all()
    if since:
        items = items.filter(tray__day__gte=since)
    measured = with_conversion(items.filter(Q(holdout=True) | Q(contacted_at__isnull=False)))
    groups = {
        row["holdout"]: row
        for row in measured.order_by()
        .values("holdout")
        .annotate(
            n=Count("id"),
            conv=Count("id", filter=Q(converted=True)),
            rev=Sum("revenue"),
            rev_sq=Sum(F("revenue") * F("revenue")),
        )
    }
    contacted, holdout = _group(groups.get(False)), _group(groups.get(True))
    answered = Q(outcome__in=REPLIED)
    figures = {
        "contacted": Count("id"),
        "replied": Count("id", filter=answered),
        "booked": Count("id", filter=Q(converted=True)),
    }
    sent = with_conversion(items.filter(holdout=False, contacted_at__isnull=False))
    by_template = list(
        sent.order_by().values("template_id", "template__nombre").annotate(**figures).order_by("template__nombre")
    )
    by_operator = list(
        sent.order_by().values("operator_id", "operator__username").annotate(**figures).order_by("operator__username")
    )
    for row in (*by_template, *by_operator):
        row["reply_rate"] = row["replied"] / row["contacted"] if row["contacted"] else None
    return WhatsAppResults(
        contacted=contacted,
        holdout=holdout,
        conversion=conversion_uplift(contacted.converted, contacted.customers, holdout.converted, holdout.customers),
        revenue=mean_uplift(
            contacted.revenue,
            contacted.revenue_sq,
            contacted.customers,
            holdout.revenue,
            holdout.revenue_sq,
            holdout.customers,
        ),
        by_template=by_template,
        by_operator=by_operator,
        conversion_days=settings.PROPOSAL_CONVERSION_DAYS,
    )


def template_counts() -> QuerySet[PlantillaWhatsApp]:
    """Templates annotated with `sent`, `replied` and `booked` (for the admin list)."""
    sent = with_conversion(
        TrayItem.objects.filter(template_id=OuterRef("pk"), holdout=False, contacted_at__isnull=False)
    )

    def count(qs):
        return Coalesce(Subquery(qs.order_by().values("template_id").annotate(n=Count("id")).values("n")[:1]), Value(0))

    return PlantillaWhatsApp.objects.annotate(
        sent=count(sent),
        replied=count(sent.filter(outcome__in=REPLIED)),
        booked=count(sent.filter(converted=True)),
    )
