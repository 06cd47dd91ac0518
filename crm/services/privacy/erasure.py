"""Erasure (Ley 21.719 art. 4, "supresión"): anonymise a customer everywhere, keep the business figures.

What changes, in one transaction:

- the customer: name "Cliente eliminado #ID"; email, phone, document and city blank; search key recomputed;
  no longer accepts proposals (a consent event records the withdrawal);
- their proposals: subject, bodies, profile, insights and the input sent to AI engines emptied; the recipient
  address and errors blanked; any remaining copy of an identifier in the offer or recommendations replaced;
- their campaign rows (the outbox): error texts blanked; rows still pending or generated dropped;
- the admin's change log: the entries about the customer lose the old name.

History rows stay, with their amounts, so revenue and segment totals do not change. Consent events, data
requests and the access log hold no identifiers and stay as proof. After the commit, the import reports stored
in media are rewritten without the lines that carry any of the customer's identifiers.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import tempfile
from dataclasses import dataclass, field

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from crm.models import CampaignRecipient, DataRequest, Proposal
from crm.services.privacy.requests import PrivacyConflict, record_request
from ventas.models import Cliente, ConsentEvent, ImportRun
from ventas.normalize import normalize_rut, search_key

logger = logging.getLogger(__name__)

ERASED_NAME = "Cliente eliminado #{pk}"
ERASED_TEXT = "[eliminado]"
ERASURE_CONSENT_TEXT = "El cliente pidió eliminar sus datos (supresión): no recibe más propuestas."


@dataclass(frozen=True)
class Identifiers:
    """What identifies the customer; a text "carries" them when any appears in it, however it is written."""

    nombre: str
    email: str
    telefono: str
    documento: str

    @property
    def name_key(self) -> str:
        key = search_key(self.nombre)
        # A one-word name ("Ana") would match unrelated text; full names are what identify.
        return key if " " in key else ""

    def carried_by(self, text: str) -> bool:
        if not text:
            return False
        lowered = text.lower()
        if self.email and self.email in lowered:
            return True
        if self.name_key and self.name_key in search_key(text):
            return True
        if self.documento and (self.documento.lower() in lowered or _rut_in(text, self.documento)):
            return True
        return bool(self.telefono and _phone_in(text, self.telefono))

    def scrub(self, text: str) -> str:
        """`text` with every literal occurrence of an identifier replaced (case-insensitive)."""
        for value in (self.email, self.telefono, self.documento, self.nombre):
            if value and (value != self.nombre or self.name_key):
                text = re.sub(re.escape(value), ERASED_TEXT, text, flags=re.IGNORECASE)
        return text


def _phone_in(text: str, phone: str) -> bool:
    """The phone's national number (9 digits in Chile) among the text's digits, however it was typed."""
    national = re.sub(r"\D", "", phone)[-9:]
    return len(national) >= 8 and national in re.sub(r"\D", "", text)


def _rut_in(text: str, documento: str) -> bool:
    return normalize_rut(text.strip()) == documento if len(text) <= 20 else False


@dataclass
class ErasureResult:
    cliente_id: int
    proposals: int = 0
    campaign_rows: int = 0
    log_entries: int = 0
    reports: list[str] = field(default_factory=list)  # report files rewritten (names in storage)
    report_lines: int = 0
    request: DataRequest | None = None

    def summary(self) -> str:
        return (
            f"Cliente anonimizado. Propuestas vaciadas: {self.proposals}; filas de campaña: {self.campaign_rows}; "
            f"entradas del registro del admin: {self.log_entries}. El historial se conserva con sus montos."
        )


def _scrub_json(value, ids: Identifiers):
    if isinstance(value, str):
        return ids.scrub(value)
    if isinstance(value, list):
        return [_scrub_json(item, ids) for item in value]
    if isinstance(value, dict):
        return {key: _scrub_json(item, ids) for key, item in value.items()}
    return value


def erase_customer(*, cliente_id: int, user=None, storage=None) -> ErasureResult:
    """Anonymise customer `cliente_id` (see the module docstring); logs a `supresión` DataRequest.

    The database part is one transaction; the import reports are rewritten once it commits (never inside it:
    file I/O can be slow and must not hold locks). Raises PrivacyError for a customer already erased and
    Cliente.DoesNotExist for an unknown id.
    """
    storage = storage or default_storage
    result = ErasureResult(cliente_id=cliente_id)
    with transaction.atomic():
        cliente = Cliente.objects.select_for_update().get(pk=cliente_id)
        erased_name = ERASED_NAME.format(pk=cliente.pk)
        if cliente.nombre == erased_name and not (cliente.email or cliente.telefono or cliente.documento_identidad):
            raise PrivacyConflict("Este cliente ya fue eliminado.")
        ids = Identifiers(
            nombre=cliente.nombre,
            email=cliente.email.lower(),
            telefono=cliente.telefono or "",
            documento=cliente.documento_identidad,
        )
        cliente.nombre = erased_name
        cliente.email = ""
        cliente.telefono = None
        cliente.documento_identidad = ""
        cliente.ciudad = ""
        withdrew_consent = cliente.acepta_marketing
        cliente.acepta_marketing = False
        cliente.save()  # recomputes `busqueda`
        if withdrew_consent:
            ConsentEvent.objects.create(
                cliente=cliente,
                channel=ConsentEvent.Channel.EMAIL,
                granted=False,
                source=ConsentEvent.Source.STAFF,
                text=ERASURE_CONSENT_TEXT,
                created_by=user if getattr(user, "is_authenticated", False) else None,
            )

        proposals = Proposal.objects.filter(cliente_id=cliente.pk)
        for proposal in proposals.only("id", "offer", "recommendations"):
            Proposal.objects.filter(pk=proposal.pk).update(
                offer=_scrub_json(proposal.offer, ids), recommendations=_scrub_json(proposal.recommendations, ids)
            )
            result.proposals += 1
        proposals.update(
            email_subject=ERASED_TEXT,
            email_body="",
            email_text="",
            customer_profile={},
            insights={},
            input_snapshot={},
            sent_to="",
            error="",
        )
        proposals.filter(status__in=[Proposal.Status.GENERATED, Proposal.Status.FAILED]).update(
            status=Proposal.Status.DISCARDED
        )

        rows = CampaignRecipient.objects.filter(cliente_id=cliente.pk)
        result.campaign_rows = rows.update(error="")
        rows.filter(status__in=[CampaignRecipient.Status.PENDING, CampaignRecipient.Status.GENERATED]).update(
            status=CampaignRecipient.Status.DROPPED
        )

        result.log_entries = LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(Cliente), object_id=str(cliente.pk)
        ).update(object_repr=erased_name)

        result.request = record_request(
            cliente_id=cliente.pk, kind=DataRequest.Kind.ERASURE, user=user, outcome=result.summary()
        )
        transaction.on_commit(lambda: _rewrite_reports(ids, storage, result))
    logger.info("Customer %s erased by user %s", cliente_id, getattr(user, "pk", None))
    return result


def _rewrite_reports(ids: Identifiers, storage, result: ErasureResult) -> None:
    """Rewrite every stored import report without the lines that carry the customer's identifiers.

    Streams each file through a spooled temporary file (bounded memory); untouched files are not rewritten.
    """
    runs = ImportRun.objects.exclude(report="").only("id", "report").order_by("id")
    for run in runs.iterator(chunk_size=200):
        name = run.report.name
        try:
            removed, cleaned = _filter_report(storage, name, ids)
        except FileNotFoundError:
            continue
        if not removed:
            cleaned.close()
            continue
        with cleaned:
            storage.delete(name)
            saved = storage.save(name, File(cleaned, name=name))
        if saved != name:
            ImportRun.objects.filter(pk=run.pk).update(report=saved)
        result.reports.append(saved)
        result.report_lines += removed
    if result.reports:
        DataRequest.objects.filter(pk=result.request.pk).update(
            outcome=result.summary() + f" Líneas quitadas de reportes de importación: {result.report_lines}."
        )


def _filter_report(storage, name: str, ids: Identifiers):
    cleaned = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115 closed by the caller
    text_out = io.TextIOWrapper(cleaned, encoding="utf-8-sig", newline="", write_through=True)
    writer = csv.writer(text_out)
    removed = 0
    with storage.open(name, "rb") as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline="", errors="replace"))
        for index, row in enumerate(reader):
            if index and any(ids.carried_by(cell) for cell in row):
                removed += 1
                continue
            writer.writerow(row)
    text_out.flush()
    text_out.detach()
    cleaned.seek(0)
    return removed, cleaned
