"""RFM segmentation (recency, frequency, monetary), computed in the database.

Scores as of a date (default: today in America/Santiago), thresholds from settings:

- R: 3 if the last service was at most RFM_RECENCY_DAYS[0] (90) days ago, 2 if at most [1] (180), else 1.
  Rows on HISTORY_PLACEHOLDER_DATE (unknown legacy dates) never count for recency: a customer whose only
  rows are on it has no last service and R=1.
- F: 3 if at least RFM_FREQUENCY[0] (10) services (history rows), 2 if at least [1] (5), else 1.
- M: 3 if at least RFM_MONETARY[0] (1,000,000 CLP) spent, 2 if at least [1] (500,000), else 1.

Segments, first match wins: VIP (3,3,3) · Campeones (R≥2, F≥2, M≥2) · Loyal (R≥2, F≥2) ·
Promising (R=3, F=1) · At Risk (R=1, F≥2) · Hibernating (R=1, F=1, M≥2) · Lost (R=1) ·
Occasional (everything else) · Sin historial (no services at all).

Only services dated up to the as-of date count (a past date reproduces that day's segments; recency is never
negative). The raw functions (`annotate_rfm`, `rfm_by_customer`, `customer_rfm`, `segment_members`,
`customers_in_segment`) are one aggregate query over `Cliente LEFT JOIN crm_service_history`: exact for any date,
but they read the history. Pages read the summary table instead (the `*_from_summaries` functions, kept by
`crm.services.summaries` with these same expressions), which holds each customer's figures as of today: the
same segments as the raw query for today, without touching the history.
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

from crm.models import CustomerSummary, SummaryState
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
        Segment("champions", "Campeones", "#2a6fb0", "Vino hace poco, viene seguido y gasta bien."),
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


def score_expressions(as_of: datetime.date, *, last_service: str, frequency: str, monetary: str) -> dict[str, Case]:
    """The R, F and M scores (keys "r", "f", "m") as expressions over three columns or annotations: the date of
    the last real service up to as_of, the number of services and the money spent. None without history.

    The one home of the RFM thresholds: the raw query below and the summaries (`crm.services.summaries`) both
    score with these expressions, so they cannot disagree.
    """
    recent, mid = settings.RFM_RECENCY_DAYS[0], settings.RFM_RECENCY_DAYS[1]
    often, sometimes = settings.RFM_FREQUENCY[0], settings.RFM_FREQUENCY[1]
    high, medium = settings.RFM_MONETARY[0], settings.RFM_MONETARY[1]
    no_history = Q(**{f"{frequency}__lte": 0})
    return {
        "r": Case(
            When(no_history, then=Value(None)),
            # Date comparisons instead of day arithmetic: portable and index-friendly.
            When(Q(**{f"{last_service}__gte": as_of - datetime.timedelta(days=recent)}), then=Value(3)),
            When(Q(**{f"{last_service}__gte": as_of - datetime.timedelta(days=mid)}), then=Value(2)),
            default=Value(1),
            output_field=IntegerField(),
        ),
        "f": Case(
            When(no_history, then=Value(None)),
            When(Q(**{f"{frequency}__gte": often}), then=Value(3)),
            When(Q(**{f"{frequency}__gte": sometimes}), then=Value(2)),
            default=Value(1),
            output_field=IntegerField(),
        ),
        "m": Case(
            When(no_history, then=Value(None)),
            When(Q(**{f"{monetary}__gte": high}), then=Value(3)),
            When(Q(**{f"{monetary}__gte": medium}), then=Value(2)),
            default=Value(1),
            output_field=IntegerField(),
        ),
    }


def segment_expression(*, r: str, f: str, m: str, frequency: str) -> Case:
    """The segment key (first match wins, see the module docstring) from three score columns or annotations."""

    columns = {"r": r, "f": f, "m": m}

    def scores(**wanted) -> Q:  # scores(r__gte=2) -> Q(<r column>__gte=2)
        lookups = {}
        for key, value in wanted.items():
            score, _, lookup = key.partition("__")
            lookups[columns[score] + (f"__{lookup}" if lookup else "")] = value
        return Q(**lookups)

    return Case(
        When(Q(**{f"{frequency}__lte": 0}), then=Value("no_history")),
        When(scores(r=3, f=3, m=3), then=Value("vip")),
        When(scores(r__gte=2, f__gte=2, m__gte=2), then=Value("champions")),
        When(scores(r__gte=2, f__gte=2), then=Value("loyal")),
        When(scores(r=3, f=1), then=Value("promising")),
        When(scores(r=1, f__gte=2), then=Value("at_risk")),
        When(scores(r=1, f=1, m__gte=2), then=Value("hibernating")),
        When(scores(r=1), then=Value("lost")),
        default=Value("occasional"),
        output_field=CharField(),
    )


def score_rule() -> str:
    """The thresholds in force, as text: stored scores are reusable only while this does not change."""
    return repr((settings.RFM_RECENCY_DAYS[:2], settings.RFM_FREQUENCY[:2], settings.RFM_MONETARY[:2]))


def with_rfm(queryset: QuerySet, as_of: datetime.date, prefix: str) -> QuerySet:
    """Apply the RFM annotations; `prefix` leads from the queryset's model to the history columns."""
    # Only services up to as_of count, so a past as_of reproduces what the figures were on that day.
    until = Q(**{f"{prefix}service_date__lte": as_of})
    real_date = until & ~Q(**{f"{prefix}service_date": settings.HISTORY_PLACEHOLDER_DATE})

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
            **score_expressions(as_of, last_service="last_service", frequency="frequency", monetary="monetary"),
        )
        .annotate(segment=segment_expression(r="r", f="f", m="m", frequency="frequency"))
    )


