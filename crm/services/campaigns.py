"""Campaigns: proposals for every customer of an RFM segment, generated and sent outside the request.

How a campaign runs (see `crm.tasks.run_campaign_task`):

1. `start_campaign` snapshots the audience (segment, optional limit, optionally only customers not contacted
   in the last N days) into one `CampaignRecipient` row per customer (unique per campaign) and enqueues the
   task when the transaction commits.
2. The task takes the campaign's lease (`Campaign.lease_owner`, `lease_expires_at`: one live worker per
   campaign) and renews it after every customer; a renewal that fails (cancelled, or taken over after the
   lease expired) stops it between two customers. `recover_campaigns` (a periodic task, also run when the
   campaign page opens) enqueues again a campaign whose lease expired because its worker died.
3. Generation claims `pending -> generating` rows one at a time (`SELECT ... FOR UPDATE SKIP LOCKED` where the
   database has it) and commits; the proposal backend is called with no transaction open, then the row is
   recorded `generated`. Customers the rules of `crm.services.mail.rules` refuse (consent, email, frequency
   cap) are `skipped` with that reason. A row left `generating` by a dead worker goes back to `pending`.
4. Generate-only campaigns stop in `review`: staff open proposals, drop the ones they do not want and approve.
   Generate-and-send campaigns go straight on.
5. Sending claims `generated -> sending` rows (committed before talking to the SMTP server) and calls
   `crm.services.mail.send_proposal`, whose own conditional update guarantees one email per proposal. A row
   is never put back to `generated` once its proposal may have left: a row whose send was cut off becomes
   `interrupted`, and staff decide on the campaign page (mark as sent, or send again). So re-running the task
   or a worker crash never emails a customer the same campaign twice. Sending waits for a slot so that at
   most EMAIL_MAX_PER_MINUTE emails (sent or failed, by every worker) go out per minute.
"""

from __future__ import annotations

import datetime
import logging
import os
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Func, Q, QuerySet, Subquery
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from crm.models import Campaign, CampaignRecipient, Proposal
from crm.services import conversions, mail
from crm.services.proposals import generate_proposal
from crm.services.retention import due_back, movement
from crm.services.rfm import (
    SEGMENTS,
    annotate_rfm_from_summaries,
    customers_in_segment_from_summaries,
)
from crm.services.whatsapp.eligibility import whatsapp_withdrawn
from ventas.models import Cliente

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (phase, done, total)

R = CampaignRecipient.Status


class CampaignError(Exception):
    """A campaign operation that cannot be done (Spanish message for staff; views answer 4xx)."""


# Who a campaign can be for: an RFM segment, or one of the retention audiences (issue 13).
RETENTION_AUDIENCES = {
    "overdue": "Atrasados según su ritmo",
    "valuable_to_at_risk": "Pasaron de VIP, Campeones o Leales a En riesgo este mes",
}
AUDIENCES = {**{key: segment.label for key, segment in SEGMENTS.items()}, **RETENTION_AUDIENCES}


def audience_label(key: str) -> str:
    """ "at_risk" -> "En riesgo", "overdue" -> "Atrasados según su ritmo"; unknown keys as they are."""
    return AUDIENCES.get(key, key)


@dataclass(frozen=True)
class CampaignOptions:
    segment: str
    limit: int | None = None
    not_contacted_days: int | None = None
    mode: str = Campaign.Mode.GENERATE
    # Campaigns send email today; a WhatsApp campaign must also leave out customers who withdrew WhatsApp
    # consent (email consent is a separate channel, so email audiences keep them).
    channel: str = "email"

    def __post_init__(self):
        if self.segment not in AUDIENCES:
            raise CampaignError("Elige un segmento válido.")
        if self.limit is not None and self.limit < 1:
            raise CampaignError("El límite debe ser al menos 1 cliente.")
        if self.not_contacted_days is not None and self.not_contacted_days < 1:
            raise CampaignError("Los días sin contacto deben ser al menos 1.")
        if self.mode not in Campaign.Mode.values:
            raise CampaignError("Elige si solo generar o generar y enviar.")
        if self.channel not in ("email", "whatsapp"):
            raise CampaignError("Elige el canal de la campaña: email o WhatsApp.")


