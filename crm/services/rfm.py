"""RFM segmentation (recency, frequency, monetary), computed in the database.

Scores as of a date (default: today in America/Santiago), thresholds from settings:

- R: 3 if the last service was at most RFM_RECENCY_DAYS[0] (90) days ago, 2 if at most [1] (180), else 1.
  Rows on HISTORY_PLACEHOLDER_DATE (unknown legacy dates) never count for recency: a customer whose only
  rows are on it has no last service and R=1.
- F: 3 if at least RFM_FREQUENCY[0] (10) services (history rows), 2 if at least [1] (5), else 1.
- M: 3 if at least RFM_MONETARY[0] (1,000,000 CLP) spent, 2 if at least [1] (500,000), else 1.

Segments, first match wins: VIP (3,3,3) · Champions (R≥2, F≥2, M≥2) · Loyal (R≥2, F≥2) ·
Promising (R=3, F=1) · At Risk (R=1, F≥2) · Hibernating (R=1, F=1, M≥2) · Lost (R=1) ·
Occasional (everything else) · Sin historial (no services at all).

Only services dated up to the as-of date count (a past date reproduces that day's segments; recency is never
negative). Everything is one aggregate query over `Cliente LEFT JOIN crm_service_history`; history rows are
never loaded into Python.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import (
    Case,
    CharField,
    Count,
    DecimalField,
    F,
    Func,
    IntegerField,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from ventas.models import Cliente, ServiceHistory


@dataclass(frozen=True)
class Segment:
    key: str
    label: str
    color: str
    description: str


SEGMENTS: dict[str, Segment] = {
    segment.key: segment
    for segment in (
        Segment("vip", "VIP", "#1b7f5f", "Reciente, frecuente y de alto gasto: los mejores clientes."),
        Segment("champions", "Champions", "#2a6fb0", "Vino hace poco, viene seguido y gasta bien."),
        Segment("loyal", "Leales", "#5b4fa8", "Vino hace poco y viene seguido, con gasto moderado."),
        Segment("promising", "Prometedores", "#c08a00", "Vino en los últimos meses, pero pocas veces."),
        Segment("at_risk", "En riesgo", "#c0392b", "Venía seguido pero hace más de seis meses que no vuelve."),
        Segment("hibernating", "Hibernando", "#8e5a2b", "Pocas visitas y hace mucho, aunque gastó bastante."),
        Segment("lost", "Perdidos", "#6b6f72", "Pocas visitas, bajo gasto y hace mucho que no viene."),
        Segment("occasional", "Ocasionales", "#3f8f9e", "Vino hace entre tres y seis meses, pocas veces."),
        Segment("no_history", "Sin historial", "#9aa1a5", "Todavía no tiene servicios registrados."),
    )
}


def segment_label(key: str) -> str:
    """ "at_risk" -> "En riesgo"; unknown keys (e.g. from an older version) are shown as they are."""
    segment = SEGMENTS.get(key)
    return segment.label if segment else key


def get_segment(key: str) -> Segment:
    """The segment with this key; KeyError for unknown keys."""
    return SEGMENTS[key]


@dataclass(frozen=True)
class RFMResult:
    last_service: datetime.date | None
    recency_days: int | None
    frequency: int
    monetary: Decimal
    r: int | None
    f: int | None
    m: int | None
    segment: Segment

    @classmethod
    def from_annotated(cls, obj) -> RFMResult:
        """Build the result from a Cliente (or values() dict) annotated by `annotate_rfm`."""
        get = obj.get if isinstance(obj, dict) else lambda name: getattr(obj, name)
        return cls(
            last_service=get("last_service"),
            recency_days=get("recency_days"),
            frequency=get("frequency"),
            monetary=Decimal(get("monetary") or 0),
            r=get("r"),
            f=get("f"),
            m=get("m"),
            segment=get_segment(get("segment")),
        )


class DaysBetween(Func):
    """Whole days from `start` (a date column) to `end` (a date), as an integer; NULL when start is NULL."""

    output_field = IntegerField()
    arity = 2

    def __init__(self, end, start, **extra):
        super().__init__(end, start, **extra)

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler,
            connection,
            template="CAST(julianday(%(expressions)s) AS INTEGER)",
            arg_joiner=") - julianday(",
            **extra_context,
        )

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="(%(expressions)s)", arg_joiner="::date - ", **extra_context)


def _as_of(as_of: datetime.date | None) -> datetime.date:
    return as_of or timezone.localdate()


def _with_rfm(queryset: QuerySet, as_of: datetime.date, prefix: str) -> QuerySet:
    """Apply the RFM annotations; `prefix` leads from the queryset's model to the history columns."""
    recent, mid = settings.RFM_RECENCY_DAYS[0], settings.RFM_RECENCY_DAYS[1]
    often, sometimes = settings.RFM_FREQUENCY[0], settings.RFM_FREQUENCY[1]
    high, medium = settings.RFM_MONETARY[0], settings.RFM_MONETARY[1]
    # Only services up to as_of count, so a past as_of reproduces what the figures were on that day.
    until = Q(**{f"{prefix}service_date__lte": as_of})
    real_date = until & ~Q(**{f"{prefix}service_date": settings.HISTORY_PLACEHOLDER_DATE})
    has_history = Q(frequency__gt=0)

    return (
        queryset.annotate(
            last_service=Max(f"{prefix}service_date", filter=real_date),
            first_service=Min(f"{prefix}service_date", filter=real_date),
            frequency=Count(f"{prefix}id", filter=until),
            monetary=Coalesce(
                Sum(f"{prefix}price_paid", filter=until),
                Value(Decimal(0)),
                output_field=DecimalField(max_digits=14, decimal_places=2),
            ),
        )
        .annotate(
            recency_days=DaysBetween(Value(as_of), F("last_service")),
            r=Case(
                When(~has_history, then=Value(None)),
                # Date comparisons instead of day arithmetic: portable and index-friendly.
                When(last_service__gte=as_of - datetime.timedelta(days=recent), then=Value(3)),
                When(last_service__gte=as_of - datetime.timedelta(days=mid), then=Value(2)),
                default=Value(1),
                output_field=IntegerField(),
            ),
            f=Case(
                When(~has_history, then=Value(None)),
                When(frequency__gte=often, then=Value(3)),
                When(frequency__gte=sometimes, then=Value(2)),
                default=Value(1),
                output_field=IntegerField(),
            ),
            m=Case(
                When(~has_history, then=Value(None)),
                When(monetary__gte=high, then=Value(3)),
                When(monetary__gte=medium, then=Value(2)),
                default=Value(1),
                output_field=IntegerField(),
            ),
        )
        .annotate(
            segment=Case(
                When(~has_history, then=Value("no_history")),
                When(r=3, f=3, m=3, then=Value("vip")),
                When(r__gte=2, f__gte=2, m__gte=2, then=Value("champions")),
                When(r__gte=2, f__gte=2, then=Value("loyal")),
                When(r=3, f=1, then=Value("promising")),
                When(r=1, f__gte=2, then=Value("at_risk")),
                When(r=1, f=1, m__gte=2, then=Value("hibernating")),
                When(r=1, then=Value("lost")),
                default=Value("occasional"),
                output_field=CharField(),
            ),
        )
    )


