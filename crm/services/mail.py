"""Sending proposals by email, exactly once, only to customers who still want to hear from Aremko.

The rules this module implements:

- Consent: customers who opted out (`Cliente.acepta_marketing` off) or without a valid email are refused with
  `CustomerOptedOut` / `NoValidEmail` (views answer 409).
- Frequency cap: a customer who received a proposal less than `PROPOSAL_MIN_DAYS_BETWEEN` days ago is refused
  with `RecentlyContacted` unless `force=True` (staff confirmed; campaigns never force).
- Exactly once: a proposal is claimed with a conditional UPDATE `generated|failed -> sending` that only one
  caller can win; the SMTP conversation happens after that commit, then `sending -> sent` (recipient and time)
  or `sending -> failed` (error and time). A crash while talking to the server leaves `sending`: the message
  may or may not have left, so it is never sent again automatically.
- Every message carries the signed unsubscribe link (replacing the `[[BAJA_URL]]` marker of the stored bodies,
  or appended as a footer) and the RFC 8058 headers `List-Unsubscribe` / `List-Unsubscribe-Post`.
- A temporary SMTP refusal (4xx) is retried once; a permanent one (5xx) or an unreachable server is not.
"""

from __future__ import annotations

import datetime
import logging
import re
import smtplib
import time
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import formataddr

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from crm.models import Proposal
from crm.services.proposals.schema import UNSUBSCRIBE_MARKER
from ventas.formatting import format_date
from ventas.models import Cliente

logger = logging.getLogger(__name__)

SENDABLE = (Proposal.Status.GENERATED, Proposal.Status.FAILED)
# A second send to the same customer this soon is a double click or a retried request, even with confirmation.
DUPLICATE_GUARD = datetime.timedelta(minutes=5)
_UNSUBSCRIBE_SALT = "crm.baja"
_LINE_BREAKS = re.compile(r"[\r\n\t\x00-\x1f\x7f\u2028\u2029]+")


class MailError(Exception):
    """Base of every refusal or failure of this module; `str()` is a Spanish message for staff."""

    reason = "error"


class SendRefused(MailError):
    """The send was not attempted (views answer 409)."""

    needs_confirmation = False


class CustomerOptedOut(SendRefused):
    reason = "opted_out"


class NoValidEmail(SendRefused):
    reason = "no_email"


class RecentlyContacted(SendRefused):
    reason = "recent_contact"
    needs_confirmation = True


class ProposalNotSendable(SendRefused):
    """Already sent, being sent right now, or discarded."""

    reason = "not_sendable"


class DeliveryFailed(MailError):
    """The SMTP server refused the message or could not be reached; the proposal is left `failed`."""

    reason = "delivery_failed"


class GenerationFailed(MailError):
    """No proposal could be generated to send (the proposal backend failed or is not configured)."""

    reason = "generation_failed"

    def __init__(self, message: str, *, status_code: int = 502):
        super().__init__(message)
        # 503 (not configured), 504 (timeout) or 502; never a 500 for an upstream problem.
        self.status_code = status_code if 400 <= status_code < 600 and status_code != 500 else 502


class InvalidUnsubscribeToken(MailError):
    reason = "invalid_token"


def single_line(value: str) -> str:
    """Header-safe text: line breaks and control characters become one space, so no header can be injected."""
    return " ".join(_LINE_BREAKS.sub(" ", value or "").split())


def has_valid_email(email: str) -> bool:
    if not email or _LINE_BREAKS.search(email):
        return False
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True


# --- Unsubscribe links --------------------------------------------------------------------------------------


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


