"""Signed unsubscribe links: one per customer, no expiry (the law wants them to keep working)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core import signing
from django.urls import reverse

from crm.services.mail.errors import InvalidUnsubscribeToken
from ventas.models import Cliente

logger = logging.getLogger(__name__)

_UNSUBSCRIBE_SALT = "crm.baja"


def unsubscribe_token(cliente_id: int) -> str:
    """Signed, non-guessable token naming one customer (HMAC with SECRET_KEY; no expiry: the law wants it to work)."""
    return signing.Signer(salt=_UNSUBSCRIBE_SALT).sign(str(cliente_id))


def unsubscribe_url(cliente_id: int, *, site_url: str | None = None) -> str:
    base = settings.SITE_URL if site_url is None else site_url
    return base.rstrip("/") + reverse("crm_baja", args=[unsubscribe_token(cliente_id)])


def cliente_for_token(token: str) -> Cliente:
    try:
        cliente_id = int(signing.Signer(salt=_UNSUBSCRIBE_SALT).unsign(token))
        return Cliente.objects.get(pk=cliente_id)
    except (signing.BadSignature, ValueError, Cliente.DoesNotExist):
        raise InvalidUnsubscribeToken("El enlace para darse de baja no es válido.") from None


def unsubscribe(*, token: str, source: str = "") -> Cliente:
    """Record the opt-out named by a signed token and its consent event; idempotent (a second click keeps the
    first date). `source`: a ventas.ConsentEvent.Source (default: the unsubscribe link)."""
    cliente = cliente_for_token(token)
    cliente.unsubscribe(source=source)
    logger.info("Customer %s unsubscribed from proposals", cliente.pk)
    return cliente