@dataclass(frozen=True)
class Preview:
    total: int
    opted_out: int
    no_email: int
    recently_contacted: int
    other_refusals: int = 0  # rules added later (e.g. a temporary block)
    in_segment: int | None = None  # customers of the segment with these filters before the limit
    control: int = 0  # customers who could receive one but are the campaign's control group (never contacted)

    @property
    def limited(self) -> bool:
        return self.in_segment is not None and self.in_segment > self.total

    @property
    def will_receive(self) -> int:
        skipped = self.opted_out + self.no_email + self.recently_contacted + self.other_refusals
        return self.total - skipped - self.control


def audience(options: CampaignOptions, as_of: datetime.date | None = None) -> QuerySet[Cliente]:
    """Customers of the segment (highest spend first when limited), minus those contacted in the last N days
    and those who blocked processing or objected to profiling.

    Segments and RFM figures come from the summary table (`crm.services.summaries`, exact after every write):
    no query reads the history. The figures are the customers' history up to today; the scores are computed
    from them as of `as_of` (default today) in the same query (`stored=False`), so a preview stays one query.
    """
    as_of = as_of or timezone.localdate()
    if options.segment == "overdue":
        customers = annotate_rfm_from_summaries(due_back.overdue_customers(as_of), as_of, stored=False)
    elif options.segment == "valuable_to_at_risk":
        customers = annotate_rfm_from_summaries(movement.moved(movement.VALUABLE, "at_risk"), as_of, stored=False)
    else:
        customers = customers_in_segment_from_summaries(options.segment, as_of, stored=False)
    customers = customers.filter(bloqueo_desde__isnull=True, oposicion_desde__isnull=True)  # Ley 21.719
    if options.channel == "whatsapp":
        customers = customers.exclude(pk__in=whatsapp_withdrawn().values("pk"))
    if options.not_contacted_days:
        since = timezone.now() - datetime.timedelta(days=options.not_contacted_days)
        customers = customers.exclude(pk__in=Proposal.objects.filter(sent_at__gte=since).values("cliente_id"))
    customers = customers.order_by("-monetary", "pk")
    if options.limit:
        customers = customers[: options.limit]
    return customers


def _with_last_send(options: CampaignOptions, as_of: datetime.date | None = None) -> QuerySet[Cliente]:
    """The audience annotated with each customer's last proposal sent (what the sending rules need)."""
    return mail.with_last_sent_at(Cliente.objects.filter(pk__in=audience(options, as_of).values("pk")))


def _refusals(customers: QuerySet[Cliente]) -> Iterator[tuple[Cliente, mail.SendRefused | None]]:
    """Each customer with the first refusal of the sending rules (None: can receive an email now)."""
    now = timezone.now()
    for cliente in customers.iterator(chunk_size=2000):
        yield cliente, mail.refusal(cliente, last_sent_at=cliente.last_sent_at, now=now)


def preview(options: CampaignOptions, as_of: datetime.date | None = None) -> Preview:
    """How many customers the campaign will include and how many of them will be skipped, and why.

    One query fetches the audience with each customer's last send; the skip reasons come from the same rules
    the sender applies (`crm.services.mail.rules`), and the control group is sized as `start_campaign` draws it,
    so the count and the campaign agree.
    """
    customers = _with_last_send(options, as_of)
    in_segment = None
    if options.limit:  # the size before the limit rides along on every row, so this stays one query
        unlimited = audience(replace(options, limit=None), as_of).order_by().values("pk")
        size = Cliente.objects.filter(pk__in=unlimited).order_by().annotate(n=Func(F("pk"), function="COUNT"))
        customers = customers.annotate(in_segment=Subquery(size.values("n")[:1]))
    reasons = Counter()
    for cliente, refused in _refusals(customers):
        reasons[refused.reason if refused else ""] += 1
        if options.limit:
            in_segment = cliente.in_segment
    known = {"opted_out", "no_email", "recent_contact", ""}
    return Preview(
        control=holdout_size(reasons[""]),
        in_segment=in_segment,
        total=sum(reasons.values()),
        opted_out=reasons["opted_out"],
        no_email=reasons["no_email"],
        recently_contacted=reasons["recent_contact"],
        other_refusals=sum(count for reason, count in reasons.items() if reason not in known),
    )


