"""A customer's history aggregated per service: live for one customer, in bulk for training and evaluation."""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Case, Count, Max, Sum, Value, When

from crm.services.recommender.catalogue import Catalogue
from ventas.models import ServiceHistory

real_date_q = ServiceHistory.objects.real_date_q


@dataclass
class ServiceUse:
    name: str
    category: str
    rows: int = 0
    days: int = 0
    last: datetime.date | None = None
    spent: int = 0


@dataclass
class CustomerHistory:
    uses: dict[str, ServiceUse] = field(default_factory=dict)  # by catalogue key (Catalogue.key_of)
    visit_days: int = 0  # distinct real dates

    @property
    def rows(self) -> int:
        return sum(use.rows for use in self.uses.values())

    @property
    def spent(self) -> int:
        return sum(use.spent for use in self.uses.values())

    @property
    def last_visit(self) -> datetime.date | None:
        return max((use.last for use in self.uses.values() if use.last), default=None)

    def last_basket(self) -> set[str]:
        """Keys of the services taken on the last real visit day."""
        last = self.last_visit
        return {key for key, use in self.uses.items() if last and use.last == last}

    def category_rows(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for use in self.uses.values():
            totals[use.category] += use.rows
        return dict(totals)

    def add(self, row: dict, catalogue: Catalogue) -> None:
        key = catalogue.key_of(row["service_name"])
        use = self.uses.get(key)
        if use is None:
            category = catalogue.category_of_key.get(key) or row["service_type"] or "Otros"
            use = self.uses[key] = ServiceUse(name=row["service_name"], category=category)
        use.rows += row["rows"]
        use.days += row["days"]
        use.spent += int(row["spent"] or 0)
        if row["last"] and (use.last is None or row["last"] > use.last):
            use.last = row["last"]


def per_service_totals(queryset, *extra_group):
    """Rows, distinct real days, last real date and spend per service (and per `extra_group` columns)."""
    return (
        queryset.order_by()
        .values(*extra_group, "service_name", "service_type")
        .annotate(
            rows=Count("id"),
            days=Count("service_date", distinct=True, filter=real_date_q()),
            last=Max("service_date", filter=real_date_q()),
            spent=Sum("price_paid"),
        )
    )


def customer_history(cliente_id: int, catalogue: Catalogue, *, before: datetime.date) -> CustomerHistory:
    """The customer's services strictly before `before`, aggregated per service (two grouped queries)."""
    rows = ServiceHistory.objects.filter(cliente_id=cliente_id, service_date__lt=before)
    history = CustomerHistory()
    for row in per_service_totals(rows):
        history.add(row, catalogue)
    history.visit_days = rows.filter(real_date_q()).aggregate(n=Count("service_date", distinct=True))["n"] or 0
    return history


def histories_by_period(
    catalogue: Catalogue, bounds: list[datetime.date], *, clientes
) -> list[dict[int, CustomerHistory]]:
    """For each of `bounds` (ascending): the history strictly before it of every customer in `clientes` (a
    queryset of ids), from two grouped queries. Days and visits are disjoint across periods, so they add up."""
    period = Case(
        *(When(service_date__lt=bound, then=Value(index)) for index, bound in enumerate(bounds)),
        default=Value(len(bounds)),
    )
    rows = ServiceHistory.objects.filter(service_date__lt=bounds[-1], cliente_id__in=clientes).annotate(period=period)
    by_period: list[dict[int, CustomerHistory]] = [defaultdict(CustomerHistory) for _ in bounds]
    for row in per_service_totals(rows, "period", "cliente_id"):
        for index in range(row["period"], len(bounds)):
            by_period[index][row["cliente_id"]].add(row, catalogue)
    for period_index, cliente_id, days in (
        rows.filter(real_date_q())
        .order_by()
        .values("period", "cliente_id")
        .annotate(n=Count("service_date", distinct=True))
        .values_list("period", "cliente_id", "n")
    ):
        for index in range(period_index, len(bounds)):
            by_period[index][cliente_id].visit_days += days
    return [dict(histories) for histories in by_period]