def annotate_rfm(queryset: QuerySet[Cliente], as_of: datetime.date | None = None) -> QuerySet[Cliente]:
    """Annotate customers with their RFM figures, in the same query.

    Adds `last_service` (date or None; real dates only), `first_service`, `frequency` (int, 0 without history),
    `monetary` (Decimal, 0 without history), `recency_days` (int or None), `r`, `f`, `m` (int, None without
    history) and `segment` (a key of SEGMENTS).
    """
    return with_rfm(queryset, _as_of(as_of), "historial_servicios__")


def rfm_by_customer(as_of: datetime.date | None = None) -> QuerySet:
    """One row per customer *with history* (`cliente_id` and the annotate_rfm figures), grouped on the history
    table alone: much cheaper than joining every customer when only aggregates or ids are needed."""
    as_of = _as_of(as_of)
    history = ServiceHistory.objects.filter(service_date__lte=as_of).order_by().values("cliente_id")
    return with_rfm(history, as_of, "")


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


# --- The same figures read from the summary table (kept by crm.services.summaries) ---


def stored_scores_valid(as_of: datetime.date, state: SummaryState | None = None) -> bool:
    """Whether the scores stored in the summary are those of `as_of` under today's thresholds (one tiny query).

    The summary's `r`/`f`/`m`/`segment` columns are scored as of `SummaryState.scored_on` (the daily refresh
    moves it to today); on any other day, or after a threshold change, readers score the stored figures live.
    Pass the state row when you already have it (no query then).
    """
    if state is None:
        state = SummaryState.objects.filter(pk=1).first()
    return state is not None and state.scored_on == as_of and state.score_rule == score_rule()


