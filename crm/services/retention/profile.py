"""What the 360° profile says about a customer's rhythm, value and segment path (read from stored results).

One query for both the due-back rhythms and the monthly segment path (a UNION ALL of the two small per-customer
tables), plus the stored lifetime value, which the caller fetches with the customer (`select_related("valor")`).
Nothing is fitted here: `fit_clv`, `refresh_due_back` and `segment_snapshot` (nightly and monthly jobs) store it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import CharField, DateField, FloatField, Value
from django.utils import timezone

from crm.models import CustomerValue, DueBack, SegmentSnapshot
from crm.services.retention.due_back import Rhythm, rhythm, sorted_rhythms
from crm.services.retention.movement import BACKFILL_MONTHS
from crm.services.rfm import segment_label
from ventas.formatting import format_clp


@dataclass(frozen=True)
class ValueInWords:
    p_alive: float
    expected_visits_365d: float
    expected_value_365d: int

    @property
    def activity(self) -> str:
        """p_alive in words: how likely the customer still visits at all."""
        if self.p_alive >= 0.8:
            return "Muy probablemente sigue siendo cliente activo"
        if self.p_alive >= 0.5:
            return "Probablemente sigue siendo cliente activo"
        if self.p_alive >= 0.2:
            return "Puede que ya no vuelva"
        return "Muy probablemente ya no vuelve"

    @property
    def visits(self) -> str:
        n = self.expected_visits_365d
        if n < 0.5:
            return "menos de una visita esperada en los próximos 12 meses"
        rounded = round(n)
        if rounded == 1:
            return "una visita esperada en los próximos 12 meses"
        return f"unas {rounded} visitas esperadas en los próximos 12 meses"

    @property
    def sentence(self) -> str:
        percent = round(self.p_alive * 100)
        return (
            f"{self.activity} ({percent}% de probabilidad); {self.visits}, por un valor esperado de "
            f"{format_clp(self.expected_value_365d)}."
        )


@dataclass(frozen=True)
class PathStep:
    month: datetime.date
    segment: str

    @property
    def label(self) -> str:
        return segment_label(self.segment)


@dataclass(frozen=True)
class RetentionProfile:
    rhythms: list[Rhythm]
    value: ValueInWords | None
    path: list[PathStep]

    @property
    def path_changed(self) -> bool:
        return len({step.segment for step in self.path}) > 1


def value_in_words(value: CustomerValue | None) -> ValueInWords | None:
    if value is None:
        return None
    return ValueInWords(value.p_alive, value.expected_visits_365d, int(value.expected_value_365d))


def retention_profile(cliente, today: datetime.date | None = None) -> RetentionProfile:
    """`cliente` fetched with `select_related("valor")` (no query for the value)."""
    today = today or timezone.localdate()
    rhythms = (
        DueBack.objects.filter(cliente_id=cliente.pk)
        .order_by()
        .annotate(kind=Value("r", output_field=CharField()))
        .values_list("kind", "category", "usual_gap_days", "last_visit", "overdue_since")
    )
    path = (
        SegmentSnapshot.objects.filter(cliente_id=cliente.pk)
        .order_by()
        .annotate(
            kind=Value("s", output_field=CharField()),
            gap=Value(None, output_field=FloatField()),
            none=Value(None, output_field=DateField()),
        )
        .values_list("kind", "segment", "gap", "month", "none")
    )
    found_rhythms, steps = [], []
    for kind, name, gap, day, overdue_since in rhythms.union(path, all=True):
        if isinstance(day, str):  # SQLite returns dates of a UNION as text
            day = datetime.date.fromisoformat(day[:10])
        if isinstance(overdue_since, str):
            overdue_since = datetime.date.fromisoformat(overdue_since[:10])
        if kind == "r":
            found_rhythms.append(rhythm(name, gap, day, overdue_since, today=today))
        else:
            steps.append(PathStep(day, name))
    steps.sort(key=lambda step: step.month)
    try:
        value = cliente.valor
    except CustomerValue.DoesNotExist:
        value = None
    return RetentionProfile(
        rhythms=sorted_rhythms(found_rhythms), value=value_in_words(value), path=steps[-BACKFILL_MONTHS:]
    )