def start_campaign(*, options: CampaignOptions, user=None, enqueue: bool = True) -> Campaign:
    """Create the campaign and its outbox rows in one transaction; the task starts once it commits.

    A generate-and-send campaign that staff start for more than CAMPAIGN_APPROVAL_THRESHOLD customers is
    started as generate-only: it stops in review until a second person approves the send (see
    `approve_send`). Without a user (`generate_proposals` run by the server's operator) the mode is kept.

    The control group is drawn separately among the customers who can receive an email now and among the
    others (stratified: every customer still has the same chance), so the number of emails is known before the
    campaign exists and the confirmation staff see (`preview(...).will_receive`) is exact.
    """
    # Read before the transaction: on SQLite an open write transaction would block the workers meanwhile.
    reachable = {cliente.pk: refused is None for cliente, refused in _refusals(_with_last_send(options))}
    ids = sorted(reachable)
    if not ids:
        raise CampaignError("No hay clientes en ese segmento con esos filtros.")
    with transaction.atomic():
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
        control = {
            *holdout([pk for pk in ids if reachable[pk]], campaign.pk),
            *holdout([pk for pk in ids if not reachable[pk]], campaign.pk),
        }
        CampaignRecipient.objects.bulk_create(
            [
                CampaignRecipient(campaign=campaign, cliente_id=pk, status=R.CONTROL if pk in control else R.PENDING)
                for pk in ids
            ],
            batch_size=500,
        )
        if enqueue:
            enqueue_campaign(campaign.pk)
    logger.info("Campaign %s started: %s customers of %s", campaign.pk, len(ids), options.segment)
    return campaign


def holdout_size(customers: int, share: float | None = None) -> int:
    """How many of `customers` go to the control group: `share` (CAMPAIGN_HOLDOUT_SHARE, at most half), rounded
    down."""
    share = settings.CAMPAIGN_HOLDOUT_SHARE if share is None else share
    return int(customers * max(0.0, min(share, 0.5)))


def holdout(ids: list[int], seed: int, share: float | None = None) -> list[int]:
    """The random control group of a campaign: `holdout_size` of `ids`, drawn reproducibly from the campaign id.
    Never contacted by the campaign; its conversions are the baseline."""
    size = holdout_size(len(ids), share)
    return random.Random(seed).sample(sorted(ids), size) if size else []


def enqueue_campaign(campaign_id: int) -> None:
    """Enqueue the campaign's task once the transaction commits.

    Unless a live worker holds the campaign, its lease is set "waiting for a worker" for SEND_LEASE_SECONDS:
    if no worker has taken it by then (the task was lost), `recover_campaigns` enqueues it again.
    """
    now = timezone.now()
    Campaign.objects.filter(Q(lease_owner="") | _expired(now), pk=campaign_id).update(
        lease_owner="", lease_expires_at=now + mail.send_lease()
    )
    _enqueue_on_commit(campaign_id)


def _enqueue_on_commit(campaign_id: int) -> None:
    from crm.tasks import run_campaign_task  # crm.tasks imports this module

    transaction.on_commit(lambda: run_campaign_task.enqueue(campaign_id))


def needs_second_approval(campaign_id: int) -> bool:
    """True when the send would reach more than CAMPAIGN_APPROVAL_THRESHOLD customers (generated proposals)."""
    to_send = CampaignRecipient.objects.filter(campaign_id=campaign_id, status=R.GENERATED).count()
    return to_send > settings.CAMPAIGN_APPROVAL_THRESHOLD


def check_approval(campaign: Campaign | None, user=None) -> int:
    """Raise CampaignError unless `user` may approve the send now; return how many emails it would send."""
    if campaign is None or campaign.status != Campaign.Status.REVIEW:
        raise CampaignError("Esta campaña no está esperando aprobación.")
    to_send = CampaignRecipient.objects.filter(campaign_id=campaign.pk, status=R.GENERATED).count()
    threshold = settings.CAMPAIGN_APPROVAL_THRESHOLD
    if to_send > threshold:
        if user is None or not user.has_perm("crm.approve_campaign"):
            raise CampaignError(
                f"Esta campaña envía a más de {threshold} clientes: debe aprobarla alguien con permiso "
                "para aprobar campañas (rol Administración)."
            )
        if campaign.created_by_id is not None and campaign.created_by_id == user.pk:
            raise CampaignError(
                f"Esta campaña envía a más de {threshold} clientes: debe aprobarla otra persona, no quien la creó."
            )
    return to_send


