"""Can this customer receive a proposal now? One answer for the profile's send panel, the send view and campaigns.

The rules, in order; the first that refuses wins:

1. Consent: a customer who opted out (`Cliente.acepta_marketing` off) is refused with `CustomerOptedOut`; one
   under a temporary block or objecting to profiling (Ley 21.719) with `CustomerRestricted`.
2. Email: an address Django's `validate_email` rejects (or one holding a line break) gives `NoValidEmail`.
3. Frequency cap: a customer sent a proposal less than PROPOSAL_MIN_DAYS_BETWEEN days ago gives
   `RecentlyContacted`, which staff may override by confirming (`force=True`); campaigns never force.

Each rule is a function `(cliente, last_sent_at, now) -> SendRefused | None` that reads only the customer row
and the time of the last proposal sent, so the campaign preview can apply the same rules to a whole audience
fetched in one query.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from crm.models import Proposal
from crm.services.mail.errors import (
    CustomerOptedOut,
    CustomerRestricted,
    NoValidEmail,
    RecentlyContacted,
    SendRefused,
)
from crm.services.mail.mailer import LINE_BREAKS
from ventas.formatting import format_date
from ventas.models import Cliente

Rule = Callable[[Cliente, datetime.datetime | None, datetime.datetime], SendRefused | None]


def has_valid_email(email: str) -> bool:
    if not email or LINE_BREAKS.search(email):
        return False
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True


def consent(cliente: Cliente, last_sent_at: datetime.datetime | None, now: datetime.datetime) -> SendRefused | None:
    if cliente.acepta_marketing:
        return None
    when = f" el {format_date(cliente.fecha_baja)}" if cliente.fecha_baja else ""
    return CustomerOptedOut(f"{cliente.nombre} se dio de baja de las propuestas{when}; no se le puede escribir.")


def restriction(cliente: Cliente, last_sent_at: datetime.datetime | None, now: datetime.datetime) -> SendRefused | None:
    if not cliente.profiling_restricted:
        return None
    return CustomerRestricted(
        f"{cliente.nombre} pidió bloquear sus datos u objetó el perfilamiento (Ley 21.719): no se le envían "
        "propuestas mientras siga vigente."
    )


def valid_email(cliente: Cliente, last_sent_at: datetime.datetime | None, now: datetime.datetime) -> SendRefused | None:
    if has_valid_email(cliente.email):
        return None
    return NoValidEmail(f"{cliente.nombre} no tiene un email válido registrado.")


def frequency_cap(
    cliente: Cliente, last_sent_at: datetime.datetime | None, now: datetime.datetime
) -> SendRefused | None:
    days = settings.PROPOSAL_MIN_DAYS_BETWEEN
    if days <= 0 or last_sent_at is None or last_sent_at < now - datetime.timedelta(days=days):
        return None
    return RecentlyContacted(
        f"{cliente.nombre} recibió una propuesta el {format_date(last_sent_at)}, hace menos de {days} días. "
        "Confirma si quieres enviarle otra."
    )


RULES: list[Rule] = [
    consent,
    restriction,
    valid_email,
    frequency_cap,
]


def refusal(
    cliente: Cliente,
    *,
    last_sent_at: datetime.datetime | None,
    force: bool = False,
    now: datetime.datetime | None = None,
    rules: Sequence[Rule] | None = None,
) -> SendRefused | None:
    """The first refusal of the rules (None: the customer can receive a proposal now).

    `last_sent_at`: when the customer was last sent a proposal (see `last_contact`). `force`: staff confirmed,
    so refusals that only need a confirmation (the frequency cap) are passed over.
    """
    now = now or timezone.now()
    for rule in RULES if rules is None else rules:
        refused = rule(cliente, last_sent_at, now)
        if refused is not None and not (force and refused.needs_confirmation):
            return refused
    return None


def last_contact(cliente_id: int, *, exclude_proposal: int | None = None) -> datetime.datetime | None:
    qs = Proposal.objects.filter(cliente_id=cliente_id, sent_at__isnull=False)
    if exclude_proposal:
        qs = qs.exclude(pk=exclude_proposal)
    return qs.order_by("-sent_at").values_list("sent_at", flat=True).first()


def with_last_sent_at(customers: QuerySet[Cliente]) -> QuerySet[Cliente]:
    """Customers annotated with `last_sent_at`, the time of their last proposal sent (one subquery)."""
    last = Proposal.objects.filter(cliente=OuterRef("pk"), sent_at__isnull=False).order_by("-sent_at")
    return customers.annotate(last_sent_at=Subquery(last.values("sent_at")[:1]))


def check_can_receive(cliente: Cliente, *, force: bool = False, exclude_proposal: int | None = None) -> None:
    """Raise the first refusal of the rules for this customer (one query for the last contact)."""
    last = last_contact(cliente.pk, exclude_proposal=exclude_proposal)
    refused = refusal(cliente, last_sent_at=last, force=force)
    if refused is not None:
        raise refused
