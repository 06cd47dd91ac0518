"""Art. 8 bis of Ley 21.719: explain, in plain Spanish, why a customer is in their segment and why the last
proposal recommended what it did. Reads the same RFM rule (`crm.services.rfm`) and settings the CRM uses, so
the explanation cannot drift from the computation."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from crm.models import Proposal
from crm.services.rfm import RFMResult, Segment, customer_rfm
from ventas.formatting import format_clp, format_date, format_number

RULE = (
    "El segmento se calcula solo con la fecha, la cantidad y el monto de los servicios registrados en Aremko "
    "(recencia, frecuencia y monto, «RFM»), con los mismos umbrales para todos los clientes. No se usan otros "
    "datos personales. El personal revisa cada propuesta antes de enviarla."
)


@dataclass(frozen=True)
class Reason:
    service: str
    reason: str


@dataclass(frozen=True)
class ProfilingExplanation:
    segment: Segment
    scores: dict[str, int | None]
    rule: str
    lines: list[str]  # one sentence per score, then the segment
    proposal_date: datetime.datetime | None
    proposal_engine: str
    reasons: list[Reason]
    restricted: bool


def _score_lines(rfm: RFMResult) -> list[str]:
    recent, mid = settings.RFM_RECENCY_DAYS
    often, sometimes = settings.RFM_FREQUENCY
    high, medium = settings.RFM_MONETARY
    if rfm.r is None:
        return ["Todavía no tiene servicios registrados, así que no tiene puntajes."]
    if rfm.last_service:
        recency = (
            f"Recencia R{rfm.r}: su último servicio con fecha conocida fue el {format_date(rfm.last_service)}, "
            f"hace {format_number(rfm.recency_days)} días"
        )
    else:
        recency = f"Recencia R{rfm.r}: sus servicios no tienen fecha conocida (registros antiguos)"
    return [
        f"{recency} (R3 si fue hace {recent} días o menos, R2 si fue hace {mid} días o menos, si no R1).",
        f"Frecuencia F{rfm.f}: tiene {format_number(rfm.frequency)} servicios registrados "
        f"(F3 desde {often} servicios, F2 desde {sometimes}, si no F1).",
        f"Monto M{rfm.m}: gastó {format_clp(rfm.monetary)} en total "
        f"(M3 desde {format_clp(high)}, M2 desde {format_clp(medium)}, si no M1).",
    ]


def explain_profiling(*, cliente_id: int, as_of: datetime.date | None = None, cliente=None) -> ProfilingExplanation:
    """The explanation for `cliente_id`, in two queries (the RFM aggregate and the latest proposal).

    Raises Cliente.DoesNotExist for an unknown id. `cliente`, when given, only tells whether a block or an
    objection is in force.
    """
    as_of = as_of or timezone.localdate()
    rfm = customer_rfm(cliente_id, as_of)
    lines = _score_lines(rfm)
    if rfm.r is not None:
        lines.append(
            f"Con R{rfm.r}, F{rfm.f} y M{rfm.m} queda en el segmento «{rfm.segment.label}»: "
            f"{rfm.segment.description[0].lower()}{rfm.segment.description[1:]}"
        )
    latest = (
        Proposal.objects.filter(cliente_id=cliente_id)
        .only("id", "created_at", "backend", "recommendations")
        .order_by("-created_at", "-id")
        .first()
    )
    reasons = [
        Reason(service=str(item.get("service_name", "")), reason=str(item.get("reason", "")))
        for item in (latest.recommendations if latest else [])
        if isinstance(item, dict)
    ]
    return ProfilingExplanation(
        segment=rfm.segment,
        scores={"R": rfm.r, "F": rfm.f, "M": rfm.m},
        rule=RULE,
        lines=lines,
        proposal_date=latest.created_at if latest else None,
        proposal_engine=latest.get_backend_display() if latest else "",
        reasons=reasons,
        restricted=bool(cliente and cliente.profiling_restricted),
    )