def _summary_scores(as_of: datetime.date, stored: bool | None, *, prefix: str, names: dict[str, str]) -> dict:
    """Score expressions over summary columns reached through `prefix`, named as `names` says."""
    if stored is None:
        stored = stored_scores_valid(as_of)
    if stored:
        return {
            names["r"]: F(f"{prefix}r"),
            names["f"]: F(f"{prefix}f"),
            names["m"]: F(f"{prefix}m"),
            # Through a LEFT JOIN (customers without a summary row) the segment can be NULL.
            names["segment"]: Coalesce(F(f"{prefix}segment"), Value("no_history")) if prefix else F("segment"),
        }
    live = score_expressions(
        as_of, last_service=names["last_service"], frequency=names["frequency"], monetary=names["monetary"]
    )
    return {names[key]: expression for key, expression in live.items()}


def scored_summaries(as_of: datetime.date | None = None, *, stored: bool | None = None) -> QuerySet[CustomerSummary]:
    """Summary rows (one per customer with history) annotated with `rfm_r`, `rfm_f`, `rfm_m` and `rfm_segment`
    as of `as_of` (default today). `stored=None` uses the stored scores when they are as of that day (one query
    to know), True/False forces stored/live scores. `monetary` is the customer's spend up to today.
    """
    as_of = _as_of(as_of)
    names = {"r": "rfm_r", "f": "rfm_f", "m": "rfm_m", "segment": "rfm_segment"}
    names |= {"last_service": "last_service", "frequency": "frequency", "monetary": "monetary"}
    scores = _summary_scores(as_of, stored, prefix="", names=names)
    segment = scores.pop("rfm_segment", None) or segment_expression(
        r="rfm_r", f="rfm_f", m="rfm_m", frequency="frequency"
    )
    return CustomerSummary.objects.annotate(**scores).annotate(rfm_segment=segment)


def annotate_rfm_from_summaries(
    queryset: QuerySet[Cliente], as_of: datetime.date | None = None, *, stored: bool | None = None
) -> QuerySet[Cliente]:
    """Customers annotated as `annotate_rfm` does (same names), read from the summary: no history scan."""
    as_of = _as_of(as_of)
    names = {key: key for key in ("r", "f", "m", "segment", "last_service", "frequency", "monetary")}
    scores = _summary_scores(as_of, stored, prefix="summary__", names=names)
    segment = scores.pop("segment", None) or segment_expression(r="r", f="f", m="m", frequency="frequency")
    return (
        queryset.annotate(
            last_service=F("summary__last_service"),
            first_service=F("summary__first_service"),
            frequency=Coalesce(F("summary__frequency"), Value(0)),
            monetary=Coalesce(
                F("summary__monetary"), Value(Decimal(0)), output_field=DecimalField(max_digits=14, decimal_places=2)
            ),
        )
        .annotate(recency_days=DaysBetween(Value(as_of), F("last_service")), **scores)
        .annotate(segment=segment)
    )


def segment_members_from_summaries(
    key: str, as_of: datetime.date | None = None, *, stored: bool | None = None
) -> QuerySet[Cliente]:
    """Customers of one segment as of `as_of` (default today), decided on the summary. KeyError for unknown keys.

    A plain filter (`pk IN (...)`), cheap to count or to combine; "Sin historial" is every customer without a
    summary row with services.
    """
    get_segment(key)
    summaries = scored_summaries(as_of, stored=stored)
    if key == "no_history":
        return Cliente.objects.exclude(pk__in=summaries.exclude(rfm_segment="no_history").values("cliente_id"))
    return Cliente.objects.filter(pk__in=summaries.filter(rfm_segment=key).values("cliente_id"))


def customers_in_segment_from_summaries(
    key: str, as_of: datetime.date | None = None, *, stored: bool | None = None
) -> QuerySet[Cliente]:
    """All customers of one segment, annotated as `annotate_rfm` does, from the summary. KeyError for unknown keys.

    Campaign audiences: `customers_in_segment_from_summaries(segment, as_of, stored=False)` is one query
    (scores computed from the stored figures), exactly the customers `customers_in_segment` returns for today.
    """
    return annotate_rfm_from_summaries(segment_members_from_summaries(key, as_of, stored=stored), as_of, stored=stored)
