"""Issue 9: contacts written with several names in one file (front desk, agencies, a wrong lookup) and junk
contact values identify nobody; lines carrying them match by name."""

import pytest

from ventas.importing.services import import_clients, import_history
from ventas.models import Cliente, ImportRun
from ventas.signals import history_imported
from ventas.tests.test_import_clients import client_line
from ventas.tests.test_import_clients import write_csv as write_clients_csv
from ventas.tests.test_import_history import line, read_report, write_csv

pytestmark = pytest.mark.django_db

DESK = "+56 9 5555 1257"  # synthetic front-desk phone
DESK_E164 = "+56955551257"


def run(tmp_path, lines, **kwargs):
    report = tmp_path / "reporte.csv"
    summary = import_history(write_csv(tmp_path, lines), report_path=report, **kwargs)
    return summary, read_report(report)


def walk_ins(*names, telefono=DESK, mail=""):
    return [line(cliente=name, telefono=telefono, mail=mail, reserva=f"R-{i}") for i, name in enumerate(names)]


def test_a_phone_written_with_three_names_gives_three_customers_without_it(tmp_path):
    summary, _ = run(tmp_path, walk_ins("Ana Soto", "Bea Rojas", "Caro Díaz", "Ana Soto"))
    assert summary.imported == 4
    assert sorted(Cliente.objects.values_list("nombre", flat=True)) == ["Ana Soto", "Bea Rojas", "Caro Díaz"]
    assert not Cliente.objects.exclude(telefono=None).exists()
    assert Cliente.objects.get(nombre="Ana Soto").historial_servicios.count() == 2


def test_an_email_written_with_three_names_is_shared_too(tmp_path):
    run(tmp_path, walk_ins("Ana Soto", "Bea Rojas", "Caro Díaz", telefono="", mail="reservas@agencia.example"))
    assert Cliente.objects.count() == 3
    assert set(Cliente.objects.values_list("email", flat=True)) == {""}


def test_a_contact_written_with_two_names_still_identifies(tmp_path):
    run(tmp_path, walk_ins("Ana Soto", "Ana M. Soto"))
    [cliente] = Cliente.objects.all()
    assert cliente.telefono == DESK_E164


def test_the_number_of_names_that_makes_a_contact_shared_is_a_setting(tmp_path, settings):
    settings.IMPORT_SHARED_CONTACT_NAMES = 2
    run(tmp_path, walk_ins("Ana Soto", "Ana M. Soto"))
    assert Cliente.objects.count() == 2


def test_names_are_compared_normalised_when_counting(tmp_path):
    run(tmp_path, walk_ins("Ana Soto", "ANA  SOTO", "ana soto"))
    [cliente] = Cliente.objects.all()
    assert cliente.telefono == DESK_E164


def test_summary_and_report_list_each_shared_contact_masked_with_its_counts(tmp_path):
    lines = walk_ins("Ana Soto", "Bea Rojas", "Caro Díaz", "Ana Soto")
    lines += walk_ins("Ana Soto", "Dora Paz", "Eva Luna", telefono="", mail="maria.agencia@gmail.com")
    summary, report = run(tmp_path, lines)
    assert [(item.masked, item.rows, item.names) for item in summary.shared_contacts] == [
        ("+56 9 **** *257", 4, 3),
        ("ma***@gmail.com", 3, 3),
    ]
    text = "\n".join(summary.lines())
    assert "Contactos compartidos" in text
    assert "+56 9 **** *257: 4 filas, 3 nombres distintos" in text
    assert DESK_E164 not in text and "maria.agencia" not in text
    shared = [row for row in report if row["estado"] == "contacto compartido"]
    # The report is formula-safe: a cell starting with "+" gets a leading apostrophe for spreadsheets.
    assert [row["motivo"].split(":")[0] for row in shared] == ["'+56 9 **** *257", "ma***@gmail.com"]
    assert ImportRun.objects.get().shared_contacts == 2


def test_a_customer_holding_a_shared_contact_is_not_matched_through_it(tmp_path):
    # The client export gave this phone to Ana: it stays hers, but other names carrying it are not Ana.
    ana = Cliente.objects.create(nombre="Ana Soto", telefono=DESK)
    run(tmp_path, walk_ins("Bea Rojas", "Caro Díaz", "Dora Paz", "Ana Soto"))
    ana.refresh_from_db()
    assert ana.telefono == DESK_E164
    assert ana.historial_servicios.count() == 1
    assert Cliente.objects.count() == 4


def test_an_own_contact_still_contradicts_a_name_match(tmp_path):
    Cliente.objects.create(nombre="Bea Rojas", email="bea@example.org")
    lines = [*walk_ins("Ana Soto", "Caro Díaz"), line(cliente="Bea Rojas", telefono=DESK, mail="otra@example.org")]
    run(tmp_path, lines)
    assert Cliente.objects.filter(nombre="Bea Rojas").count() == 2
    assert Cliente.objects.get(email="otra@example.org").telefono is None


