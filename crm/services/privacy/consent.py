"""The consent ledger: every change of a customer's consent to commercial messages, append-only.

Email consent also lives in `Cliente.acepta_marketing` (what the sending rules read); this module keeps the two
in step and is the only writer of ConsentEvent besides `Cliente.unsubscribe()` (the unsubscribe link).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from crm.services.privacy.requests import PrivacyError
from ventas.models import Cliente, ConsentEvent

STAFF_TEXT_VERSION = "2026-12"
STAFF_TEXTS = {
    True: "El cliente pidió al personal de Aremko recibir propuestas por este canal.",
    False: "El cliente pidió al personal de Aremko no recibir más propuestas por este canal.",
}
HISTORY_SHOWN = 20


def record_consent(
    *,
    cliente: Cliente,
    channel: str,
    granted: bool,
    source: str,
    user=None,
    text: str = "",
    version: str = "",
) -> ConsentEvent | None:
    """Append one event and, for email, update `acepta_marketing`/`fecha_baja` in the same transaction.

    Returns None (and records nothing) when the channel already is in that state, so a double click does not
    write twice. Raises PrivacyError for an unknown channel or source.
    """
    if channel not in ConsentEvent.Channel.values:
        raise PrivacyError("Canal desconocido: elige email o WhatsApp.")
    if source not in ConsentEvent.Source.values:
        raise PrivacyError("Origen del consentimiento desconocido.")
    if source == ConsentEvent.Source.STAFF and not text:
        text, version = STAFF_TEXTS[granted], version or STAFF_TEXT_VERSION
    user = user if getattr(user, "is_authenticated", False) else None
    with transaction.atomic():
        cliente = Cliente.objects.select_for_update().get(pk=cliente.pk)
        if channel == ConsentEvent.Channel.EMAIL:
            if cliente.acepta_marketing == granted:
                return None
            Cliente.objects.filter(pk=cliente.pk).update(
                acepta_marketing=granted, fecha_baja=None if granted else timezone.now()
            )
        else:
            latest = cliente.eventos_consentimiento.filter(channel=channel).first()
            if latest is not None and latest.granted == granted:
                return None
        return ConsentEvent.objects.create(
            cliente=cliente,
            channel=channel,
            granted=granted,
            source=source,
            text=text[:500],
            version=version[:40],
            created_by=user,
        )


def record_import_consent(cliente_ids: Iterable[int], *, granted: bool, text: str, version: str = "", user=None) -> int:
    """One `import` event per customer, in one bulk INSERT (for the importers). Returns how many."""
    user = user if getattr(user, "is_authenticated", False) else None
    events = [
        ConsentEvent(
            cliente_id=pk,
            channel=ConsentEvent.Channel.EMAIL,
            granted=granted,
            source=ConsentEvent.Source.IMPORT,
            text=text[:500],
            version=version[:40],
            created_by=user,
        )
        for pk in cliente_ids
    ]
    return len(ConsentEvent.objects.bulk_create(events, batch_size=500))


@dataclass(frozen=True)
class ChannelState:
    channel: str
    label: str
    granted: bool | None  # None: never asked (no event)
    since: datetime.datetime | None


@dataclass(frozen=True)
class ConsentOverview:
    states: list[ChannelState]
    events: list[ConsentEvent]  # newest first, at most HISTORY_SHOWN


def consent_overview(cliente: Cliente) -> ConsentOverview:
    """Current state per channel and the latest events, in one query.

    Email's state is `acepta_marketing` (what sending obeys), dated by its latest event or `fecha_baja`.
    WhatsApp's is its latest event among those shown (customers have a handful of events).
    """
    events = list(cliente.eventos_consentimiento.select_related("created_by")[:HISTORY_SHOWN])
    latest = {}
    for event in events:
        latest.setdefault(event.channel, event)
    email_event = latest.get(ConsentEvent.Channel.EMAIL)
    states = [
        ChannelState(
            channel=ConsentEvent.Channel.EMAIL,
            label=ConsentEvent.Channel.EMAIL.label,
            granted=cliente.acepta_marketing,
            since=email_event.created_at if email_event else cliente.fecha_baja,
        )
    ]
    whatsapp = latest.get(ConsentEvent.Channel.WHATSAPP)
    states.append(
        ChannelState(
            channel=ConsentEvent.Channel.WHATSAPP,
            label=ConsentEvent.Channel.WHATSAPP.label,
            granted=whatsapp.granted if whatsapp else None,
            since=whatsapp.created_at if whatsapp else None,
        )
    )
    return ConsentOverview(states=states, events=events)
