"""Temporary block and objection to profiling (Ley 21.719 art. 4 and 8 bis).

While either is in force the customer gets no proposals (generation answers 409 before any engine, local or AI,
sees the data), is left out of every campaign audience, and pending proposals or campaign rows are withdrawn so
nothing already prepared goes out. Lifting it is a staff action too; both directions are logged as DataRequests.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from crm.models import CampaignRecipient, DataRequest, Proposal
from crm.services.privacy.requests import PrivacyConflict, PrivacyError, record_request
from ventas.models import Cliente

FIELDS = {DataRequest.Kind.BLOCK: "bloqueo_desde", DataRequest.Kind.OBJECTION: "oposicion_desde"}
LABELS = {DataRequest.Kind.BLOCK: "bloqueo temporal", DataRequest.Kind.OBJECTION: "oposición al perfilamiento"}
WITHDRAWN_NOTE = "Retirada: el cliente pidió bloqueo u oposición al perfilamiento."


def set_restriction(*, cliente_id: int, kind: str, active: bool, user=None) -> Cliente:
    """Start (`active`) or lift a block or an objection, in one transaction, and log it.

    Starting one discards the customer's unsent proposals (generated or failed) and drops their pending or
    generated campaign rows. Raises PrivacyError when the state is already the requested one, Cliente.DoesNotExist
    for an unknown id.
    """
    if kind not in FIELDS:
        raise PrivacyError("Elige bloqueo temporal u oposición al perfilamiento.")
    field, label = FIELDS[kind], LABELS[kind]
    with transaction.atomic():
        cliente = Cliente.objects.select_for_update().get(pk=cliente_id)
        current = getattr(cliente, field)
        if active and current:
            raise PrivacyConflict(f"El {label} ya está vigente.")
        if not active and not current:
            raise PrivacyConflict(f"No hay {label} vigente que levantar.")
        setattr(cliente, field, timezone.now() if active else None)
        cliente.save(update_fields=[field])
        if active:
            proposals = Proposal.objects.filter(
                cliente_id=cliente.pk, status__in=[Proposal.Status.GENERATED, Proposal.Status.FAILED]
            ).update(status=Proposal.Status.DISCARDED)
            rows = CampaignRecipient.objects.filter(
                cliente_id=cliente.pk,
                status__in=[CampaignRecipient.Status.PENDING, CampaignRecipient.Status.GENERATED],
            ).update(status=CampaignRecipient.Status.DROPPED, error=WITHDRAWN_NOTE)
            outcome = (
                f"Se registró el {label}: sin propuestas, motores de IA ni campañas. "
                f"Propuestas sin enviar descartadas: {proposals}; filas de campaña retiradas: {rows}."
            )
        else:
            outcome = f"Se levantó el {label}."
        record_request(cliente_id=cliente.pk, kind=kind, user=user, outcome=outcome)
    return cliente
