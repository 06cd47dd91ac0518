"""Optional sending through the WhatsApp Business Cloud API (WHATSAPP_BACKEND=cloud_api).

Click-to-chat stays the default. With the API, nothing is sent until an operator approves one item on the tray
page; `approve_and_send` then claims the item (`api_status` "" or "failed" -> "sending") in one short
transaction, commits, calls the API outside any transaction, and records the answer: "sent" with Meta's message
id (and the `enviado` outcome, so the contact counts like a click-to-chat one) or "failed" with the error.

Business-initiated messages must use a template approved by Meta: the item's PlantillaWhatsApp names it in
`meta_template`; that template's body is `{{1}}` and receives the whole message (stop line included).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q

from crm.models import TrayItem
from crm.services.whatsapp.errors import WhatsAppError
from crm.services.whatsapp.messages import with_stop_line
from crm.services.whatsapp.outcomes import record_outcome

logger = logging.getLogger(__name__)

API = TrayItem.ApiStatus
_NON_DIGITS = re.compile(r"\D")


class CloudApiError(WhatsAppError):
    """The Cloud API refused the message or could not be reached."""


@dataclass(frozen=True)
class CloudApiClient:
    base_url: str
    token: str
    phone_id: str
    timeout: float = 15.0
    language: str = "es"

    @classmethod
    def from_settings(cls) -> CloudApiClient:
        if not settings.WHATSAPP_CLOUD_TOKEN or not settings.WHATSAPP_CLOUD_PHONE_ID:
            raise CloudApiError("Falta configurar WHATSAPP_CLOUD_TOKEN y WHATSAPP_CLOUD_PHONE_ID para enviar por API.")
        return cls(
            base_url=settings.WHATSAPP_CLOUD_URL.rstrip("/"),
            token=settings.WHATSAPP_CLOUD_TOKEN,
            phone_id=settings.WHATSAPP_CLOUD_PHONE_ID,
            timeout=settings.WHATSAPP_CLOUD_TIMEOUT,
        )

    def send_template(self, *, to: str, template: str, body: str) -> str:
        """Send an approved template whose body is `{{1}}` = `body`. Returns Meta's message id."""
        payload = {
            "messaging_product": "whatsapp",
            "to": _NON_DIGITS.sub("", to),
            "type": "template",
            "template": {
                "name": template,
                "language": {"code": self.language},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": body}]}],
            },
        }
        try:
            with httpx.Client(timeout=self.timeout) as client:
                response = client.post(
                    f"{self.base_url}/{self.phone_id}/messages",
                    json=payload,
                    headers={"Authorization": f"Bearer {self.token}"},
                )
        except httpx.TimeoutException as error:
            raise CloudApiError("La API de WhatsApp no respondió a tiempo.") from error
        except httpx.HTTPError as error:
            raise CloudApiError(f"No se pudo conectar con la API de WhatsApp: {error}") from error
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code >= 400:
            detail = (data.get("error") or {}).get("message") if isinstance(data, dict) else ""
            raise CloudApiError(
                f"La API de WhatsApp rechazó el mensaje ({response.status_code}): {detail or 'sin detalle'}"
            )
        try:
            return str(data["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise CloudApiError("La API de WhatsApp respondió sin id de mensaje.") from None


def enabled() -> bool:
    return settings.WHATSAPP_BACKEND == "cloud_api"


def _claim(item_id: int, user, message: str | None) -> TrayItem:
    with transaction.atomic():
        item = (
            TrayItem.objects.select_for_update(of=("self",))
            .select_related("cliente", "template")
            .filter(pk=item_id)
            .first()
        )
        if item is None or item.holdout:
            raise WhatsAppError("Ese cliente no está en la bandeja.")
        if item.template is None or not item.template.meta_template:
            raise WhatsAppError("La plantilla de este mensaje no está aprobada en Meta: usa el enlace de WhatsApp.")
        claimed = TrayItem.objects.filter(pk=item.pk).filter(Q(api_status=API.NONE) | Q(api_status=API.FAILED))
        if message:
            item.message = with_stop_line(message)
        if not claimed.update(api_status=API.SENDING, operator=user, message=item.message, api_error=""):
            raise WhatsAppError("Este mensaje ya se envió o se está enviando.")
    return item


def approve_and_send(*, item_id: int, user=None, message: str | None = None, client: CloudApiClient | None = None):
    """An operator approved this item's message: send it through the Cloud API (claim, commit, call, record)."""
    if not enabled():
        raise WhatsAppError("El envío por API no está activado (WHATSAPP_BACKEND=cloud_api).")
    user = user if getattr(user, "is_authenticated", False) else None
    client = client or CloudApiClient.from_settings()
    item = _claim(item_id, user, message)
    try:
        message_id = client.send_template(
            to=item.cliente.telefono, template=item.template.meta_template, body=item.message
        )
    except CloudApiError as error:
        logger.warning("WhatsApp Cloud API send of tray item %s failed: %s", item.pk, error)
        TrayItem.objects.filter(pk=item.pk, api_status=API.SENDING).update(api_status=API.FAILED, api_error=str(error))
        raise
    TrayItem.objects.filter(pk=item.pk).update(api_status=API.SENT, api_message_id=message_id[:100])
    return record_outcome(item_id=item.pk, outcome=TrayItem.Outcome.SENT, user=user)