def approval_refusal(campaign: Campaign, user) -> str:
    """Why `user` may not approve the send of `campaign` now (Spanish, for staff); '' when they may."""
    try:
        check_approval(campaign, user)
    except CampaignError as exc:
        return str(exc)
    return ""


def approve_send(*, campaign_id: int, user=None, expected: int | None = None) -> Campaign:
    """Staff approve a reviewed campaign: `review -> sending`, and the task sends.

    Rule (Ley 21.719 hardening, "four eyes"): a send to more than CAMPAIGN_APPROVAL_THRESHOLD customers must
    be approved by a user holding `crm.approve_campaign` who did not create the campaign. With `expected` (the
    number staff confirmed) the send is refused when the number of emails to send has changed since.
    """
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        to_send = check_approval(campaign, user)
        if expected is not None and to_send != expected:
            raise CampaignError(
                f"El número de clientes por enviar cambió ({to_send}); revisa y confirma de nuevo el envío."
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

ACTIVE = (Campaign.Status.GENERATING, Campaign.Status.SENDING)


def _expired(now: datetime.datetime) -> Q:
    return Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True)


def worker_id() -> str:
    """Who holds a lease: host, process and a random suffix (a restarted process is a different worker)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Lease:
    """This worker's right to run one campaign until `lease_expires_at`; renewed after every customer."""

    campaign_id: int
    owner: str

    def renew(self) -> bool:
        """Extend the lease; False when the campaign was cancelled or another worker took it over (stop)."""
        return (
            Campaign.objects.filter(pk=self.campaign_id, lease_owner=self.owner, status__in=ACTIVE).update(
                lease_expires_at=timezone.now() + mail.send_lease()
            )
            == 1
        )

    def release(self) -> None:
        Campaign.objects.filter(pk=self.campaign_id, lease_owner=self.owner).update(
            lease_owner="", lease_expires_at=None
        )


def acquire_lease(campaign_id: int, owner: str) -> Lease | None:
    """Take the campaign when it is generating or sending and no live worker holds it (None otherwise)."""
    now = timezone.now()
    free = Q(lease_owner="") | Q(lease_owner=owner) | _expired(now)
    taken = Campaign.objects.filter(free, pk=campaign_id, status__in=ACTIVE).update(
        lease_owner=owner, lease_expires_at=now + mail.send_lease()
    )
    return Lease(campaign_id, owner) if taken else None


def _next_recipient(campaign_id: int, status: str) -> CampaignRecipient | None:
    """The next row in `status`, locked for this transaction; rows other workers hold are skipped."""
    rows = CampaignRecipient.objects.filter(campaign_id=campaign_id, status=status).order_by("id")
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True, of=("self",))
    # On SQLite the IMMEDIATE transaction already serialises writers, so one worker at a time gets here.
    return rows.select_related("cliente", "proposal").first()


def _claim_next(campaign_id: int, status: str, claimed: str) -> CampaignRecipient | None:
    """Move the next row from `status` to `claimed` and commit, so the slow call after it holds no lock."""
    with transaction.atomic():
        recipient = _next_recipient(campaign_id, status)
        if recipient is not None:
            CampaignRecipient.objects.filter(pk=recipient.pk, status=status).update(
                status=claimed, updated_at=timezone.now()
            )
    return recipient


def _remaining(campaign_id: int, status: str) -> int:
    return CampaignRecipient.objects.filter(campaign_id=campaign_id, status=status).count()


def _generate_one(recipient: CampaignRecipient, user, generate: mail.sending.Generate) -> None:
    """Generate the proposal of a claimed (`generating`) row, with no transaction open, and record it."""
    cliente = recipient.cliente
    outcome: dict = {"status": R.GENERATED, "reason": "", "error": ""}
    try:
        mail.check_can_receive(cliente)
    except mail.SendRefused as exc:
        outcome = {"status": R.SKIPPED, "reason": exc.reason, "error": str(exc)}
    else:
        try:
            outcome["proposal"] = generate(cliente=cliente, user=user)
        except Exception as exc:
            # One customer the engine cannot handle must not stop the campaign: record it and go on.
            logger.exception("Campaign %s: proposal for customer %s failed", recipient.campaign_id, cliente.pk)
            outcome = {"status": R.FAILED, "reason": "", "error": f"No se pudo generar la propuesta: {exc}"}
    CampaignRecipient.objects.filter(pk=recipient.pk, status=R.GENERATING).update(updated_at=timezone.now(), **outcome)


