"""How customers and revenue spread over the RFM segments (dashboard, `rfm_segments` command)."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from crm.models import SummaryState
from crm.services.rfm import SEGMENTS, Segment, rfm_by_customer, scored_summaries, stored_scores_valid
from ventas.models import Cliente


@dataclass(frozen=True)
class SegmentShare:
    segment: Segment
    customers: int
    revenue: Decimal
    customers_share: float  # 0..1 of all customers
    revenue_share: float  # 0..1 of all revenue


def segment_distribution(
    as_of: datetime.date | None = None, *, state: SummaryState | None = None
) -> list[SegmentShare]:
    """Customers and revenue (up to today) per segment as of `as_of` (default today), in SEGMENTS order, from
    the summaries: the per-segment totals kept in `SummaryState` when its stored scores are those of `as_of`,
    else one GROUP BY over the per-customer rows scored live; plus the customer count ("Sin historial").

    Pass the `SummaryState` when the caller already has it (saves a query).
    """
    as_of = as_of or timezone.localdate()
    if state is None:
        state = SummaryState.objects.filter(pk=1).first()
    if stored_scores_valid(as_of, state) and state.segment_totals is not None:
        return _fold(
            {
                f"{key}__{name}": value
                for key, (customers, revenue) in state.segment_totals.items()
                for name, value in (("customers", customers), ("revenue", Decimal(revenue)))
            }
        )
    return _shares(scored_summaries(as_of, stored=False), "rfm_segment")


def segment_distribution_on(day: datetime.date) -> list[SegmentShare]:
    """The same distribution as it was on a past `day`, from the exact raw query over the history (slow at
    scale: for `rfm_segments --as-of`, not for pages)."""
    return _shares(rfm_by_customer(day), "segment")


def _shares(per_customer: QuerySet, segment_field: str) -> list[SegmentShare]:
    """Fold one row per customer into SEGMENTS order: one aggregate with a filtered count and sum per segment
    (works over the raw per-customer aggregate too, which cannot be grouped again) plus the customer count."""
    aggregates = {}
    for key in SEGMENTS:
        if key != "no_history":
            aggregates[f"{key}__customers"] = Count("cliente_id", filter=Q(**{segment_field: key}))
            aggregates[f"{key}__revenue"] = Sum("monetary", filter=Q(**{segment_field: key}))
    return _fold(per_customer.aggregate(**aggregates))


def _fold(totals: dict) -> list[SegmentShare]:
    """Shares in SEGMENTS order from {"<key>__customers": n, "<key>__revenue": x} of customers with history."""
    for key in SEGMENTS:
        totals.setdefault(f"{key}__customers", 0)
        totals[f"{key}__revenue"] = Decimal(totals.get(f"{key}__revenue") or 0)
    with_history = sum(totals[f"{key}__customers"] for key in SEGMENTS if key != "no_history")
    totals["no_history__customers"] = Cliente.objects.count() - with_history
    totals["no_history__revenue"] = Decimal(0)

    all_customers = with_history + totals["no_history__customers"]
    all_revenue = sum(Decimal(totals[f"{key}__revenue"] or 0) for key in SEGMENTS)
    shares = []
    for key, segment in SEGMENTS.items():
        customers = totals[f"{key}__customers"]
        revenue = Decimal(totals[f"{key}__revenue"] or 0)
        shares.append(
            SegmentShare(
                segment=segment,
                customers=customers,
                revenue=revenue,
                customers_share=customers / all_customers if all_customers else 0.0,
                revenue_share=float(revenue / all_revenue) if all_revenue else 0.0,
            )
        )
    return shares
