"""Access and portability (Ley 21.719 art. 4): a ZIP with everything Aremko holds about one customer.

The archive has `datos.json` (all of it, machine-readable) and one CSV per table (`cliente.csv`,
`historial.csv`, `propuestas.csv`, `campanas.csv`, `consentimientos.csv`, `solicitudes.csv`) for people who
open it in a spreadsheet. The segment comes with how it was computed (scores, thresholds, the rule). History is
streamed in chunks, so a long history never sits in memory; everything else is a handful of queries.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import zipfile
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.utils import timezone

from crm.models import CampaignRecipient, DataRequest, Proposal
from crm.services.customers import HistoryFilters, csv_safe, filtered_history, write_history_csv
from crm.services.privacy.explanation import explain_profiling
from ventas.models import Cliente, ConsentEvent

CLIENTE_FIELDS = [
    "id",
    "nombre",
    "email",
    "telefono",
    "documento_identidad",
    "pais",
    "ciudad",
    "created_at",
    "acepta_marketing",
    "fecha_baja",
    "bloqueo_desde",
    "oposicion_desde",
]
PROPOSAL_FIELDS = [
    "id",
    "created_at",
    "segment",
    "backend",
    "model",
    "status",
    "offer_code",
    "email_subject",
    "sent_at",
    "sent_to",
    "customer_profile",
    "insights",
    "recommendations",
    "offer",
    "email_text",
    "email_body",
]
CAMPAIGN_FIELDS = ["campaign_id", "campaign__created_at", "campaign__segment", "status", "reason", "proposal_id"]
CONSENT_FIELDS = ["id", "created_at", "channel", "granted", "source", "text", "version"]
REQUEST_FIELDS = ["id", "kind", "received_on", "due_on", "status", "handled_at", "outcome"]
HISTORY_JSON_FIELDS = ["service_date", "service_type", "service_name", "quantity", "price_paid", "reserva_id", "season"]


def _plain(value: Any) -> Any:
    """JSON-friendly value: dates ISO 8601, Decimal as a number string."""
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _rows(queryset, fields: list[str]) -> list[dict]:
    return [{key: _plain(value) for key, value in row.items()} for row in queryset.values(*fields)]


def _csv_cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return csv_safe(json.dumps(value, ensure_ascii=False))
    return csv_safe(_plain(value))


def _write_csv(archive: zipfile.ZipFile, name: str, fields: list[str], rows: list[dict]) -> None:
    with archive.open(name, "w") as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(fields)
        for row in rows:
            writer.writerow([_csv_cell(row.get(field)) for field in fields])


def _explanation_dict(cliente_id: int, as_of: datetime.date) -> dict:
    explanation = explain_profiling(cliente_id=cliente_id, as_of=as_of)
    return {
        "segmento": explanation.segment.label,
        "descripcion": explanation.segment.description,
        "como_se_calcula": explanation.rule,
        "puntajes": explanation.scores,
        "umbrales": {
            "recencia_dias": settings.RFM_RECENCY_DAYS,
            "frecuencia_servicios": settings.RFM_FREQUENCY,
            "monto_clp": settings.RFM_MONETARY,
        },
        "explicacion": explanation.lines,
        "recomendaciones_ultima_propuesta": [
            {"servicio": reason.service, "motivo": reason.reason} for reason in explanation.reasons
        ],
    }


def write_customer_export(*, cliente_id: int, out: IO[bytes], as_of: datetime.date | None = None) -> None:
    """Write the ZIP for `cliente_id` to the binary file `out`. Raises Cliente.DoesNotExist for an unknown id.

    Nine queries whatever the history's length: the customer, the RFM aggregate, the last proposal, the
    proposals, campaign rows, consent events, data requests, and the history (streamed twice, JSON and CSV).
    """
    as_of = as_of or timezone.localdate()
    cliente = _rows(Cliente.objects.filter(pk=cliente_id), CLIENTE_FIELDS)
    if not cliente:
        raise Cliente.DoesNotExist(f"No existe el cliente {cliente_id}.")
    data = {
        "generado": timezone.now().isoformat(),
        "responsable": "Aremko Spa",
        "cliente": cliente[0],
        "segmento": _explanation_dict(cliente_id, as_of),
        "propuestas": _rows(
            Proposal.objects.filter(cliente_id=cliente_id).order_by("created_at", "id"), PROPOSAL_FIELDS
        ),
        "campanas": _rows(CampaignRecipient.objects.filter(cliente_id=cliente_id).order_by("id"), CAMPAIGN_FIELDS),
        "consentimientos": _rows(
            ConsentEvent.objects.filter(cliente_id=cliente_id).order_by("created_at", "id"), CONSENT_FIELDS
        ),
        "solicitudes": _rows(
            DataRequest.objects.filter(cliente_id=cliente_id).order_by("received_on", "id"), REQUEST_FIELDS
        ),
    }
    history = filtered_history(cliente_id, HistoryFilters()).reverse()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("datos.json", "w") as raw, io.TextIOWrapper(raw, encoding="utf-8") as text:
            # Everything but the history in one dump, then the history streamed row by row into the same object.
            head = json.dumps(data, ensure_ascii=False, indent=1)
            text.write(head[:-2] + ',\n "historial": [')
            for index, row in enumerate(history.values(*HISTORY_JSON_FIELDS).iterator(chunk_size=500)):
                text.write(("," if index else "") + "\n  " + json.dumps({k: _plain(v) for k, v in row.items()}))
            text.write("\n ]\n}\n")
        _write_csv(archive, "cliente.csv", CLIENTE_FIELDS, [data["cliente"]])
        with (
            archive.open("historial.csv", "w") as raw,
            io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as out_text,
        ):
            write_history_csv(history, out_text)
        _write_csv(archive, "propuestas.csv", PROPOSAL_FIELDS, data["propuestas"])
        _write_csv(archive, "campanas.csv", CAMPAIGN_FIELDS, data["campanas"])
        _write_csv(archive, "consentimientos.csv", CONSENT_FIELDS, data["consentimientos"])
        _write_csv(archive, "solicitudes.csv", REQUEST_FIELDS, data["solicitudes"])
        segment = data["segmento"]
        _write_csv(
            archive,
            "segmento.csv",
            ["segmento", "como_se_calcula", "explicacion"],
            [
                {
                    "segmento": segment["segmento"],
                    "como_se_calcula": segment["como_se_calcula"],
                    "explicacion": " ".join(segment["explicacion"]),
                }
            ],
        )
