"""When each sent proposal's customer came back: `Proposal.next_visit_on`, kept in step with the history.

The results page asks, for every sent proposal, whether the customer had a real-dated service from the day of
the email to PROPOSAL_CONVERSION_DAYS after it. Asked of the history on every request, that is one index probe
per proposal (tens of thousands on a busy year); stored, it is a date comparison. The date is the first visit on
or after the email's day (no upper bound), so changing the window needs no recomputation.

Kept exact by the same hooks as the summary tables (crm.services.summaries): every history write the CRM makes
refreshes the proposals of the customers it touched, in the same transaction; the legacy-sync and rebuild jobs
refresh them for writes made outside Django; and a proposal gets its date the moment it is recorded as sent.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import DateTimeField, ExpressionWrapper, F, OuterRef, Q, Subquery
from django.db.models.functions import TruncDate

from crm.models import Proposal
from ventas.models import ServiceHistory

CHUNK = 5000
# The outer proposal's send time, typed so that TruncDate can take the local day of it inside the subquery.
SENT_AT = ExpressionWrapper(OuterRef("sent_at"), output_field=DateTimeField())


def _first_visit_since_sent():
    """The first real-dated service of the proposal's customer on or after the local day it was sent."""
    return Subquery(
        ServiceHistory.objects.with_real_dates()
        .filter(cliente_id=OuterRef("cliente_id"), service_date__gte=TruncDate(SENT_AT))
        .order_by("service_date")
        .values("service_date")[:1]
    )


def refresh(cliente_ids: Iterable[int] | None = None) -> int:
    """Recompute `next_visit_on` of the sent proposals of these customers (None: of every customer); one UPDATE
    per chunk of customers, each an index probe per proposal. Returns the proposals updated."""
    sent = Proposal.objects.filter(sent_at__isnull=False)
    if cliente_ids is None:
        return sent.update(next_visit_on=_first_visit_since_sent())
    ids = sorted({int(pk) for pk in cliente_ids})
    updated = 0
    for start in range(0, len(ids), CHUNK):
        updated += sent.filter(cliente_id__in=ids[start : start + CHUNK]).update(
            next_visit_on=_first_visit_since_sent()
        )
    return updated


def refresh_proposal(proposal_id: int) -> None:
    """A proposal just recorded as sent (a future-dated booking may already be in the history)."""
    Proposal.objects.filter(pk=proposal_id, sent_at__isnull=False).update(next_visit_on=_first_visit_since_sent())


def mismatches(limit: int = 20) -> list[int]:
    """Sent proposals whose stored date differs from the history's answer (for `refresh_summaries --verify`),
    compared in the database."""
    differ = (
        Q(next_visit_on__isnull=True, actual__isnull=False)
        | Q(next_visit_on__isnull=False, actual__isnull=True)
        | Q(next_visit_on__lt=F("actual"))
        | Q(next_visit_on__gt=F("actual"))
    )
    stored = Proposal.objects.filter(sent_at__isnull=False).annotate(actual=_first_visit_since_sent())
    return list(stored.filter(differ).order_by("pk").values_list("pk", flat=True)[:limit])
