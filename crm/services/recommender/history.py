"""A customer's history aggregated per service: live for one customer, in bulk for training and evaluation."""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Max, Sum

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


def histories_before(catalogue: Catalogue, *, before: datetime.date, clientes) -> dict[int, CustomerHistory]:
    """Every customer's history strictly before `before`, for the customers of `clientes` (a values_list
    queryset of ids), in two grouped queries."""
    rows = ServiceHistory.objects.filter(service_date__lt=before, cliente_id__in=clientes)
    histories: dict[int, CustomerHistory] = defaultdict(CustomerHistory)
    for row in per_service_totals(rows, "cliente_id"):
        histories[row["cliente_id"]].add(row, catalogue)
    for cliente_id, days in (
        rows.filter(real_date_q())
        .order_by()
        .values("cliente_id")
        .annotate(n=Count("service_date", distinct=True))
        .values_list("cliente_id", "n")
    ):
        histories[cliente_id].visit_days = days
    return dict(histories)
