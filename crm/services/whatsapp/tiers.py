"""The priority tiers of the WhatsApp tray, in order; a customer goes in the first tier whose rule they meet.

1. VIP y Campeones (segment this month) whose last visit was at least MONTHLY_TOUCH_DAYS (30) days ago: their
   monthly touch.
2. Recién pasaron a En riesgo: "En riesgo" in this month's segment snapshot, another segment last month.
3. Atrasados: overdue in at least one category by their own rhythm (due back: more than 25% past their usual
   gap); the longest overdue first.
4. Clientes nuevos: first visit 30, 60 or 90 days ago (each step a NEW_WINDOW_DAYS-day window, so a customer
   missed one morning is caught the next).
5. Hibernando o Perdidos with an expected value in the next 12 months of at least WHATSAPP_DORMANT_MIN_VALUE.

Segments come from this month's snapshot (crm.services.retention.movement) when it exists (cheap: one indexed
table), otherwise from live RFM. Within tiers 1, 2 and 5 the highest expected value (CLV) goes first.
Each tier function takes the eligible customers (a queryset), the ids already picked and a limit, and returns
at most `limit` candidates, with one or two queries.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery

from crm.models import DueBack, SegmentSnapshot, Tier
from crm.services.retention.due_back import Rhythm
from crm.services.retention.movement import month_start, previous_month
from crm.services.rfm import SEGMENTS, rfm_by_customer, segment_label
from ventas.formatting import format_clp, format_date
from ventas.models import Cliente, ServiceHistory

MONTHLY_TOUCH_DAYS = 30
NEW_STEPS = (30, 60, 90)
NEW_WINDOW_DAYS = 7


@dataclass
class Candidate:
    cliente_id: int
    tier: str
    reason: str
    segment: str = ""
    suggestion: str = ""  # what to propose ("volver a Tinas"), when the tier knows it
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TierRule:
    tier: str
    label: str
    rule: str
    select: Callable[[datetime.date, QuerySet[Cliente], set[int], int, Segments], list[Candidate]]


class Segments:
    """Segment of each customer as of `today`: this month's snapshot when there is one, else live RFM."""

    def __init__(self, today: datetime.date):
        self.today = today
        self.month = month_start(today)
        self.from_snapshot = SegmentSnapshot.objects.filter(month=self.month).exists()

    @property
    def source(self) -> str:
        return f"foto de {self.month:%m-%Y}" if self.from_snapshot else "RFM del día"

    def members(self, keys: tuple[str, ...]) -> QuerySet:
        """A `cliente_id` values() queryset of the customers in those segments."""
        if self.from_snapshot:
            return SegmentSnapshot.objects.filter(month=self.month, segment__in=keys).values("cliente_id")
        return rfm_by_customer(self.today).filter(segment__in=keys).values("cliente_id")

    def of(self, ids: list[int]) -> dict[int, str]:
        if not ids:
            return {}
        if self.from_snapshot:
            rows = SegmentSnapshot.objects.filter(month=self.month, cliente_id__in=ids)
            return dict(rows.values_list("cliente_id", "segment"))
        return dict(rfm_by_customer(self.today).filter(cliente_id__in=ids).values_list("cliente_id", "segment"))


def _by_value(customers: QuerySet[Cliente]) -> QuerySet[Cliente]:
    return customers.order_by(F("valor__expected_value_365d").desc(nulls_last=True), "pk")


def vip_due(today, eligible, picked, limit, segments) -> list[Candidate]:
    since = today - datetime.timedelta(days=MONTHLY_TOUCH_DAYS)
    # A per-customer subquery walks the (cliente_id, service_date) index backwards: no scan of the history.
    last = (
        ServiceHistory.objects.with_real_dates()
        .filter(cliente_id=OuterRef("pk"), service_date__lte=today)
        .order_by("-service_date")
        .values("service_date")[:1]
    )
    # "No visit in the last 30 days" is checked on the segment's members (thousands), not on every customer.
    recent_visit = ServiceHistory.objects.with_real_dates().filter(
        cliente_id=OuterRef("cliente_id"), service_date__gt=since, service_date__lte=today
    )
    members = segments.members(("vip", "champions")).exclude(Exists(recent_visit))
    rows = list(
        _by_value(
            eligible.filter(pk__in=members).exclude(pk__in=picked).annotate(last_visit=Subquery(last))
        ).values_list("pk", "last_visit")[:limit]
    )
    rows = [(pk, last_visit) for pk, last_visit in rows if last_visit is not None]  # members always have one
    segment_of = segments.of([pk for pk, _ in rows])
    result = []
    for pk, last_visit in rows:
        segment = segment_of.get(pk, "vip")
        days = (today - last_visit).days
        result.append(
            Candidate(
                pk,
                Tier.VIP_DUE,
                f"{segment_label(segment)}: su última visita fue hace {days} días; toca su contacto mensual",
                segment,
            )
        )
    return result