def test_an_ambiguous_name_goes_to_the_customer_holding_the_name_alone_and_is_reported(tmp_path):
    juan1 = Cliente.objects.create(nombre="Juan Pérez", email="juan1@example.org")
    juan2 = Cliente.objects.create(nombre="Juan Perez", email="juan2@example.org")
    lines = [*walk_ins("Ana Soto", "Caro Díaz", "JUAN PEREZ"), line(cliente="Juan Pérez", mail="", telefono="")]
    summary, report = run(tmp_path, lines)
    assert (summary.imported, summary.rejected, summary.ambiguous) == (4, 0, 2)
    observed = [row for row in report if row["motivo"].startswith("nombre ambiguo")]
    assert [row["cliente"] for row in observed] == ["JUAN PEREZ", "Juan Pérez"]
    [bare] = Cliente.objects.filter(busqueda__startswith="juan perez", email="")
    assert (bare.telefono, bare.historial_servicios.count()) == (None, 2)
    assert not juan1.historial_servicios.exists() and not juan2.historial_servicios.exists()
    assert any("nombre ambiguo" in text for text in summary.lines())


def test_the_client_export_rejects_an_ambiguous_name(tmp_path):
    Cliente.objects.create(nombre="Juan Pérez", email="juan1@example.org")
    Cliente.objects.create(nombre="Juan Perez", email="juan2@example.org")
    lines = [client_line(nombre="Juan Pérez", email="", telefono="", documento="")]
    summary = import_clients(write_clients_csv(tmp_path, lines))
    assert (summary.imported, summary.duplicates, summary.rejected) == (0, 0, 1)
    assert summary.reasons["nombre ambiguo"] == 1


def test_an_own_email_resolves_a_repeated_name(tmp_path):
    Cliente.objects.create(nombre="Juan Pérez", email="juan1@example.org")
    juan2 = Cliente.objects.create(nombre="Juan Perez", email="juan2@example.org")
    summary, _ = run(
        tmp_path,
        [*walk_ins("Ana Soto", "Caro Díaz"), line(cliente="Juan Pérez", mail="juan2@example.org", telefono=DESK)],
    )
    assert summary.rejected == 0
    assert juan2.historial_servicios.count() == 1


@pytest.mark.parametrize("junk", ["#N/A", "#REF!", "-", "0", "sin mail", "SIN CORREO", "no tiene", "n/a", "xxx"])
def test_junk_in_a_contact_column_is_empty_and_does_not_reject_the_line(tmp_path, junk):
    summary, _ = run(tmp_path, [line(mail=junk, telefono=junk)])
    assert (summary.imported, summary.rejected) == (1, 0)
    cliente = Cliente.objects.get()
    assert (cliente.email, cliente.telefono) == ("", None)


def test_placeholder_emails_and_phones_are_junk(tmp_path):
    run(
        tmp_path,
        [
            line(mail="sinmail@gmail.com", telefono="00000000"),
            line(cliente="Bea Rojas", mail="xxx@xxx.cl", telefono="999999999", reserva="R-2"),
        ],
    )
    assert Cliente.objects.count() == 2
    assert set(Cliente.objects.values_list("email", "telefono")) == {("", None)}


def test_a_spreadsheet_error_outside_the_contact_columns_still_rejects(tmp_path):
    summary, _ = run(tmp_path, [line(valor="#REF!")])
    assert summary.rejected == 1


def test_house_contacts_are_always_ignored(tmp_path, settings):
    settings.HOUSE_CONTACTS = ["+56 9 4444 3333", "Reservas@Aremko.example"]
    run(
        tmp_path,
        [
            line(telefono="944443333", mail="reservas@aremko.example"),
            line(cliente="Bea Rojas", telefono="+56944443333", mail="", reserva="R-2"),
        ],
    )
    assert Cliente.objects.count() == 2
    assert set(Cliente.objects.values_list("email", "telefono")) == {("", None)}


def test_the_client_export_never_stores_a_shared_contact(tmp_path):
    lines = [
        client_line(record=str(i), nombre=name, email="agencia@example.org", telefono="", documento="")
        for i, name in enumerate(["Ana Soto", "Bea Rojas", "Caro Díaz"])
    ]
    summary = import_clients(write_clients_csv(tmp_path, lines))
    assert summary.imported == 3
    assert set(Cliente.objects.values_list("email", flat=True)) == {""}


def test_the_client_export_does_not_complete_a_customer_with_a_shared_contact(tmp_path):
    Cliente.objects.create(nombre="Ana Soto")
    lines = [
        client_line(record=str(i), nombre=name, email="", telefono=DESK, documento="")
        for i, name in enumerate(["Ana Soto", "Bea Rojas", "Caro Díaz"])
    ]
    import_clients(write_clients_csv(tmp_path, lines))
    assert Cliente.objects.get(nombre="Ana Soto").telefono is None


def test_history_imported_is_sent_once_the_import_is_committed(tmp_path, django_capture_on_commit_callbacks):
    received = []

    def receiver(sender, run, summary, **kwargs):
        received.append((sender, run.pk, summary.imported))

    history_imported.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            summary, _ = run(tmp_path, [line()])
        with django_capture_on_commit_callbacks(execute=True):
            run(tmp_path, [line()], dry_run=True)
    finally:
        history_imported.disconnect(receiver)
    assert received == [(ImportRun, summary.run_id, 1)]
