"""What proposals achieved: sent, failed, opted out and converted, per segment and per campaign (in the DB).

A sent proposal *converted* when its customer has a service in history (real dates only) on the day of the
email or within PROPOSAL_CONVERSION_DAYS days after it (dates in America/Santiago): the first such visit is
stored on the proposal (`next_visit_on`, crm.services.conversions), so these figures never read the history.
It counts as *opted out* when the customer unsubscribed at or after the moment it was sent.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db.models import (
    BooleanField,
    Count,
    DateField,
    ExpressionWrapper,
    F,
    FloatField,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Cast, NullIf, TruncDate

from crm.models import Proposal

SENT = Proposal.Status.SENT


@dataclass(frozen=True)
class ProposalFilters:
    status: str = ""
    segment: str = ""
    backend: str = ""
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    campaign_id: int | None = None


def with_conversion(proposals: QuerySet[Proposal]) -> QuerySet[Proposal]:
    """Annotate `converted`: a sent proposal whose customer's first real-dated visit since the email's day
    (`next_visit_on`, kept by crm.services.conversions) falls within the conversion window."""
    sent_day = TruncDate("sent_at")  # the local (America/Santiago) day of the email
    return proposals.annotate(
        sent_day=sent_day,
        conversion_end=ExpressionWrapper(
            sent_day + Value(datetime.timedelta(days=settings.PROPOSAL_CONVERSION_DAYS)), output_field=DateField()
        ),
    ).annotate(
        converted=ExpressionWrapper(
            Q(next_visit_on__isnull=False, next_visit_on__lte=F("conversion_end")), output_field=BooleanField()
        )
    )


def filtered_proposals(filters: ProposalFilters) -> QuerySet[Proposal]:
    """Proposals matching the filters (creation date in local time), annotated with `converted` and `campaign_id`."""
    proposals = Proposal.objects.all()
    if filters.status:
        proposals = proposals.filter(status=filters.status)
    if filters.segment:
        proposals = proposals.filter(segment=filters.segment)
    if filters.backend:
        proposals = proposals.filter(backend=filters.backend)
    if filters.date_from:
        proposals = proposals.filter(created_at__date__gte=filters.date_from)
    if filters.date_to:
        proposals = proposals.filter(created_at__date__lte=filters.date_to)
    if filters.campaign_id:
        proposals = proposals.filter(campaign_recipient__campaign_id=filters.campaign_id)
    return with_conversion(proposals).annotate(campaign_id=F("campaign_recipient__campaign_id"))


def _figures() -> dict:
    sent = Q(status=SENT)
    return {
        "generated": Count("id"),
        "sent": Count("id", filter=sent),
        "failed": Count("id", filter=Q(status=Proposal.Status.FAILED)),
        "opted_out": Count("id", filter=sent & Q(cliente__fecha_baja__gte=F("sent_at"))),
        "converted": Count("id", filter=sent & Q(converted=True)),
    }


def _with_rate(rows: QuerySet) -> QuerySet:
    return rows.annotate(
        conversion_rate=Cast(F("converted"), FloatField()) / NullIf(Cast(F("sent"), FloatField()), Value(0.0))
    )


def results_by_segment(proposals: QuerySet[Proposal]) -> list[dict]:
    rows = proposals.order_by().values("segment").annotate(**_figures())
    return list(_with_rate(rows).order_by("segment"))


def results_by_campaign(proposals: QuerySet[Proposal]) -> list[dict]:
    """One row per campaign; proposals sent from the customer profile are the row with `campaign_id` None."""
    rows = proposals.order_by().values("campaign_id").annotate(**_figures())
    return list(_with_rate(rows).order_by(F("campaign_id").desc(nulls_last=True)))


def totals(by_segment: list[dict]) -> dict:
    """Overall figures: the sum of the per-segment rows (every proposal has exactly one segment)."""
    keys = ("generated", "sent", "failed", "opted_out", "converted")
    figures = {key: sum(row[key] for row in by_segment) for key in keys}
    figures["conversion_rate"] = figures["converted"] / figures["sent"] if figures["sent"] else None
    return figures
