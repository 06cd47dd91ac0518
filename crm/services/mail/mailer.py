"""The SMTP boundary: builds one proposal email (unsubscribe link and RFC 8058 headers) and delivers it.

Every message carries the signed unsubscribe link (replacing the `[[BAJA_URL]]` marker of the stored bodies, or
appended as a footer) and the headers `List-Unsubscribe` / `List-Unsubscribe-Post`. A temporary SMTP refusal
(4xx) is retried once; a permanent one (5xx) or an unreachable server is not.
"""

from __future__ import annotations

import logging
import re
import smtplib
import time
from contextlib import contextmanager
from email.utils import formataddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.utils.html import escape

from crm.models import Proposal
from crm.services.mail.errors import DeliveryFailed
from crm.services.mail.tokens import unsubscribe_url
from crm.services.proposals.schema import UNSUBSCRIBE_MARKER
from ventas.models import Cliente

logger = logging.getLogger(__name__)

LINE_BREAKS = re.compile(r"[\r\n\t\x00-\x1f\x7f\u2028\u2029]+")


def single_line(value: str) -> str:
    """Header-safe text: line breaks and control characters become one space, so no header can be injected."""
    return " ".join(LINE_BREAKS.sub(" ", value or "").split())


class Mailer:
    """Builds and sends one proposal email through Django's configured email backend (SMTP in production)."""

    def __init__(
        self,
        *,
        from_email: str,
        reply_to: str = "",
        site_url: str = "",
        retry_delay: float = 2.0,
        connection_factory=get_connection,
    ):
        self.from_email = from_email
        self.reply_to = [reply_to] if reply_to else []
        self.site_url = site_url
        self.retry_delay = retry_delay
        self.connection_factory = connection_factory
        self._reuse = False
        self._open = None
        self._sent_on_open = 0

    def build(self, *, proposal: Proposal, cliente: Cliente) -> EmailMultiAlternatives:
        url = unsubscribe_url(cliente.pk, site_url=self.site_url or None)
        text = text_with_unsubscribe_link(proposal.email_text, url)
        html = _with_link(
            proposal.email_body,
            escape(url),
            footer=(
                "<p><small>Si no desea recibir más propuestas de Aremko, "
                f'<a href="{escape(url)}">puede darse de baja aquí</a>.</small></p>'
            ),
        )
        message = EmailMultiAlternatives(
            subject=single_line(proposal.email_subject),
            body=text,
            from_email=self.from_email,
            to=[formataddr((single_line(cliente.nombre), cliente.email))],
            reply_to=self.reply_to,
            headers={
                "List-Unsubscribe": f"<{url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
        message.attach_alternative(html, "text/html")
        return message

    @contextmanager
    def session(self):
        """Reuse one SMTP connection for every message sent inside the block (campaigns); opened lazily."""
        self._reuse = True
        try:
            yield self
        finally:
            self._reuse = False
            self._drop_connection()

    def _connection(self):
        if not self._reuse:
            return self.connection_factory(fail_silently=False)  # opened and closed around one message
        if self._open is None:
            self._open = self.connection_factory(fail_silently=False)
            self._open.open()
            self._sent_on_open = 0
        return self._open

    def _drop_connection(self) -> None:
        connection, self._open = self._open, None
        if connection is not None:
            try:
                connection.close()
            except (smtplib.SMTPException, OSError):
                logger.info("Ignoring an error while closing a broken SMTP connection", exc_info=True)

    def send(self, message: EmailMultiAlternatives) -> None:
        """Deliver or raise DeliveryFailed.

        A temporary (4xx) refusal is retried once after `retry_delay`; so is a reused connection that the
        server closed meanwhile (nothing was accepted on it). Permanent refusals and unreachable servers are not.
        """
        for attempt in (1, 2):
            try:
                reused = self._open is not None and self._sent_on_open > 0
                self._connection().send_messages([message])
                if self._open is not None:
                    self._sent_on_open += 1
                return
            except (smtplib.SMTPException, OSError) as exc:
                self._drop_connection()
                stale = reused and isinstance(exc, smtplib.SMTPServerDisconnected)
                logger.warning("SMTP send to %s failed (attempt %s): %s", message.to, attempt, exc)
                if attempt == 1 and (stale or _is_temporary(exc)):
                    if not stale:
                        time.sleep(self.retry_delay)
                    continue
                raise DeliveryFailed(_describe(exc)) from exc


CONSOLE_BACKEND = "django.core.mail.backends.console.EmailBackend"
CONSOLE_DELIVERY_NOTE = "Modo demo: el email se muestra en la consola del servidor, no se envía."


def emails_stay_on_console() -> bool:
    """True with the console email backend (the development and demo default): nothing leaves the machine."""
    return settings.EMAIL_BACKEND == CONSOLE_BACKEND


def delivery_note() -> str:
    """The note send confirmations show when emails only reach the server console ("" when they really leave)."""
    return CONSOLE_DELIVERY_NOTE if emails_stay_on_console() else ""


def default_mailer() -> Mailer:
    return Mailer(from_email=settings.DEFAULT_FROM_EMAIL, reply_to=settings.REPLY_TO, site_url=settings.SITE_URL)


def text_with_unsubscribe_link(text: str, url: str) -> str:
    """The plain-text email as sent: the unsubscribe marker replaced by `url` (or a footer with it)."""
    return _with_link(text, url, footer=f"\n\n--\nSi no desea recibir más propuestas: {url}\n")


def preview_text(proposal: Proposal) -> str:
    """The plain text staff preview, with the customer's real unsubscribe link as in the sent email."""
    return text_with_unsubscribe_link(proposal.email_text, unsubscribe_url(proposal.cliente_id))


def _with_link(body: str, url: str, *, footer: str) -> str:
    body = body or ""
    if UNSUBSCRIBE_MARKER in body:
        return body.replace(UNSUBSCRIBE_MARKER, url)
    return body + footer


def _smtp_codes(exc: Exception) -> list[int]:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return [code for code, _ in exc.recipients.values()]
    if isinstance(exc, smtplib.SMTPResponseException):
        return [exc.smtp_code]
    return []


def _is_temporary(exc: Exception) -> bool:
    codes = _smtp_codes(exc)
    return bool(codes) and all(400 <= code < 500 for code in codes)


def _describe(exc: Exception) -> str:
    codes = _smtp_codes(exc)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        detail = "; ".join(f"{code} {msg.decode(errors='replace')}" for code, msg in exc.recipients.values())
        return f"El servidor de correo rechazó el destinatario ({detail})."
    if isinstance(exc, smtplib.SMTPResponseException):
        kind = "temporalmente" if _is_temporary(exc) else "definitivamente"
        message = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"El servidor de correo rechazó {kind} el mensaje ({codes[0]} {message})."
    if isinstance(exc, smtplib.SMTPException):
        return f"Error del servidor de correo: {exc}"
    return f"No se pudo conectar con el servidor de correo: {exc}"
