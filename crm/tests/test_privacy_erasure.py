"""Erasure (supresión): after `erase_customer`, no column of any table holds the customer's identifiers.

The scan introspects every table of the database (all apps, including tables other features add later) and
every column, cast to text, on SQLite and on PostgreSQL (run with DATABASE_URL=postgres://...).
"""

import csv
import io
import json

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Sum
from django.urls import reverse

from crm.models import Campaign, CampaignRecipient, DataRequest, Proposal
from crm.services.privacy.consent import record_consent
from crm.services.privacy.erasure import erase_customer
from crm.services.privacy.requests import PrivacyError
from ventas.importing.readers import HISTORY_COLUMNS
from ventas.models import Cliente, ConsentEvent, ImportRun, ServiceHistory

pytestmark = pytest.mark.django_db

NAME = "Viviana Borrable Quintanilla"
EMAIL = "viviana.borrable@example.org"
PHONE_TYPED = "+56 9 8765 4321"
PHONE = "+56987654321"
RUT_TYPED = "11.111.111-1"
RUT = "11111111-1"
OTHER = [
    "Tomas Conservado",
    "Tina Calbuco",
    "1",
    "30000",
    "R-9",
    "2024-01-05",
    "Tinas",
    "2024",
    "",
    "tomas@example.org",
    "",
]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()  # the proposal rate limit and the engine's statistics live in the cache
    yield
    cache.clear()


def history_upload(lines):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HISTORY_COLUMNS)
    writer.writerows(lines)
    return SimpleUploadedFile("historial.csv", buffer.getvalue().encode("utf-8"), content_type="text/csv")