def generate_pending(
    campaign: Campaign,
    lease: Lease,
    progress: Progress | None = None,
    generate: mail.sending.Generate = generate_proposal,
) -> bool:
    """Generate a proposal for every `pending` row; False when stopped (cancelled or lease lost)."""
    total = _remaining(campaign.pk, R.PENDING)
    done = 0
    while (recipient := _claim_next(campaign.pk, R.PENDING, R.GENERATING)) is not None:
        _generate_one(recipient, campaign.created_by, generate)
        done += 1
        if progress:
            progress("generate", done, total)
        if not lease.renew():
            return False
    return True


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


def _wait_for_slot(lease: Lease, sleep=time.sleep) -> bool:
    """Wait for a send slot, keeping the lease alive; False when the campaign was cancelled meanwhile."""
    while (wait := send_slot_wait()) > 0:
        sleep(min(wait, 5.0))
        if not lease.renew():
            return False
    return True


def _recover_rows(campaign_id: int) -> None:
    """Rows a dead worker left half-done, put right by the worker that now holds the lease.

    `generating`: back to `pending` (nothing was sent). `sending`: the proposal's own state when it has one; a
    proposal still `sending` (its outcome is unknown: the message may have left) becomes `interrupted`, and so
    does the row, until staff decide. Never back to `generated` once the proposal itself was claimed.
    """
    rows = CampaignRecipient.objects.filter(campaign_id=campaign_id)
    rows.filter(status=R.GENERATING).update(status=R.PENDING)
    in_flight = rows.filter(status=R.SENDING, proposal__status=Proposal.Status.SENDING)
    Proposal.objects.filter(pk__in=in_flight.values("proposal_id")).update(status=Proposal.Status.INTERRUPTED)
    unsettled = rows.filter(status__in=[R.SENDING, R.INTERRUPTED])
    unsettled.filter(proposal__status=Proposal.Status.SENT).update(status=R.SENT)
    unsettled.filter(proposal__status=Proposal.Status.FAILED).update(status=R.FAILED)
    unsettled.filter(proposal__status=Proposal.Status.INTERRUPTED).update(status=R.INTERRUPTED)
    # Claimed row whose proposal was never claimed: nothing was attempted, so it can go again.
    rows.filter(status=R.SENDING, proposal__status=Proposal.Status.GENERATED).update(status=R.GENERATED)


def _send_one(recipient: CampaignRecipient, mailer: mail.Mailer) -> None:
    outcome: dict = {}
    try:
        mail.send_proposal(proposal=recipient.proposal, mailer=mailer)
        outcome = {"status": R.SENT, "reason": "", "error": ""}
    except mail.SendInterrupted as exc:
        outcome = {"status": R.INTERRUPTED, "error": str(exc)}
    except mail.ProposalNotSendable as exc:
        state = Proposal.objects.filter(pk=recipient.proposal_id).values_list("status", flat=True).first()
        if state == Proposal.Status.SENT:
            outcome = {"status": R.SENT}  # staff sent this very proposal from the profile meanwhile
        elif state == Proposal.Status.DISCARDED:
            outcome = {"status": R.DROPPED}
        elif state != Proposal.Status.SENDING:
            outcome = {"status": R.SKIPPED, "reason": CampaignRecipient.Reason.INTERRUPTED, "error": str(exc)}
        # `sending`: someone else is sending it right now; the next recovery records its outcome.
    except mail.SendRefused as exc:
        outcome = {"status": R.SKIPPED, "reason": exc.reason, "error": str(exc)}
    except mail.DeliveryFailed as exc:
        outcome = {"status": R.FAILED, "error": str(exc)}
    if outcome:
        CampaignRecipient.objects.filter(pk=recipient.pk).update(updated_at=timezone.now(), **outcome)


