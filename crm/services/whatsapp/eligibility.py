"""Who may be in a day's WhatsApp tray. Every rule is a filter on the customer table, so the tray asks for
eligible customers with one query per tier and never loads customers it will not show.

The rules (all must hold):

1. A valid Chilean mobile in E.164: `+569` followed by 8 digits.
2. WhatsApp consent not withdrawn: the customer's latest WhatsApp event in the consent ledger is not a
   withdrawal (no event at all is fine: the number was given to Aremko to be contacted).
3. Not restricted (Ley 21.719): no temporary block and no objection to profiling.
4. Not contacted in the last CONTACT_GAP_DAYS (30) days: no tray item of theirs within that window was
   contacted or drawn for the control group (a control customer counts as contacted for this rule, so the
   control group stays uncontacted for the whole conversion window).
5. Fewer than MAX_ATTEMPTS (3) attempts in the current contact cycle (see WhatsAppContact).
6. Not snoozed ("más adelante") on that day.
7. Their number is not the one marked as wrong ("número equivocado").
"""

from __future__ import annotations

import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet

from crm.models import TrayItem, WhatsAppContact
from ventas.models import Cliente, ConsentEvent, ServiceHistory

MOBILE_REGEX = r"^\+569[0-9]{8}$"
CONTACT_GAP_DAYS = 30
MAX_ATTEMPTS = 3


def whatsapp_withdrawn() -> QuerySet[Cliente]:
    """Customers whose latest WhatsApp consent event is a withdrawal (for trays, and WhatsApp audiences)."""
    later = ConsentEvent.objects.filter(
        cliente_id=OuterRef("cliente_id"), channel=ConsentEvent.Channel.WHATSAPP
    ).filter(Q(created_at__gt=OuterRef("created_at")) | Q(created_at=OuterRef("created_at"), pk__gt=OuterRef("pk")))
    latest_withdrawals = ConsentEvent.objects.filter(channel=ConsentEvent.Channel.WHATSAPP, granted=False).exclude(
        Exists(later)
    )
    return Cliente.objects.filter(pk__in=latest_withdrawals.values("cliente_id"))


def recently_contacted(today: datetime.date) -> QuerySet[TrayItem]:
    since = today - datetime.timedelta(days=CONTACT_GAP_DAYS)
    return TrayItem.objects.filter(tray__day__gt=since, tray__day__lte=today).filter(
        Q(contacted_at__isnull=False) | Q(holdout=True)
    )


def eligible_customers(today: datetime.date) -> QuerySet[Cliente]:
    """Customers who may be put in the tray of `today` (rules in the module docstring)."""
    blocked_state = WhatsAppContact.objects.filter(
        Q(attempts__gte=MAX_ATTEMPTS) | Q(snoozed_until__gt=today) | Q(wrong_phone=OuterRef("telefono")),
        cliente_id=OuterRef("pk"),
    )
    return (
        Cliente.objects.filter(telefono__regex=MOBILE_REGEX, bloqueo_desde__isnull=True, oposicion_desde__isnull=True)
        .exclude(pk__in=whatsapp_withdrawn().values("pk"))
        .exclude(pk__in=recently_contacted(today).values("cliente_id"))
        .exclude(Exists(blocked_state))
    )


def restart_cycles_after_visits() -> int:
    """A customer who came back since their cycle started starts a new one (attempts back to 0)."""
    came_back = ServiceHistory.objects.with_real_dates().filter(
        cliente_id=OuterRef("cliente_id"), service_date__gt=OuterRef("cycle_started_on")
    )
    return (
        WhatsAppContact.objects.filter(attempts__gt=0, cycle_started_on__isnull=False)
        .filter(Exists(came_back))
        .update(attempts=0, cycle_started_on=None)
    )
