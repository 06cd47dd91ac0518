"""Build a day's WhatsApp tray, and read it for the page.

`build_tray(day, size)` (the `build_tray` command and the 06:00 task): idempotent per day. If the day already
has a tray it is returned as it is. Otherwise:

1. cycles of customers who came back since their cycle started are restarted (one UPDATE);
2. tier by tier, in priority order (crm.services.whatsapp.tiers), the eligible customers not yet picked are
   taken; each is drawn into the control group (holdout) with probability WHATSAPP_HOLDOUT_SHARE, fixed by day
   and customer, so every tier keeps its share; holdout customers are recorded but never shown; picking stops
   when `size` customers are shown;
3. each shown customer's message is written from the templates (crm.services.whatsapp.messages); a customer no
   template can be filled for is skipped; the optional rewrite runs here, before any transaction;
4. the day and its items are written in one short transaction (a concurrent build of the same day loses on the
   unique day and returns the winner's tray).
"""

from __future__ import annotations

import datetime
import logging
import time
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from crm.models import TrayDay, TrayItem
from crm.services.whatsapp import messages
from crm.services.whatsapp.eligibility import eligible_customers, restart_cycles_after_visits
from crm.services.whatsapp.outcomes import snooze_label
from crm.services.whatsapp.tiers import TIER_ORDER, TIERS, Candidate, Segments, TierRule

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildResult:
    tray: TrayDay
    created: bool
    shown: int
    holdout: int
    skipped_no_template: int


def _pick(day: datetime.date, size: int, share: float) -> tuple[list[Candidate], list[Candidate], str]:
    """Candidates to show and to hold out, in priority order."""
    eligible = eligible_customers(day)
    segments = Segments(day)
    shown: list[Candidate] = []
    held: list[Candidate] = []
    picked: set[int] = set()
    for rule in TIERS:
        missing = size - len(shown)
        if missing <= 0:
            break
        # Ask for enough to cover the holdout draw and customers without a usable template.
        limit = int(missing / max(1 - share, 0.05)) + 10
        for candidate in rule.select(day, eligible, picked, limit, segments):
            if len(shown) >= size:
                break
            picked.add(candidate.cliente_id)
            if messages.draw(day, candidate.cliente_id, "holdout") < share:
                held.append(candidate)
            else:
                shown.append(candidate)
    return shown, held, segments.source


def build_tray(
    day: datetime.date | None = None,
    *,
    size: int | None = None,
    rewriter: messages.Rewriter | None = None,
) -> BuildResult:
    """Build the tray of `day` (default: today in America/Santiago) unless it exists. Rules in the module docstring.

    `rewriter`: rewrites template texts (default: the configured one, see messages.configured_rewriter).
    """
    day = day or timezone.localdate()
    size = settings.WHATSAPP_TRAY_SIZE if size is None else size
    if size < 1:
        raise ValueError("El tamaño de la bandeja debe ser al menos 1.")
    existing = TrayDay.objects.filter(day=day).first()
    if existing is not None:
        return _existing(existing)
    started = time.perf_counter()
    restart_cycles_after_visits()
    share = min(max(settings.WHATSAPP_HOLDOUT_SHARE, 0.0), 0.9)
    shown, held, source = _pick(day, size, share)
    rewriter = rewriter if rewriter is not None else messages.configured_rewriter()

    facts = messages.customer_facts([c.cliente_id for c in shown])
    templates = messages.active_templates()
    valid_until = day + datetime.timedelta(days=settings.WHATSAPP_CODE_DAYS)
    items, skipped = [], 0
    for candidate in shown:
        code = messages.offer_code(day, candidate.cliente_id)
        context = messages.context_for(
            facts.get(candidate.cliente_id, {}), suggestion=candidate.suggestion, code=code, valid_until=valid_until
        )
        written = messages.choose_and_fill(
            templates,
            tier=candidate.tier,
            segment=candidate.segment,
            context=context,
            day=day,
            cliente_id=candidate.cliente_id,
        )
        if written is None:
            skipped += 1
            continue
        text = messages.rewrite(written.text, rewriter=rewriter, code=code)
        items.append(_item(candidate, message=messages.with_stop_line(text), template=written.template, code=code))
    items.extend(_item(candidate, message="", template=None, code="", holdout=True) for candidate in held)
    items.sort(key=lambda item: (TIER_ORDER[item.tier], item.holdout))
    for rank, item in enumerate(items, start=1):
        item.rank = rank

    try:
        with transaction.atomic():
            tray = TrayDay.objects.create(day=day, size=size, segments_source=source)
            for item in items:
                item.tray = tray
            TrayItem.objects.bulk_create(items)
            tray.seconds = round(time.perf_counter() - started, 3)
            tray.save(update_fields=["seconds"])
    except IntegrityError:
        return _existing(TrayDay.objects.get(day=day))
    if skipped:
        logger.warning("WhatsApp tray %s: %d customers skipped, no template could be filled", day, skipped)
    return BuildResult(tray, True, len(items) - len(held), len(held), skipped)


def _item(candidate: Candidate, *, message: str, template, code: str, holdout: bool = False) -> TrayItem:
    return TrayItem(
        cliente_id=candidate.cliente_id,
        tier=candidate.tier,
        rank=0,
        segment=candidate.segment,
        reason=candidate.reason[:300],
        message=message,
        template=template,
        code=code,
        holdout=holdout,
    )


def _existing(tray: TrayDay) -> BuildResult:
    counts = {False: 0, True: 0}
    for holdout in tray.items.values_list("holdout", flat=True):
        counts[holdout] += 1
    return BuildResult(tray, False, counts[False], counts[True], 0)


@dataclass(frozen=True)
class TierGroup:
    rule: TierRule
    items: list[TrayItem]


@dataclass(frozen=True)
class TrayPage:
    day: datetime.date
    tray: TrayDay | None
    groups: list[TierGroup]
    total: int
    done: int


def shown_items(tray: TrayDay) -> QuerySet[TrayItem]:
    return tray.items.filter(holdout=False).select_related("cliente", "template", "operator").order_by("rank")


def tray_page(day: datetime.date) -> TrayPage:
    """The day's shown items grouped by tier, in priority order (two queries; holdout never included)."""
    tray = TrayDay.objects.filter(day=day).first()
    if tray is None:
        return TrayPage(day, None, [], 0, 0)
    by_tier = defaultdict(list)
    for item in shown_items(tray):
        item.wa_link = messages.wa_link(item.cliente.telefono, item.message)
        item.snooze_label = snooze_label(item)
        by_tier[item.tier].append(item)
    groups = [TierGroup(rule, by_tier[rule.tier]) for rule in TIERS if by_tier.get(rule.tier)]
    total = sum(len(group.items) for group in groups)
    done = sum(1 for group in groups for item in group.items if item.outcome)
    return TrayPage(day, tray, groups, total, done)