def send_generated(
    campaign: Campaign, lease: Lease, progress: Progress | None = None, mailer: mail.Mailer | None = None
) -> bool:
    """Send every `generated` row (claim, commit, SMTP, record); False when stopped (cancelled or lease lost)."""
    total = _remaining(campaign.pk, R.GENERATED)
    done = 0
    mailer = mailer or mail.default_mailer()
    with mailer.session():
        while True:
            if not _wait_for_slot(lease):
                return False
            recipient = _claim_next(campaign.pk, R.GENERATED, R.SENDING)
            if recipient is None:
                return True
            _send_one(recipient, mailer)
            done += 1
            if progress:
                progress("send", done, total)
            if not lease.renew():
                return False


def run_campaign(
    campaign_id: int,
    *,
    progress: Progress | None = None,
    mailer: mail.Mailer | None = None,
    generate: mail.sending.Generate = generate_proposal,
    owner: str | None = None,
) -> dict:
    """Do whatever the campaign still needs (generate, then send when approved); safe to run again.

    Runs only under the campaign's lease: when a live worker holds it, or the campaign is in review, done or
    cancelled, this returns at once. A cancel is seen after the current customer (the lease renewal fails).
    """
    lease = acquire_lease(campaign_id, owner or worker_id())
    if lease is None:
        return campaign_progress(campaign_id).as_dict()
    try:
        _recover_rows(campaign_id)
        campaign = Campaign.objects.get(pk=campaign_id)
        if campaign.status == Campaign.Status.GENERATING:
            if not generate_pending(campaign, lease, progress, generate):
                return campaign_progress(campaign_id).as_dict()
            after, extra = Campaign.Status.REVIEW, {}
            if campaign.approved_at is not None:  # approved, cancelled, then resumed
                after = Campaign.Status.SENDING
            elif campaign.mode == Campaign.Mode.SEND:
                after = Campaign.Status.SENDING
                extra = {"approved_at": timezone.now(), "approved_by": campaign.created_by}
            Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.GENERATING).update(status=after, **extra)
            campaign.refresh_from_db()
        if campaign.status == Campaign.Status.SENDING:
            if not send_generated(campaign, lease, progress, mailer):
                return campaign_progress(campaign_id).as_dict()
            Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING).update(
                status=Campaign.Status.DONE, finished_at=timezone.now()
            )
    finally:
        lease.release()
    return campaign_progress(campaign_id).as_dict()


def recover_campaign(campaign_id: int) -> bool:
    """Re-enqueue the campaign when it is generating or sending and its lease expired (its worker died, or its
    task was lost); True when it did. Cheap enough for every opening of the campaign page (one UPDATE)."""
    now = timezone.now()
    stale = Campaign.objects.filter(_expired(now), pk=campaign_id, status__in=ACTIVE).update(
        lease_owner="", lease_expires_at=now + mail.send_lease()
    )
    if stale:  # the conditional UPDATE picks one caller; its task is enqueued when the caller's transaction commits
        logger.warning("Campaign %s had no live worker: enqueued again", campaign_id)
        _close_dead_task_rows(campaign_id, now)
        _enqueue_on_commit(campaign_id)
    return bool(stale)


RUN_TASK_PATH = "crm.tasks.run_campaign_task"


def _close_dead_task_rows(campaign_id: int, now: datetime.datetime) -> int:
    """The database task backend leaves the task of a killed worker RUNNING forever: once the campaign's lease
    says its worker is gone, close that row as failed so the task admin tells the truth. (A worker that was only
    slow still records its own result when it finishes.)"""
    return DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING, task_path=RUN_TASK_PATH, args_kwargs__args__0=campaign_id
    ).update(
        status=TaskResultStatus.FAILED,
        finished_at=now,
        exception_class_path="crm.services.campaigns.WorkerLost",
        traceback="The worker stopped renewing the campaign's lease (killed?); the campaign was enqueued again.",
    )


def recover_campaigns() -> list[int]:
    """The periodic recovery: sends silent past their lease become `interrupted`, and every generating or
    sending campaign whose lease expired is enqueued again. Returns the campaigns re-enqueued."""
    mail.expire_stuck_sends()
    stale = Campaign.objects.filter(_expired(timezone.now()), status__in=ACTIVE).values_list("pk", flat=True)
    return [campaign_id for campaign_id in list(stale) if recover_campaign(campaign_id)]


# --- Staff decisions on a campaign page ---------------------------------------------------------------------