def at_risk(today, eligible, picked, limit, segments) -> list[Candidate]:
    if not segments.from_snapshot:
        return []
    month = segments.month
    before = SegmentSnapshot.objects.filter(month=previous_month(month)).exclude(segment="at_risk")
    now = SegmentSnapshot.objects.filter(month=month, segment="at_risk")
    ids = list(
        _by_value(
            eligible.filter(pk__in=now.values("cliente_id"))
            .filter(pk__in=before.values("cliente_id"))
            .exclude(pk__in=picked)
        ).values_list("pk", flat=True)[:limit]
    )
    came_from = dict(before.filter(cliente_id__in=ids).values_list("cliente_id", "segment"))
    return [
        Candidate(pk, Tier.AT_RISK, f"Pasó de {segment_label(came_from.get(pk, ''))} a En riesgo este mes", "at_risk")
        for pk in ids
    ]


def overdue(today, eligible, picked, limit, segments) -> list[Candidate]:
    rows = (
        DueBack.objects.filter(overdue_since__lte=today, cliente_id__in=eligible.values("pk"))
        .exclude(cliente_id__in=picked)
        .order_by("overdue_since", "cliente_id", "category")
        .values_list("cliente_id", "category", "usual_gap_days", "last_visit")[: limit * 3]
    )
    result, seen = [], set()
    for cliente_id, category, gap, last_visit in rows:
        if cliente_id in seen:
            continue
        seen.add(cliente_id)
        rhythm = Rhythm(category, round(gap), (today - last_visit).days, True)
        result.append(
            Candidate(cliente_id, Tier.OVERDUE, rhythm.sentence, suggestion=f"volver a disfrutar de {category}")
        )
        if len(result) == limit:
            break
    segment_of = segments.of([c.cliente_id for c in result])
    for candidate in result:
        candidate.segment = segment_of.get(candidate.cliente_id, "")
    return result


def new_customers(today, eligible, picked, limit, segments) -> list[Candidate]:
    windows = [
        (today - datetime.timedelta(days=step + NEW_WINDOW_DAYS - 1), today - datetime.timedelta(days=step))
        for step in NEW_STEPS
    ]
    in_windows, first_in_window = Q(), Q()
    for start, end in windows:
        in_windows |= Q(service_date__range=(start, end))
        first_in_window |= Q(first_visit__range=(start, end))
    # Placeholder-dated rows count here: a customer with legacy rows of unknown date is not new. The first visit
    # is one index probe per history row inside the windows (three weeks of rows, not the whole history).
    first = ServiceHistory.objects.filter(cliente_id=OuterRef("cliente_id")).order_by("service_date")
    rows = list(
        ServiceHistory.objects.filter(in_windows)
        .filter(cliente_id__in=eligible.values("pk"))
        .exclude(cliente_id__in=picked)
        .annotate(first_visit=Subquery(first.values("service_date")[:1]))
        .filter(first_in_window)
        .values_list("cliente_id", "first_visit")
        .distinct()
        .order_by("-first_visit", "cliente_id")[:limit]
    )
    segment_of = segments.of([pk for pk, _ in rows])
    return [
        Candidate(
            pk,
            Tier.NEW,
            f"Cliente nuevo: su primera visita fue hace {(today - first).days} días ({format_date(first)})",
            segment_of.get(pk, ""),
        )
        for pk, first in rows
    ]


def dormant_value(today, eligible, picked, limit, segments) -> list[Candidate]:
    minimum = settings.WHATSAPP_DORMANT_MIN_VALUE
    rows = list(
        _by_value(
            eligible.filter(
                pk__in=segments.members(("hibernating", "lost")), valor__expected_value_365d__gte=minimum
            ).exclude(pk__in=picked)
        ).values_list("pk", "valor__expected_value_365d")[:limit]
    )
    segment_of = segments.of([pk for pk, _ in rows])
    result = []
    for pk, value in rows:
        segment = segment_of.get(pk, "hibernating")
        result.append(
            Candidate(
                pk,
                Tier.DORMANT_VALUE,
                f"{segment_label(segment)} con valor esperado de {format_clp(value)} en los próximos 12 meses",
                segment,
            )
        )
    return result


TIERS: list[TierRule] = [
    TierRule(
        Tier.VIP_DUE,
        Tier.VIP_DUE.label,
        f"Segmento VIP o Campeones y última visita hace {MONTHLY_TOUCH_DAYS} días o más.",
        vip_due,
    ),
    TierRule(
        Tier.AT_RISK,
        Tier.AT_RISK.label,
        "En «En riesgo» este mes y en otro segmento el mes pasado (fotos mensuales de segmentos).",
        at_risk,
    ),
    TierRule(
        Tier.OVERDUE,
        Tier.OVERDUE.label,
        "Más de un 25 % sobre su intervalo habitual sin volver a una categoría (al menos 3 visitas en ella).",
        overdue,
    ),
    TierRule(
        Tier.NEW,
        Tier.NEW.label,
        f"Primera visita hace 30, 60 o 90 días (ventanas de {NEW_WINDOW_DAYS} días).",
        new_customers,
    ),
    TierRule(
        Tier.DORMANT_VALUE,
        Tier.DORMANT_VALUE.label,
        "Segmento Hibernando o Perdidos con un valor esperado en 12 meses de al menos "
        f"{format_clp(settings.WHATSAPP_DORMANT_MIN_VALUE)}.",
        dormant_value,
    ),
]

TIER_ORDER = {rule.tier: index for index, rule in enumerate(TIERS)}
SEGMENT_KEYS = tuple(SEGMENTS)