@pytest.fixture
def customer_everywhere(admin_client, staff_client):
    """A customer whose identifiers reach every place the CRM stores data, through the real paths."""
    lines = [
        [NAME, "Tina Calbuco", "1", "50000", "R-1", "2024-03-06", "Tinas", "2024", "", EMAIL, PHONE_TYPED],
        [NAME, "Masaje Relajo", "1", "40000", "R-2", "2024-05-06", "Masajes", "2024", "", EMAIL, PHONE_TYPED],
        [NAME, "tina eliminada", "1", "50000", "R-3", "2024-03-07", "Tinas", "2024", "", EMAIL, PHONE_TYPED],
        OTHER,
        [*OTHER[:1], "tina eliminada", *OTHER[2:]],
    ]
    response = admin_client.post(
        reverse("admin:ventas_importrun_import"), {"archivo": history_upload(lines), "tipo": "historial"}
    )
    assert response.status_code == 200
    cliente = Cliente.objects.get(email=EMAIL)
    # Rectification in the admin (adds the document and the city; leaves a LogEntry with the name).
    response = admin_client.post(
        reverse("admin:ventas_cliente_change", args=[cliente.pk]),
        {
            "nombre": NAME,
            "email": EMAIL,
            "telefono": PHONE,
            "documento_identidad": RUT_TYPED,
            "pais": "Chile",
            "ciudad": "Frutillar",
            "acepta_marketing": "on",
        },
    )
    assert response.status_code == 302
    # A proposal generated through the page, then "sent" (the address and an SMTP error stored with it).
    response = staff_client.post(reverse("generar_propuesta", args=[cliente.pk]), HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    Proposal.objects.filter(cliente=cliente).update(
        status=Proposal.Status.SENT, sent_to=EMAIL, error=f"550 <{EMAIL}> mailbox full; {NAME}"
    )
    generated = staff_client.post(reverse("generar_propuesta", args=[cliente.pk]), HTTP_ACCEPT="application/json")
    campaign = Campaign.objects.create(segment="promising")
    CampaignRecipient.objects.create(
        campaign=campaign,
        cliente=cliente,
        proposal_id=generated.json()["proposal_id"],
        status=CampaignRecipient.Status.GENERATED,
        error=f"Reintento para {EMAIL}",
    )
    record_consent(cliente=cliente, channel="whatsapp", granted=True, source="staff")
    staff_client.get(reverse("cliente_detalle", args=[cliente.pk]))
    cliente.refresh_from_db()
    assert (cliente.telefono, cliente.documento_identidad) == (PHONE, RUT)
    return cliente


def _variants() -> list[str]:
    values = [NAME, EMAIL, PHONE, PHONE_TYPED, RUT, RUT_TYPED]
    # JSON columns on SQLite store non-ASCII escaped; the identifiers here are ASCII, but keep the check honest.
    return sorted({value.lower() for value in values} | {json.dumps(value)[1:-1].lower() for value in values})


def identifier_matches() -> dict[str, int]:
    """`table.column` -> rows whose text holds any identifier, over every column of every table."""
    found = {}
    variants = _variants()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            for column in connection.introspection.get_table_description(cursor, table):
                text = f"LOWER(CAST({quote(column.name)} AS TEXT))"
                where = " OR ".join(f"{text} LIKE %s" for _ in variants)
                cursor.execute(
                    f"SELECT COUNT(*) FROM {quote(table)} WHERE {where}",  # names from introspection
                    [f"%{variant}%" for variant in variants],
                )
                count = cursor.fetchone()[0]
                if count:
                    found[f"{table}.{column.name}"] = count
    return found


def test_the_scan_finds_the_identifiers_before_erasure(customer_everywhere):
    found = identifier_matches()
    for place in ["ventas_cliente.nombre", "crm_proposal.customer_profile", "django_admin_log.object_repr"]:
        assert place in found, found


def _erase(cliente, django_capture_on_commit_callbacks, user=None):
    with django_capture_on_commit_callbacks(execute=True):
        return erase_customer(cliente_id=cliente.pk, user=user)


def test_erasure_leaves_no_identifier_in_any_table(customer_everywhere, django_capture_on_commit_callbacks):
    _erase(customer_everywhere, django_capture_on_commit_callbacks)

    assert identifier_matches() == {}


@pytest.mark.postgres
def test_erasure_leaves_no_identifier_on_postgresql(customer_everywhere, django_capture_on_commit_callbacks):
    assert connection.vendor == "postgresql"
    _erase(customer_everywhere, django_capture_on_commit_callbacks)

    assert identifier_matches() == {}


def test_erasure_anonymises_the_customer_and_keeps_history_amounts(
    customer_everywhere, django_capture_on_commit_callbacks, staff_user
):
    before = ServiceHistory.objects.aggregate(total=Sum("price_paid"), rows=Sum("quantity"))

    result = _erase(customer_everywhere, django_capture_on_commit_callbacks, user=staff_user)

    cliente = Cliente.objects.get(pk=customer_everywhere.pk)
    assert cliente.nombre == f"Cliente eliminado #{cliente.pk}"
    assert (cliente.email, cliente.telefono, cliente.documento_identidad, cliente.ciudad) == ("", None, "", "")
    assert cliente.busqueda == f"cliente eliminado #{cliente.pk}"
    assert cliente.acepta_marketing is False
    assert ServiceHistory.objects.aggregate(total=Sum("price_paid"), rows=Sum("quantity")) == before
    assert ServiceHistory.objects.filter(cliente=cliente).count() == 2
    assert not Proposal.objects.filter(cliente=cliente, status=Proposal.Status.GENERATED).exists()
    assert CampaignRecipient.objects.get(cliente=cliente).status == CampaignRecipient.Status.DROPPED
    request = DataRequest.objects.get(cliente=cliente, kind="supresion")
    assert request.status == "atendida" and request.handled_by == staff_user
    assert "reportes de importación: 1" in request.outcome
    assert result.report_lines == 1
    assert ConsentEvent.objects.filter(cliente=cliente, channel="email", granted=False, source="staff").exists()


def test_import_report_keeps_the_other_customers_lines(customer_everywhere, django_capture_on_commit_callbacks):
    _erase(customer_everywhere, django_capture_on_commit_callbacks)

    run = ImportRun.objects.get()
    with run.report.open("rb") as handle:
        rows = list(csv.reader(io.StringIO(handle.read().decode("utf-8-sig"))))
    assert rows[0][:3] == ["linea", "estado", "motivo"]
    assert [row[3] for row in rows[1:]] == ["Tomas Conservado"]
    assert all(EMAIL not in cell and NAME not in cell for row in rows for cell in row)


def test_erasing_twice_is_refused(customer_everywhere, django_capture_on_commit_callbacks):
    _erase(customer_everywhere, django_capture_on_commit_callbacks)
    with pytest.raises(PrivacyError, match="ya fue eliminado"):
        erase_customer(cliente_id=customer_everywhere.pk)


def test_erase_command_needs_yes_and_erases(customer_everywhere, capsys):
    with pytest.raises(CommandError, match="--yes"):
        call_command("customer_erase", str(customer_everywhere.pk))
    assert Cliente.objects.get(pk=customer_everywhere.pk).email == EMAIL

    call_command("customer_erase", str(customer_everywhere.pk), "--yes")

    assert Cliente.objects.get(pk=customer_everywhere.pk).email == ""
    assert "anonimizado" in capsys.readouterr().out


def test_erase_command_unknown_customer_is_a_clear_error():
    with pytest.raises(CommandError, match="No existe el cliente 999999"):
        call_command("customer_erase", "999999", "--yes")