def cancel_campaign(*, campaign_id: int, user=None) -> Campaign:
    """Stop a campaign (generating, in review or sending); a worker stops after the customer in hand."""
    cancelled = Campaign.objects.filter(pk=campaign_id, status__in=[*ACTIVE, Campaign.Status.REVIEW]).update(
        status=Campaign.Status.CANCELLED, finished_at=timezone.now()
    )
    if not cancelled:
        raise CampaignError("Esta campaña ya terminó o ya estaba cancelada.")
    logger.info("Campaign %s cancelled by %s", campaign_id, getattr(user, "pk", None))
    return Campaign.objects.get(pk=campaign_id)


def resume_campaign(*, campaign_id: int, user=None) -> Campaign:
    """Start again a cancelled campaign, or one whose worker is gone, where it stopped.

    A cancelled campaign goes back to generating (customers still pending), sending (approved) or review.
    A generating or sending one is enqueued again unless a live worker holds it.
    """
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.status == Campaign.Status.CANCELLED:
            rows = CampaignRecipient.objects.filter(campaign=campaign)
            if rows.filter(status__in=[R.PENDING, R.GENERATING]).exists():
                campaign.status = Campaign.Status.GENERATING
            elif campaign.approved_at is not None:
                campaign.status = Campaign.Status.SENDING
            else:
                campaign.status = Campaign.Status.REVIEW
            campaign.finished_at = None
            campaign.save(update_fields=["status", "finished_at"])
        elif campaign.status not in ACTIVE:
            raise CampaignError("Solo se puede reanudar una campaña cancelada o detenida.")
        elif campaign.lease_owner and campaign.lease_expires_at and campaign.lease_expires_at > timezone.now():
            raise CampaignError("La campaña ya está avanzando en segundo plano.")
        if campaign.status in ACTIVE:
            enqueue_campaign(campaign.pk)
    logger.info("Campaign %s resumed by %s", campaign_id, getattr(user, "pk", None))
    return Campaign.objects.get(pk=campaign_id)


def decide_interrupted(*, campaign_id: int, recipient_id: int, sent: bool, user=None) -> CampaignRecipient:
    """Staff settle a send with unknown outcome: `sent=True` records it as sent (the customer got it);
    `sent=False` sends it again (the campaign goes back to sending when it had finished)."""
    now = timezone.now()
    with transaction.atomic():
        recipient = (
            CampaignRecipient.objects.select_for_update(of=("self",))
            .select_related("campaign", "proposal", "cliente")
            .filter(pk=recipient_id, campaign_id=campaign_id, status=R.INTERRUPTED)
            .first()
        )
        if recipient is None or recipient.proposal is None:
            raise CampaignError("Ese envío ya no está interrumpido.")
        proposal = Proposal.objects.filter(pk=recipient.proposal_id, status=Proposal.Status.INTERRUPTED)
        if sent:
            proposal.update(
                status=Proposal.Status.SENT,
                sent_at=F("sending_since"),
                sent_to=recipient.cliente.email,
                error="Marcada como enviada por el equipo tras un envío interrumpido.",
            )
            Proposal.objects.filter(pk=recipient.proposal_id, sent_at__isnull=True).update(sent_at=now)
            conversions.refresh_proposal(recipient.proposal_id)
            recipient.status, recipient.error = R.SENT, ""
        else:
            proposal.update(status=Proposal.Status.GENERATED, error="")
            recipient.status, recipient.error = R.GENERATED, ""
            campaign = recipient.campaign
            if campaign.status == Campaign.Status.DONE:
                Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.DONE).update(
                    status=Campaign.Status.SENDING, finished_at=None
                )
            if campaign.status in (*ACTIVE, Campaign.Status.DONE):
                enqueue_campaign(campaign.pk)
        recipient.save(update_fields=["status", "error", "updated_at"])
    logger.info(
        "Campaign %s: interrupted send to customer %s %s by %s",
        campaign_id,
        recipient.cliente_id,
        "marked as sent" if sent else "sent again",
        getattr(user, "pk", None),
    )
    return recipient


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
            return c["total"] - c["pending"] - c["generating"]
        # An interrupted send counts as processed: it waits for a staff decision, not for the worker.
        return c["total"] - c["pending"] - c["generating"] - c["generated"] - c["sending"]

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
