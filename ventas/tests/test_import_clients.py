"""import_clients: the legacy clients export creates or completes customers, idempotently."""

import csv
import datetime

import pytest
from django.utils import timezone
from openpyxl import Workbook

from ventas.importing.readers import CLIENT_COLUMNS, ImportFileError
from ventas.importing.services import import_clients
from ventas.models import Cliente, ImportRun

pytestmark = pytest.mark.django_db


def client_line(
    record="1",
    created="2023-05-01 10:30:00",
    email="ana@example.org",
    telefono="+56 9 1234 5678",
    nombre="Ana Soto",
    documento="12.345.678-5",
):
    return [record, f"rec{record}", created, email, telefono, "3", nombre, documento, "Calle Falsa 123", ""]


def write_csv(tmp_path, lines, encoding="utf-8"):
    path = tmp_path / "clientes.csv"
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CLIENT_COLUMNS)
        writer.writerows(lines)
    return path


def run(tmp_path, lines, **kwargs):
    report = tmp_path / "reporte.csv"
    summary = import_clients(write_csv(tmp_path, lines), report_path=report, **kwargs)
    with report.open(encoding="utf-8-sig", newline="") as handle:
        return summary, list(csv.DictReader(handle))


def test_new_clients_are_created_with_normalised_fields(tmp_path):
    summary, _ = run(tmp_path, [client_line(email=" ANA@Example.org ", nombre="ANA  SOTO")])
    assert (summary.rows_read, summary.imported, summary.duplicates, summary.rejected) == (1, 1, 0, 0)
    cliente = Cliente.objects.get()
    assert (cliente.nombre, cliente.email, cliente.telefono) == ("Ana Soto", "ana@example.org", "+56912345678")
    assert cliente.documento_identidad == "12345678-5"
    assert cliente.busqueda == "ana soto ana@example.org"
    assert timezone.localtime(cliente.created_at).replace(tzinfo=None) == datetime.datetime(2023, 5, 1, 10, 30)


def test_importing_the_same_clients_twice_adds_nothing(tmp_path):
    lines = [client_line(), client_line(record="2", email="", telefono="", nombre="Luis Rojas", documento="")]
    run(tmp_path, lines)
    summary, _ = run(tmp_path, lines)
    assert (summary.imported, summary.duplicates) == (0, 2)
    assert Cliente.objects.count() == 2


def test_same_person_twice_in_the_file_is_one_customer(tmp_path):
    lines = [client_line(), client_line(record="2", email="ana@example.org", nombre="  ana   soto")]
    summary, _ = run(tmp_path, lines)
    assert (summary.imported, summary.duplicates) == (1, 1)
    assert Cliente.objects.count() == 1


def test_existing_customer_is_matched_and_only_blank_fields_are_filled(tmp_path):
    existing = Cliente.objects.create(nombre="Ana María Soto", email="ana@example.org")
    summary, _ = run(tmp_path, [client_line(nombre="Ana Soto")])
    assert (summary.imported, summary.duplicates, summary.customers_updated) == (0, 1, 1)
    existing.refresh_from_db()
    assert (existing.nombre, existing.telefono, existing.documento_identidad) == (
        "Ana María Soto",
        "+56912345678",
        "12345678-5",
    )


def test_invalid_email_phone_and_rut_are_not_saved_but_reported(tmp_path):
    summary, report = run(tmp_path, [client_line(email="ana(at)example", telefono="123", documento="12.345.678-9")])
    assert (summary.imported, summary.observations) == (1, 1)
    cliente = Cliente.objects.get()
    assert (cliente.email, cliente.telefono, cliente.documento_identidad) == ("", None, "")
    assert report[0]["estado"] == "importada con observaciones"
    assert "email no válido «ana(at)example»" in report[0]["motivo"]
    assert "teléfono no válido «123»" in report[0]["motivo"]
    assert "RUT con dígito verificador incorrecto" in report[0]["motivo"]


def test_rows_without_any_contact_and_empty_rows_are_rejected(tmp_path):
    lines = [client_line(email="", telefono="", nombre=""), [""] * 10, client_line(record="3", email="b@example.org")]
    summary, report = run(tmp_path, lines)
    assert (summary.rows_read, summary.imported, summary.rejected) == (3, 1, 2)
    assert [r["motivo"] for r in report] == ["sin datos del cliente: falta nombre, email y teléfono", "fila vacía"]


def test_dry_run_creates_nobody(tmp_path):
    summary, _ = run(tmp_path, [client_line()], dry_run=True)
    assert summary.imported == 1
    assert not Cliente.objects.exists()
    assert not ImportRun.objects.exists()


def test_latin1_xlsx_and_history_header_checks(tmp_path):
    path = write_csv(tmp_path, [client_line(nombre="Ñuño Peña")], encoding="latin-1")
    import_clients(path)
    assert Cliente.objects.get().nombre == "Ñuño Peña"

    workbook = Workbook()
    workbook.active.append(CLIENT_COLUMNS)
    workbook.active.append([2, "rec2", datetime.datetime(2022, 1, 5), "luis@example.org", 56987654321, 1, "Luis"])
    xlsx = tmp_path / "clientes.xlsx"
    workbook.save(xlsx)
    assert import_clients(xlsx).imported == 1
    assert Cliente.objects.get(email="luis@example.org").telefono == "+56987654321"

    history = tmp_path / "historial.csv"
    history.write_text("cliente,servicio,cantidad,valor,reserva,checkin,categoria,Año,hora,mail,telefono\n")
    with pytest.raises(ImportFileError, match="exportación de clientes"):
        import_clients(history)


def test_imported_customers_start_their_consent_ledger_once(tmp_path):
    from ventas.models import ConsentEvent

    lines = [
        client_line(),
        client_line(record="2", email="beto@example.org", telefono="+56 9 2222 3333", nombre="Beto"),
    ]
    run(tmp_path, lines)
    run(tmp_path, lines)  # a second import matches them: no second event
    events = ConsentEvent.objects.all()
    assert events.count() == 2
    assert {event.source for event in events} == {ConsentEvent.Source.IMPORT}
    assert all(event.granted and event.text == ConsentEvent.IMPORT_TEXT for event in events)
