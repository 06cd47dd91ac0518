"""How customers and revenue spread over the RFM segments (dashboard, `rfm_segments` command)."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, Sum

from crm.services.rfm import SEGMENTS, Segment, rfm_by_customer
from ventas.models import Cliente


@dataclass(frozen=True)
class SegmentShare:
    segment: Segment
    customers: int
    revenue: Decimal
    customers_share: float  # 0..1 of all customers
    revenue_share: float  # 0..1 of all revenue


def segment_distribution(as_of: datetime.date | None = None) -> list[SegmentShare]:
    """Customers and lifetime revenue per segment, in SEGMENTS order, from two queries.

    The segments of customers with history are counted in the database over the per-customer RFM rows
    grouped on the history table alone (no join with every customer); "Sin historial" is the rest.
    """
    aggregates = {}
    for key in SEGMENTS:
        if key != "no_history":
            aggregates[f"{key}__customers"] = Count("cliente_id", filter=Q(segment=key))
            aggregates[f"{key}__revenue"] = Sum("monetary", filter=Q(segment=key))
    totals = rfm_by_customer(as_of).aggregate(**aggregates)
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