def annotate_rfm(queryset: QuerySet[Cliente], as_of: datetime.date | None = None) -> QuerySet[Cliente]:
    """Annotate customers with their RFM figures, in the same query.

    Adds `last_service` (date or None; real dates only), `first_service`, `frequency` (int, 0 without history),
    `monetary` (Decimal, 0 without history), `recency_days` (int or None), `r`, `f`, `m` (int, None without
    history) and `segment` (a key of SEGMENTS).
    """
    return _with_rfm(queryset, _as_of(as_of), "historial_servicios__")


def rfm_by_customer(as_of: datetime.date | None = None) -> QuerySet:
    """One row per customer *with history* (`cliente_id` and the annotate_rfm figures), grouped on the history
    table alone: much cheaper than joining every customer when only aggregates or ids are needed."""
    as_of = _as_of(as_of)
    history = ServiceHistory.objects.filter(service_date__lte=as_of).order_by().values("cliente_id")
    return _with_rfm(history, as_of, "")


def customer_rfm(cliente_id: int, as_of: datetime.date | None = None) -> RFMResult:
    """RFM of one customer (one query). Raises Cliente.DoesNotExist for an unknown id."""
    row = (
        annotate_rfm(Cliente.objects.filter(pk=cliente_id), as_of)
        .order_by()
        .values("last_service", "recency_days", "frequency", "monetary", "r", "f", "m", "segment")
        .get()
    )
    return RFMResult.from_annotated(row)


def segment_members(key: str, as_of: datetime.date | None = None) -> QuerySet[Cliente]:
    """Customers of one segment, not annotated: a plain filter, cheap to count or to combine with others.

    KeyError for unknown keys. The segment is decided on the history table alone (`rfm_by_customer`).
    """
    get_segment(key)
    with_history = rfm_by_customer(as_of)
    if key == "no_history":
        return Cliente.objects.exclude(pk__in=with_history.values("cliente_id"))
    return Cliente.objects.filter(pk__in=with_history.filter(segment=key).values("cliente_id"))


def customers_in_segment(key: str, as_of: datetime.date | None = None) -> QuerySet[Cliente]:
    """All customers of one segment, annotated as `annotate_rfm` does. KeyError for unknown keys."""
    return annotate_rfm(segment_members(key, as_of), as_of)
