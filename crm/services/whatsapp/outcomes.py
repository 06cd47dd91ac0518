"""Record what happened with a tray item (one click of the operator).

Outcomes and their effects:
- `enviado`: the message went out; counts one attempt in the customer's contact cycle.
- `respondió_interesado`, `reservó`: the customer answered; the cycle ends (attempts back to 0).
- `más_adelante`: the customer asked to be written later: snoozed SNOOZE_DAYS (60) days from the tray's day,
  SNOOZE_LONG_DAYS (90) when the operator clicks it a second time; the cycle ends.
- `no_contactar`: the customer answered NO: WhatsApp consent is withdrawn in the consent ledger (source: staff,
  with the time and the operator), which keeps them out of every future tray and WhatsApp audience. Email
  consent is a separate channel and is not touched.
- `número_equivocado`: the number is marked as wrong for WhatsApp (out of the tray while it stays the
  customer's number); it does not count as a contact.

Every outcome but `número_equivocado` marks the item contacted (once: changing an item's outcome never counts a
second attempt). The operator and the time are recorded on the item. Holdout items take no outcome.
"""

from __future__ import annotations

import datetime
import unicodedata

from django.db import transaction
from django.utils import timezone

from crm.models import TrayItem, WhatsAppContact
from crm.services.privacy.consent import record_consent
from crm.services.whatsapp.errors import WhatsAppError
from crm.services.whatsapp.messages import with_stop_line
from ventas.models import ConsentEvent

Outcome = TrayItem.Outcome
SNOOZE_DAYS = 60
MAX_MESSAGE_CHARS = 2000
SNOOZE_LONG_DAYS = 90
CONTACT_OUTCOMES = {Outcome.SENT, Outcome.INTERESTED, Outcome.BOOKED, Outcome.LATER, Outcome.STOP}
ENDS_CYCLE = {Outcome.INTERESTED, Outcome.BOOKED, Outcome.LATER, Outcome.STOP}
REPLIED = [Outcome.INTERESTED, Outcome.BOOKED, Outcome.LATER, Outcome.STOP]
STOP_TEXT = "El cliente respondió NO a un mensaje por WhatsApp de la bandeja de retención; lo registró el personal."
STOP_TEXT_VERSION = "whatsapp-2026-11"


def _plain(value: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c)).strip().lower()


_BY_PLAIN = {_plain(value): value for value in Outcome.values}


def parse_outcome(raw: str) -> str:
    """The outcome value for `raw` (accents optional: `reservo` = `reservó`); WhatsAppError if unknown."""
    value = _BY_PLAIN.get(_plain(raw or ""))
    if value is None:
        raise WhatsAppError(
            "Resultado desconocido: usa enviado, respondió_interesado, reservó, más_adelante, no_contactar o "
            "número_equivocado."
        )
    return value


def record_outcome(
    *, item_id: int, outcome: str, user=None, message: str = "", now: datetime.datetime | None = None
) -> TrayItem:
    """Apply one outcome to a tray item (effects in the module docstring). WhatsAppError when not allowed.

    `message`: the text as the operator edited it before opening the chat; kept (with the stop line) on the
    item's first contact, so the record says what was actually sent.
    """
    outcome = parse_outcome(outcome)
    now = now or timezone.now()
    user = user if getattr(user, "is_authenticated", False) else None
    with transaction.atomic():
        item = (
            TrayItem.objects.select_for_update(of=("self",))
            .select_related("tray", "cliente")
            .filter(pk=item_id)
            .first()
        )
        if item is None:
            raise WhatsAppError("Ese cliente no está en ninguna bandeja.")
        if item.holdout:
            raise WhatsAppError("Este cliente es del grupo de control: no se contacta.")
        state, _ = WhatsAppContact.objects.select_for_update().get_or_create(cliente_id=item.cliente_id)
        previous = item.outcome

        if outcome in CONTACT_OUTCOMES and item.contacted_at is None:
            item.contacted_at = now
            if message.strip():
                item.message = with_stop_line(message)[:MAX_MESSAGE_CHARS]
            state.attempts += 1
            state.cycle_started_on = state.cycle_started_on or item.tray.day
            state.last_contact_at = now
        if outcome in ENDS_CYCLE:
            state.attempts = 0
            state.cycle_started_on = None
        if outcome == Outcome.LATER:
            days = SNOOZE_LONG_DAYS if previous == Outcome.LATER else SNOOZE_DAYS
            state.snoozed_until = item.tray.day + datetime.timedelta(days=days)
        if outcome == Outcome.WRONG_NUMBER:
            state.wrong_phone = item.cliente.telefono or ""
        state.save()

        item.outcome = outcome
        item.outcome_at = now
        item.operator = user
        item.save(update_fields=["outcome", "outcome_at", "operator", "contacted_at", "message"])

        if outcome == Outcome.STOP:
            record_consent(
                cliente=item.cliente,
                channel=ConsentEvent.Channel.WHATSAPP,
                granted=False,
                source=ConsentEvent.Source.STAFF,
                user=user,
                text=STOP_TEXT,
                version=STOP_TEXT_VERSION,
            )
    return item


def snooze_label(item: TrayItem) -> str:
    """What the next «más adelante» click does for this item (for the button's text)."""
    days = SNOOZE_LONG_DAYS if item.outcome == Outcome.LATER else SNOOZE_DAYS
    return f"Más adelante ({days} días)"
