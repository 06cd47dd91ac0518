"""Campaigns: proposals for every customer of an RFM segment, generated and sent outside the request.

How a campaign runs (see `crm.tasks.run_campaign_task`):

1. `start_campaign` snapshots the audience (segment, optional limit, optionally only customers not contacted
   in the last N days) into one `CampaignRecipient` row per customer (unique per campaign) and enqueues the
   task when the transaction commits.
2. The task claims `pending` rows one at a time (`SELECT ... FOR UPDATE SKIP LOCKED` where the database has it,
   so several workers share the work) and generates a proposal inside the same transaction: a crash rolls the
   row back to `pending`. Customers who opted out, have no valid email or got a proposal in the last
   PROPOSAL_MIN_DAYS_BETWEEN days are `skipped` with that reason.
3. Generate-only campaigns stop in `review`: staff open proposals, drop the ones they do not want and approve.
   Generate-and-send campaigns go straight on.
4. Sending claims `generated -> sending` rows (committed before talking to the SMTP server) and calls
   `crm.services.mail.send_proposal`, whose own conditional update guarantees one email per proposal. A row
   is never put back to `generated` once its proposal may have left, so re-running the task or a worker crash
   never emails a customer the same campaign twice. Sending waits for a slot so that at most
   EMAIL_MAX_PER_MINUTE emails (sent or failed, by every worker) go out per minute.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from crm.models import Campaign, CampaignRecipient, Proposal
from crm.services import mail
from crm.services.rfm import SEGMENTS, customers_in_segment
from ventas.models import Cliente

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (phase, done, total)

R = CampaignRecipient.Status


class CampaignError(Exception):
    """A campaign operation that cannot be done (Spanish message for staff; views answer 4xx)."""


@dataclass(frozen=True)
class CampaignOptions:
    segment: str
    limit: int | None = None
    not_contacted_days: int | None = None
    mode: str = Campaign.Mode.GENERATE

    def __post_init__(self):
        if self.segment not in SEGMENTS:
            raise CampaignError("Elige un segmento válido.")
        if self.limit is not None and self.limit < 1:
            raise CampaignError("El límite debe ser al menos 1 cliente.")
        if self.not_contacted_days is not None and self.not_contacted_days < 1:
            raise CampaignError("Los días sin contacto deben ser al menos 1.")
        if self.mode not in Campaign.Mode.values:
            raise CampaignError("Elige si solo generar o generar y enviar.")


@dataclass(frozen=True)
class Preview:
    total: int
    opted_out: int
    no_email: int
    recently_contacted: int

    @property
    def will_receive(self) -> int:
        return self.total - self.opted_out - self.no_email - self.recently_contacted


def audience(options: CampaignOptions, as_of: datetime.date | None = None) -> QuerySet[Cliente]:
    """Customers of the segment (highest spend first when limited), minus those contacted in the last N days."""
    customers = customers_in_segment(options.segment, as_of)
    if options.not_contacted_days:
        since = timezone.now() - datetime.timedelta(days=options.not_contacted_days)
        customers = customers.exclude(pk__in=Proposal.objects.filter(sent_at__gte=since).values("cliente_id"))
    customers = customers.order_by("-monetary", "pk")
    if options.limit:
        customers = customers[: options.limit]
    return customers


def _recently_contacted_ids():
    since = timezone.now() - datetime.timedelta(days=max(settings.PROPOSAL_MIN_DAYS_BETWEEN, 0))
    return Proposal.objects.filter(sent_at__gte=since).values("cliente_id")


def preview(options: CampaignOptions, as_of: datetime.date | None = None) -> Preview:
    """How many customers the campaign will include and how many of them will be skipped, and why (one query)."""
    reachable = Q(acepta_marketing=True) & ~Q(email="")
    recent = Q(pk__in=_recently_contacted_ids()) if settings.PROPOSAL_MIN_DAYS_BETWEEN > 0 else Q(pk__in=[])
    figures = Cliente.objects.filter(pk__in=audience(options, as_of).values("pk")).aggregate(
        total=Count("pk"),
        opted_out=Count("pk", filter=Q(acepta_marketing=False)),
        no_email=Count("pk", filter=Q(acepta_marketing=True, email="")),
        recently_contacted=Count("pk", filter=reachable & recent),
    )
    return Preview(**figures)


def start_campaign(*, options: CampaignOptions, user=None, enqueue: bool = True) -> Campaign:
    """Create the campaign and its outbox rows in one transaction; the task starts once it commits.

    A generate-and-send campaign that staff start for more than CAMPAIGN_APPROVAL_THRESHOLD customers is
    started as generate-only: it stops in review until a second person approves the send (see
    `approve_send`). Without a user (`generate_proposals` run by the server's operator) the mode is kept.
    """
    with transaction.atomic():
        ids = list(audience(options).values_list("pk", flat=True))
        if not ids:
            raise CampaignError("No hay clientes en ese segmento con esos filtros.")
        mode = options.mode
        staff = getattr(user, "is_authenticated", False)
        if staff and mode == Campaign.Mode.SEND and len(ids) > settings.CAMPAIGN_APPROVAL_THRESHOLD:
            mode = Campaign.Mode.GENERATE
        campaign = Campaign.objects.create(
            segment=options.segment,
            limit=options.limit,
            not_contacted_days=options.not_contacted_days,
            mode=mode,
            created_by=user if staff else None,
        )
        CampaignRecipient.objects.bulk_create(
            [CampaignRecipient(campaign=campaign, cliente_id=pk) for pk in ids], batch_size=500
        )
        if enqueue:
            enqueue_campaign(campaign.pk)
    logger.info("Campaign %s started: %s customers of %s", campaign.pk, len(ids), options.segment)
    return campaign


def enqueue_campaign(campaign_id: int) -> None:
    from crm.tasks import run_campaign_task

    transaction.on_commit(lambda: run_campaign_task.enqueue(campaign_id))


def needs_second_approval(campaign_id: int) -> bool:
    """True when the send would reach more than CAMPAIGN_APPROVAL_THRESHOLD customers (generated proposals)."""
    to_send = CampaignRecipient.objects.filter(campaign_id=campaign_id, status=R.GENERATED).count()
    return to_send > settings.CAMPAIGN_APPROVAL_THRESHOLD


def approve_send(*, campaign_id: int, user=None) -> Campaign:
    """Staff approve a reviewed campaign: `review -> sending`, and the task sends.

    Rule (Ley 21.719 hardening, "four eyes"): a send to more than CAMPAIGN_APPROVAL_THRESHOLD customers must
    be approved by a user holding `crm.approve_campaign` who did not create the campaign.
    """
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        if campaign is None or campaign.status != Campaign.Status.REVIEW:
            raise CampaignError("Esta campaña no está esperando aprobación.")
        if needs_second_approval(campaign_id):
            threshold = settings.CAMPAIGN_APPROVAL_THRESHOLD
            if user is None or not user.has_perm("crm.approve_campaign"):
                raise CampaignError(
                    f"Esta campaña envía a más de {threshold} clientes: debe aprobarla alguien con permiso "
                    "para aprobar campañas (rol Administración)."
                )
            if campaign.created_by_id is not None and campaign.created_by_id == user.pk:
                raise CampaignError(
                    f"Esta campaña envía a más de {threshold} clientes: debe aprobarla otra persona, no quien la creó."
                )
        Campaign.objects.filter(pk=campaign_id).update(
            status=Campaign.Status.SENDING,
            approved_at=timezone.now(),
            approved_by=user if getattr(user, "is_authenticated", False) else None,
        )
        enqueue_campaign(campaign_id)
    return Campaign.objects.get(pk=campaign_id)


def drop_recipient(*, campaign_id: int, recipient_id: int) -> CampaignRecipient:
    """Take one generated proposal out of a campaign under review (its proposal becomes `discarded`)."""
    with transaction.atomic():
        dropped = CampaignRecipient.objects.filter(
            pk=recipient_id,
            campaign_id=campaign_id,
            status=R.GENERATED,
            campaign__status__in=[Campaign.Status.GENERATING, Campaign.Status.REVIEW],
        ).update(status=R.DROPPED)
        if not dropped:
            raise CampaignError("Solo se pueden descartar propuestas generadas de una campaña en revisión.")
        recipient = CampaignRecipient.objects.get(pk=recipient_id)
        Proposal.objects.filter(pk=recipient.proposal_id, status=Proposal.Status.GENERATED).update(
            status=Proposal.Status.DISCARDED
        )
    return recipient


# --- The worker side ----------------------------------------------------------------------------------------


def _next_recipient(campaign_id: int, status: str) -> CampaignRecipient | None:
    """The next row in `status`, locked for this transaction; rows other workers hold are skipped."""
    rows = CampaignRecipient.objects.filter(campaign_id=campaign_id, status=status).order_by("id")
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True, of=("self",))
    # On SQLite the IMMEDIATE transaction already serialises writers, so one worker at a time gets here.
    return rows.select_related("cliente", "proposal").first()


def _remaining(campaign_id: int, status: str) -> int:
    return CampaignRecipient.objects.filter(campaign_id=campaign_id, status=status).count()


def _generate_one(recipient: CampaignRecipient, user) -> None:
    from crm.services.proposals import generate_proposal

    cliente = recipient.cliente
    try:
        mail.check_recipient(cliente)
        mail.check_frequency(cliente)
    except mail.SendRefused as exc:
        recipient.status, recipient.reason, recipient.error = R.SKIPPED, exc.reason, str(exc)
    else:
        try:
            with transaction.atomic():
                recipient.proposal = generate_proposal(cliente=cliente, user=user)
            recipient.status = R.GENERATED
        except Exception as exc:
            # One customer the engine cannot handle must not stop the campaign: record it and go on.
            logger.exception("Campaign %s: proposal for customer %s failed", recipient.campaign_id, cliente.pk)
            recipient.status, recipient.error = R.FAILED, f"No se pudo generar la propuesta: {exc}"
    recipient.save(update_fields=["status", "reason", "error", "proposal", "updated_at"])


def generate_pending(campaign: Campaign, progress: Progress | None = None) -> None:
    total = _remaining(campaign.pk, R.PENDING)
    done = 0
    while True:
        with transaction.atomic():
            recipient = _next_recipient(campaign.pk, R.PENDING)
            if recipient is None:
                break
            _generate_one(recipient, campaign.created_by)
        done += 1
        if progress:
            progress("generate", done, total)


def send_slot_wait(now: datetime.datetime | None = None) -> float:
    """Seconds to wait before the next email so at most EMAIL_MAX_PER_MINUTE leave per minute (0: go now).

    Counted in the database over every worker: proposals sent or failed in the last 60 seconds.
    EMAIL_MAX_PER_MINUTE <= 0 disables the throttle.
    """
    limit = settings.EMAIL_MAX_PER_MINUTE
    if limit <= 0:
        return 0.0
    now = now or timezone.now()
    window_start = now - datetime.timedelta(seconds=60)
    recent = Q(sent_at__gt=window_start) | Q(failed_at__gt=window_start)
    times = sorted(
        max(t for t in row if t is not None and t > window_start)
        for row in Proposal.objects.filter(recent).values_list("sent_at", "failed_at")
    )
    if len(times) < limit:
        return 0.0
    # The slot frees up when the oldest of the last `limit` emails leaves the window.
    return max((times[-limit] + datetime.timedelta(seconds=60) - now).total_seconds(), 0.01)


def _wait_for_slot(sleep=time.sleep) -> None:
    while (wait := send_slot_wait()) > 0:
        sleep(min(wait, 5.0))


def _recover_interrupted(campaign_id: int) -> None:
    """Rows left `sending` by a crashed worker take their proposal's final state; never `generated` again
    once the proposal itself was claimed (the message may have left)."""
    interrupted = CampaignRecipient.objects.filter(campaign_id=campaign_id, status=R.SENDING)
    interrupted.filter(proposal__status=Proposal.Status.SENT).update(status=R.SENT)
    interrupted.filter(proposal__status=Proposal.Status.FAILED).update(status=R.FAILED)
    # Claimed row whose proposal was never claimed: nothing was attempted, so it can go again.
    interrupted.filter(proposal__status=Proposal.Status.GENERATED).update(status=R.GENERATED)


def _send_one(recipient: CampaignRecipient, mailer: mail.Mailer | None) -> None:
    outcome: dict = {}
    try:
        mail.send_proposal(proposal=recipient.proposal, mailer=mailer)
        outcome = {"status": R.SENT, "reason": "", "error": ""}
    except mail.ProposalNotSendable as exc:
        state = Proposal.objects.filter(pk=recipient.proposal_id).values_list("status", flat=True).first()
        if state == Proposal.Status.SENT:
            outcome = {"status": R.SENT}  # staff sent this very proposal from the profile meanwhile
        elif state == Proposal.Status.DISCARDED:
            outcome = {"status": R.DROPPED}
        elif state != Proposal.Status.SENDING:
            outcome = {"status": R.SKIPPED, "reason": CampaignRecipient.Reason.INTERRUPTED, "error": str(exc)}
        # `sending`: another worker owns it and will record the outcome.
    except mail.SendRefused as exc:
        outcome = {"status": R.SKIPPED, "reason": exc.reason, "error": str(exc)}
    except mail.DeliveryFailed as exc:
        outcome = {"status": R.FAILED, "error": str(exc)}
    if outcome:
        CampaignRecipient.objects.filter(pk=recipient.pk).update(updated_at=timezone.now(), **outcome)


def send_generated(campaign: Campaign, progress: Progress | None = None, mailer: mail.Mailer | None = None) -> None:
    _recover_interrupted(campaign.pk)
    total = _remaining(campaign.pk, R.GENERATED)
    done = 0
    mailer = mailer or mail.default_mailer()
    with mailer.session():
        while True:
            _wait_for_slot()
            with transaction.atomic():
                recipient = _next_recipient(campaign.pk, R.GENERATED)
                if recipient is None:
                    break
                CampaignRecipient.objects.filter(pk=recipient.pk, status=R.GENERATED).update(
                    status=R.SENDING, updated_at=timezone.now()
                )
            _send_one(recipient, mailer)
            done += 1
            if progress:
                progress("send", done, total)


def run_campaign(campaign_id: int, *, progress: Progress | None = None, mailer: mail.Mailer | None = None) -> dict:
    """Do whatever the campaign still needs (generate, then send when approved); safe to run again."""
    campaign = Campaign.objects.get(pk=campaign_id)
    if campaign.status == Campaign.Status.GENERATING:
        generate_pending(campaign, progress)
        after = Campaign.Status.SENDING if campaign.mode == Campaign.Mode.SEND else Campaign.Status.REVIEW
        extra = {"approved_at": timezone.now(), "approved_by": campaign.created_by} if after == "sending" else {}
        Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.GENERATING).update(status=after, **extra)
        campaign.refresh_from_db()
    if campaign.status == Campaign.Status.SENDING:
        send_generated(campaign, progress, mailer)
        Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING).update(
            status=Campaign.Status.DONE, finished_at=timezone.now()
        )
    return campaign_progress(campaign_id).as_dict()


# --- Figures ------------------------------------------------------------------------------------------------

_COUNTS = {
    "total": Count("recipients"),
    **{status: Count("recipients", filter=Q(recipients__status=status)) for status in R.values},
}


def with_figures(campaigns: QuerySet[Campaign]) -> QuerySet[Campaign]:
    """Campaigns annotated with their recipient counts per status (`total`, `pending`, `sent`, ...)."""
    return campaigns.annotate(**{f"n_{name}": expression for name, expression in _COUNTS.items()})


@dataclass
class CampaignProgress:
    campaign_id: int
    status: str
    status_label: str
    counts: dict[str, int]
    skipped_by_reason: list[dict] = field(default_factory=list)

    @property
    def done(self) -> int:
        c = self.counts
        if self.status in (Campaign.Status.GENERATING, Campaign.Status.REVIEW):
            return c["total"] - c["pending"]
        return c["total"] - c["pending"] - c["generated"] - c["sending"]

    @property
    def finished(self) -> bool:
        return self.status in (Campaign.Status.DONE, Campaign.Status.CANCELLED, Campaign.Status.REVIEW)

    def as_dict(self) -> dict:
        return {
            "campaign_id": self.campaign_id,
            "status": self.status,
            "status_label": self.status_label,
            "done": self.done,
            "finished": self.finished,
            **self.counts,
            "skipped_by_reason": self.skipped_by_reason,
        }


def campaign_progress(campaign_id: int) -> CampaignProgress:
    """Counts per status and skipped rows per reason (two queries)."""
    campaign = with_figures(Campaign.objects.filter(pk=campaign_id)).get()
    counts = {name: getattr(campaign, f"n_{name}") for name in _COUNTS}
    labels = dict(CampaignRecipient.Reason.choices)
    reasons = (
        CampaignRecipient.objects.filter(campaign_id=campaign_id, status=R.SKIPPED)
        .values("reason")
        .annotate(count=Count("id"))
        .order_by("-count", "reason")
    )
    return CampaignProgress(
        campaign_id=campaign.pk,
        status=campaign.status,
        status_label=campaign.get_status_display(),
        counts=counts,
        skipped_by_reason=[
            {"reason": row["reason"], "label": labels.get(row["reason"], row["reason"]), "count": row["count"]}
            for row in reasons
        ],
    )
