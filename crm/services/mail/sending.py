"""Sending proposals by email, exactly once, only to customers who may receive them (see `rules`).

- Exactly once: a proposal is claimed with a conditional UPDATE `generated|failed -> sending` that only one
  caller can win and that commits before the SMTP conversation; then `sending -> sent` (recipient and time) or
  `sending -> failed` (error and time). Claim, commit, call, record: no transaction is open while the SMTP
  server (or the proposal backend, when one is generated first) is called.
- Unknown outcome: a process that dies while talking to the server leaves `sending`. After SEND_LEASE_SECONDS
  the proposal becomes `interrupted`: the message may or may not have left, so it is never sent again
  automatically; staff decide (a confirmed send, `force=True`, or "mark as sent" on a campaign page). A late
  outcome still wins over that guess: a worker that was only slow records `sent` or `failed` over `interrupted`.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Subquery
from django.utils import timezone

from crm.models import Proposal
from crm.services import conversions
from crm.services.mail.errors import (
    DeliveryFailed,
    GenerationFailed,
    ProposalNotSendable,
    SendInterrupted,
    SendRefused,
)
from crm.services.mail.mailer import Mailer, default_mailer, delivery_note
from crm.services.mail.rules import check_can_receive, refusal
from crm.services.proposals import ProposalError, generate_proposal
from ventas.formatting import format_date
from ventas.models import Cliente

logger = logging.getLogger(__name__)

SENDABLE = (Proposal.Status.GENERATED, Proposal.Status.FAILED)
# What the send button may pick: an interrupted proposal too (sending it again needs a confirmation).
PICKABLE = (*SENDABLE, Proposal.Status.INTERRUPTED)
# A second send to the same customer this soon is a double click or a retried request, even with confirmation.
DUPLICATE_GUARD = datetime.timedelta(minutes=5)

Generate = Callable[..., Proposal]  # generate_proposal(cliente=..., user=...)


def send_lease() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.SEND_LEASE_SECONDS)


def _stuck(now: datetime.datetime) -> Q:
    return Q(status=Proposal.Status.SENDING) & (Q(sending_since__lt=now - send_lease()) | Q(sending_since__isnull=True))


def expire_stuck_sends(*, cliente_id: int | None = None, proposal_id: int | None = None) -> int:
    """`sending` proposals silent for SEND_LEASE_SECONDS become `interrupted` (their process died); how many."""
    stuck = Proposal.objects.filter(_stuck(timezone.now()))
    if cliente_id is not None:
        stuck = stuck.filter(cliente_id=cliente_id)
    if proposal_id is not None:
        stuck = stuck.filter(pk=proposal_id)
    expired = stuck.update(status=Proposal.Status.INTERRUPTED)
    if expired:
        logger.warning("%s send(s) with unknown outcome marked interrupted", expired)
    return expired


def _interrupted_message(proposal_id: int) -> str:
    since = Proposal.objects.filter(pk=proposal_id).values_list("sending_since", flat=True).first()
    when = f" el {format_date(since)}" if since else ""
    return (
        f"El envío de esta propuesta{when} se interrumpió y no sabemos si llegó al cliente. "
        "Confirma si quieres enviarla de nuevo."
    )


def _claim(proposal: Proposal, *, resend_interrupted: bool = False) -> None:
    """`generated|failed -> sending` (also `interrupted` when staff confirmed) for exactly one caller."""
    allowed = SENDABLE + ((Proposal.Status.INTERRUPTED,) if resend_interrupted else ())
    claimed = Proposal.objects.filter(pk=proposal.pk, status__in=allowed).update(
        status=Proposal.Status.SENDING, attempts=F("attempts") + 1, sending_since=timezone.now()
    )
    if claimed == 1:
        return
    expire_stuck_sends(proposal_id=proposal.pk)
    status = Proposal.objects.filter(pk=proposal.pk).values_list("status", flat=True).first()
    if status == Proposal.Status.INTERRUPTED:
        raise SendInterrupted(_interrupted_message(proposal.pk))
    messages = {
        Proposal.Status.SENT: "Esta propuesta ya fue enviada.",
        Proposal.Status.SENDING: "Esta propuesta se está enviando en este momento.",
        Proposal.Status.DISCARDED: "Esta propuesta fue descartada.",
    }
    raise ProposalNotSendable(messages.get(status, "Esta propuesta ya no existe."))


# The outcome of a send replaces `sending`, and also `interrupted`: a slow process's truth beats the guess.
_IN_FLIGHT = (Proposal.Status.SENDING, Proposal.Status.INTERRUPTED)


def _deliver(proposal: Proposal, cliente: Cliente, mailer: Mailer) -> Proposal:
    """Talk to the server for a claimed proposal and record the outcome (`sent` or `failed`)."""
    try:
        mailer.send(mailer.build(proposal=proposal, cliente=cliente))
    except Exception as exc:
        # DeliveryFailed is the expected case; anything else is a bug, but the proposal must not stay `sending`
        # (nothing reached the server when building or connecting failed unexpectedly).
        error = str(exc) if isinstance(exc, DeliveryFailed) else f"Error inesperado al enviar: {exc!r}"
        Proposal.objects.filter(pk=proposal.pk, status__in=_IN_FLIGHT).update(
            status=Proposal.Status.FAILED, failed_at=timezone.now(), error=error[:2000]
        )
        logger.error("Proposal %s to customer %s failed: %s", proposal.pk, cliente.pk, error)
        proposal.refresh_from_db()
        raise
    Proposal.objects.filter(pk=proposal.pk, status__in=_IN_FLIGHT).update(
        status=Proposal.Status.SENT, sent_at=timezone.now(), sent_to=cliente.email, error=""
    )
    conversions.refresh_proposal(proposal.pk)
    proposal.refresh_from_db()
    logger.info("Proposal %s sent to customer %s", proposal.pk, cliente.pk)
    return proposal


def send_proposal(*, proposal: Proposal, force: bool = False, mailer: Mailer | None = None) -> Proposal:
    """Send one proposal to its customer, exactly once.

    Raises the refusals of `rules.check_can_receive` (consent, email, frequency cap unless `force`),
    ProposalNotSendable (already sent, being sent, discarded), SendInterrupted (an earlier send was interrupted;
    `force` confirms a new one) and DeliveryFailed (SMTP; the proposal is then `failed` with the error and
    time, and can be sent again later). Returns the proposal, now `sent`.
    """
    cliente = Cliente.objects.get(pk=proposal.cliente_id)
    check_can_receive(cliente, force=force, exclude_proposal=proposal.pk)
    _claim(proposal, resend_interrupted=force)
    return _deliver(proposal, cliente, mailer or default_mailer())


def _pick_and_claim(
    *, cliente_id: int, proposal_id: int | None, force: bool, guard_duplicates: bool
) -> tuple[Cliente, Proposal | None]:
    """Lock the customer, apply the rules, choose the proposal and claim it; commit. None: one must be generated.

    The customer row lock serialises two staff members or a double click: the second one sees the first
    `sending` or just `sent` and is refused (`guard_duplicates`), even with `force`.
    """
    with transaction.atomic():
        cliente = Cliente.objects.select_for_update().get(pk=cliente_id)
        others = Proposal.objects.filter(cliente=cliente).exclude(pk=proposal_id)
        if guard_duplicates and (
            others.filter(status=Proposal.Status.SENDING).exists()
            or others.filter(sent_at__gte=timezone.now() - DUPLICATE_GUARD).exists()
        ):
            raise ProposalNotSendable("Se acaba de enviar una propuesta a este cliente.")
        if proposal_id is not None:
            proposal = Proposal.objects.filter(pk=proposal_id, cliente=cliente).first()
            if proposal is None:
                raise ProposalNotSendable("La propuesta no existe o es de otro cliente.")
        else:
            proposal = Proposal.objects.filter(cliente=cliente, status__in=PICKABLE).order_by("-created_at").first()
        check_can_receive(cliente, force=force, exclude_proposal=proposal.pk if proposal else None)
        if proposal is not None:
            _claim(proposal, resend_interrupted=force)
    return cliente, proposal


def send_to_customer(
    *,
    cliente_id: int,
    proposal_id: int | None = None,
    user=None,
    force: bool = False,
    mailer: Mailer | None = None,
    generate: Generate = generate_proposal,
) -> Proposal:
    """What the "Enviar por email" button does: send `proposal_id`, else the customer's latest unsent proposal,
    else a freshly generated one.

    Claim, commit, call, record: the proposal backend (`generate`) and the SMTP server (`mailer`) are called
    with no transaction open. A proposal generated here is claimed afterwards under the customer lock, with the
    rules and the double-click guard checked again. Raises Cliente.DoesNotExist, the refusals of
    `send_proposal`, DeliveryFailed and GenerationFailed (the proposal backend failed).
    """
    expire_stuck_sends(cliente_id=cliente_id)
    cliente, proposal = _pick_and_claim(
        cliente_id=cliente_id, proposal_id=proposal_id, force=force, guard_duplicates=proposal_id is None
    )
    if proposal is None:
        try:
            generated = generate(cliente=cliente, user=user)
        except ProposalError as exc:
            raise GenerationFailed(str(exc), status_code=exc.status_code) from exc
        cliente, proposal = _pick_and_claim(
            cliente_id=cliente_id, proposal_id=generated.pk, force=force, guard_duplicates=True
        )
    return _deliver(proposal, cliente, mailer or default_mailer())


# --- The "Enviar por email" panel of the customer profile ---------------------------------------------------


@dataclass(frozen=True)
class SendPanel:
    """What the profile shows next to the send button (one query: the latest proposal and the last send)."""

    blocked_reason: str  # Spanish; empty when the button is enabled
    latest: Proposal | None
    last_sent_at: datetime.datetime | None
    needs_confirmation: bool  # the frequency cap, or an interrupted send to confirm
    confirmation_reason: str  # Spanish; why staff must confirm
    min_days_between: int
    delivery_note: str  # Spanish; set when emails only reach the server console (demo)

    @property
    def can_send(self) -> bool:
        return not self.blocked_reason

    @property
    def interrupted(self) -> bool:
        return self.latest is not None and self.latest.status == Proposal.Status.INTERRUPTED

    @property
    def pending(self) -> Proposal | None:
        """The proposal the button sends (None: a new one is generated first)."""
        return self.latest if self.latest is not None and self.latest.status in PICKABLE else None


def send_panel(cliente: Cliente) -> SendPanel:
    last_sent = Proposal.objects.filter(cliente=cliente, sent_at__isnull=False).order_by("-sent_at")
    latest = (
        Proposal.objects.filter(cliente=cliente)
        .only(
            "id", "created_at", "status", "offer_code", "email_subject", "sent_at", "sent_to", "failed_at",
            "error", "sending_since",
        )
        .annotate(last_sent_at=Subquery(last_sent.values("sent_at")[:1]))
        .order_by("-created_at", "-id")
        .first()
    )  # fmt: skip
    now = timezone.now()
    stale = latest is not None and (latest.sending_since is None or latest.sending_since < now - send_lease())
    if stale and latest.status == Proposal.Status.SENDING:
        # Shown as what it will be once the recovery runs: silent past the lease means interrupted.
        latest.status = Proposal.Status.INTERRUPTED
    last_sent_at = latest.last_sent_at if latest else None
    refused: SendRefused | None = refusal(cliente, last_sent_at=last_sent_at, now=now)
    confirm = ""
    if refused is not None and refused.needs_confirmation:
        confirm, refused = str(refused), None
    if refused is None and latest is not None and latest.status == Proposal.Status.INTERRUPTED:
        confirm = " ".join(filter(None, [_interrupted_text(latest), confirm]))
    return SendPanel(
        blocked_reason=str(refused) if refused else "",
        latest=latest,
        last_sent_at=last_sent_at,
        needs_confirmation=bool(confirm),
        confirmation_reason=confirm,
        min_days_between=settings.PROPOSAL_MIN_DAYS_BETWEEN,
        delivery_note=delivery_note(),
    )


def _interrupted_text(proposal: Proposal) -> str:
    when = f" el {format_date(proposal.sending_since)}" if proposal.sending_since else ""
    return f"El envío de la propuesta {proposal.offer_code}{when} se interrumpió y no sabemos si llegó."
