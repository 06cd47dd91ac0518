"""The record of every data-subject request (Ley 21.719 art. 4) and what was done about it."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.utils import timezone

from crm.models import DataRequest


class PrivacyError(Exception):
    """A rights action that cannot be done; the message is Spanish and safe to show to staff (views answer 4xx)."""

    status_code = 400


class PrivacyConflict(PrivacyError):
    """The action clashes with the customer's current state (already blocked, already erased...)."""

    status_code = 409


def due_date(received_on: datetime.date) -> datetime.date:
    """The legal deadline: DATA_REQUEST_DAYS calendar days after the request arrived."""
    return received_on + datetime.timedelta(days=settings.DATA_REQUEST_DAYS)


def record_request(
    *,
    cliente_id: int,
    kind: str,
    user=None,
    outcome: str = "",
    received_on: datetime.date | None = None,
    status: str = DataRequest.Status.DONE,
) -> DataRequest:
    """Store one request. Actions done on the spot are `atendida` with the handler and time; `outcome` says what
    was done in words that never repeat the customer's data (field names, counts)."""
    if kind not in DataRequest.Kind.values:
        raise PrivacyError("Tipo de solicitud desconocido.")
    received_on = received_on or timezone.localdate()
    done = status != DataRequest.Status.RECEIVED
    return DataRequest.objects.create(
        cliente_id=cliente_id,
        kind=kind,
        received_on=received_on,
        due_on=due_date(received_on),
        status=status,
        handled_by=user if done and getattr(user, "is_authenticated", False) else None,
        handled_at=timezone.now() if done else None,
        outcome=outcome,
    )