# --- The mailer boundary ------------------------------------------------------------------------------------


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
        text = _with_link(proposal.email_text, url, footer=f"\n\n--\nSi no quieres recibir más propuestas: {url}\n")
        html = _with_link(
            proposal.email_body,
            escape(url),
            footer=(
                "<p><small>Si no quieres recibir más propuestas de Aremko, "
                f'<a href="{escape(url)}">date de baja aquí</a>.</small></p>'
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


def default_mailer() -> Mailer:
    return Mailer(from_email=settings.DEFAULT_FROM_EMAIL, reply_to=settings.REPLY_TO, site_url=settings.SITE_URL)


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


# --- Sending ------------------------------------------------------------------------------------------------


def check_recipient(cliente: Cliente) -> None:
    """Raise CustomerOptedOut or NoValidEmail when this customer must not get commercial email."""
    if not cliente.acepta_marketing:
        when = f" el {format_date(cliente.fecha_baja)}" if cliente.fecha_baja else ""
        raise CustomerOptedOut(f"{cliente.nombre} se dio de baja de las propuestas{when}; no se le puede escribir.")
    if not has_valid_email(cliente.email):
        raise NoValidEmail(f"{cliente.nombre} no tiene un email válido registrado.")


def last_contact(cliente_id: int, *, exclude_proposal: int | None = None) -> datetime.datetime | None:
    qs = Proposal.objects.filter(cliente_id=cliente_id, sent_at__isnull=False)
    if exclude_proposal:
        qs = qs.exclude(pk=exclude_proposal)
    return qs.order_by("-sent_at").values_list("sent_at", flat=True).first()


def check_frequency(cliente: Cliente, *, exclude_proposal: int | None = None) -> None:
    """Raise RecentlyContacted when the customer got a proposal within PROPOSAL_MIN_DAYS_BETWEEN days."""
    days = settings.PROPOSAL_MIN_DAYS_BETWEEN
    if days <= 0:
        return
    last = last_contact(cliente.pk, exclude_proposal=exclude_proposal)
    if last and last >= timezone.now() - datetime.timedelta(days=days):
        raise RecentlyContacted(
            f"{cliente.nombre} recibió una propuesta el {format_date(last)}, hace menos de {days} días. "
            "Confirma si quieres enviarle otra."
        )


def _claim(proposal: Proposal) -> None:
    """`generated|failed -> sending` for exactly one caller; everyone else gets ProposalNotSendable."""
    with transaction.atomic():
        claimed = Proposal.objects.filter(pk=proposal.pk, status__in=SENDABLE).update(
            status=Proposal.Status.SENDING, attempts=F("attempts") + 1
        )
    if claimed != 1:
        status = Proposal.objects.filter(pk=proposal.pk).values_list("status", flat=True).first()
        messages = {
            Proposal.Status.SENT: "Esta propuesta ya fue enviada.",
            Proposal.Status.SENDING: "Esta propuesta se está enviando en este momento.",
            Proposal.Status.DISCARDED: "Esta propuesta fue descartada.",
        }
        raise ProposalNotSendable(messages.get(status, "Esta propuesta ya no existe."))


def _deliver(proposal: Proposal, cliente: Cliente, mailer: Mailer) -> Proposal:
    """Talk to the server for a claimed proposal and record the outcome (`sent` or `failed`)."""
    try:
        mailer.send(mailer.build(proposal=proposal, cliente=cliente))
    except Exception as exc:
        # DeliveryFailed is the expected case; anything else is a bug, but the proposal must not stay `sending`
        # (nothing reached the server when building or connecting failed unexpectedly).
        error = str(exc) if isinstance(exc, DeliveryFailed) else f"Error inesperado al enviar: {exc!r}"
        Proposal.objects.filter(pk=proposal.pk, status=Proposal.Status.SENDING).update(
            status=Proposal.Status.FAILED, failed_at=timezone.now(), error=error[:2000]
        )
        logger.error("Proposal %s to customer %s failed: %s", proposal.pk, cliente.pk, error)
        proposal.refresh_from_db()
        raise
    Proposal.objects.filter(pk=proposal.pk, status=Proposal.Status.SENDING).update(
        status=Proposal.Status.SENT, sent_at=timezone.now(), sent_to=cliente.email, error=""
    )
    proposal.refresh_from_db()
    logger.info("Proposal %s sent to customer %s", proposal.pk, cliente.pk)
    return proposal


def send_proposal(*, proposal: Proposal, force: bool = False, mailer: Mailer | None = None) -> Proposal:
    """Send one proposal to its customer, exactly once.

    Raises CustomerOptedOut / NoValidEmail (consent), RecentlyContacted (frequency cap, unless `force`),
    ProposalNotSendable (already sent, being sent, discarded) and DeliveryFailed (SMTP; the proposal is then
    `failed` with the error and time, and can be sent again later). Returns the proposal, now `sent`.
    """
    cliente = Cliente.objects.get(pk=proposal.cliente_id)
    check_recipient(cliente)
    if not force:
        check_frequency(cliente, exclude_proposal=proposal.pk)
    _claim(proposal)
    return _deliver(proposal, cliente, mailer or default_mailer())


def send_to_customer(
    *,
    cliente_id: int,
    proposal_id: int | None = None,
    user=None,
    force: bool = False,
    mailer: Mailer | None = None,
) -> Proposal:
    """What the "Enviar por email" button does: send `proposal_id`, else the customer's latest unsent proposal,
    else a freshly generated one.

    The customer row is locked while choosing (or generating) and claiming the proposal, so two staff members
    or a double click cannot each pick or generate a proposal: the second one sees the first `sending` or just
    `sent` and is refused, even with `force`. Raises Cliente.DoesNotExist, the refusals of `send_proposal`,
    DeliveryFailed and GenerationFailed (the proposal backend failed).
    """
    with transaction.atomic():
        cliente = Cliente.objects.select_for_update().get(pk=cliente_id)
        check_recipient(cliente)
        if proposal_id is not None:
            proposal = Proposal.objects.filter(pk=proposal_id, cliente=cliente).first()
            if proposal is None:
                raise ProposalNotSendable("La propuesta no existe o es de otro cliente.")
        else:
            recent = Proposal.objects.filter(cliente=cliente, status=Proposal.Status.SENDING).exists() or (
                Proposal.objects.filter(cliente=cliente, sent_at__gte=timezone.now() - DUPLICATE_GUARD).exists()
            )
            if recent:
                raise ProposalNotSendable("Se acaba de enviar una propuesta a este cliente.")
            proposal = Proposal.objects.filter(cliente=cliente, status__in=SENDABLE).order_by("-created_at").first()
        if not force:
            check_frequency(cliente, exclude_proposal=proposal.pk if proposal else None)
        if proposal is None:
            from crm.services.proposals import ProposalError, generate_proposal

            try:
                proposal = generate_proposal(cliente=cliente, user=user)
            except ProposalError as exc:
                raise GenerationFailed(str(exc), status_code=exc.status_code) from exc
        _claim(proposal)
    return _deliver(proposal, cliente, mailer or default_mailer())


# --- The "Enviar por email" panel of the customer profile ---------------------------------------------------


@dataclass(frozen=True)
class SendPanel:
    """What the profile shows next to the send button (one query: the latest proposal and the last send)."""

    blocked_reason: str  # Spanish; empty when the button is enabled
    latest: Proposal | None
    last_sent_at: datetime.datetime | None
    needs_confirmation: bool  # inside the PROPOSAL_MIN_DAYS_BETWEEN window
    min_days_between: int

    @property
    def can_send(self) -> bool:
        return not self.blocked_reason

    @property
    def pending(self) -> Proposal | None:
        """The proposal the button sends (None: a new one is generated first)."""
        return self.latest if self.latest is not None and self.latest.status in SENDABLE else None


def send_panel(cliente: Cliente) -> SendPanel:
    try:
        check_recipient(cliente)
        blocked = ""
    except SendRefused as exc:
        blocked = str(exc)
    last_sent = Proposal.objects.filter(cliente=cliente, sent_at__isnull=False).order_by("-sent_at")
    latest = (
        Proposal.objects.filter(cliente=cliente)
        .only("id", "created_at", "status", "offer_code", "email_subject", "sent_at", "sent_to", "failed_at", "error")
        .annotate(last_sent_at=Subquery(last_sent.values("sent_at")[:1]))
        .order_by("-created_at", "-id")
        .first()
    )
    last_sent_at = latest.last_sent_at if latest else None
    days = settings.PROPOSAL_MIN_DAYS_BETWEEN
    recent = bool(last_sent_at and days > 0 and last_sent_at >= timezone.now() - datetime.timedelta(days=days))
    return SendPanel(
        blocked_reason=blocked,
        latest=latest,
        last_sent_at=last_sent_at,
        needs_confirmation=recent,
        min_days_between=days,
    )
