"""Issue 9: re-importing a file imported under the old rule (contacts identify whoever carries them) gives its
lines back to the right customers and takes the shared contacts off the customer that merged them."""

import pytest

from ventas.importing.services import import_clients, import_history
from ventas.models import Cliente, ImportedRow, ServiceHistory
from ventas.tests.test_import_clients import client_line
from ventas.tests.test_import_clients import write_csv as write_clients_csv
from ventas.tests.test_import_history import line, write_csv

pytestmark = pytest.mark.django_db

DESK = "+56 9 5555 1257"


def merged_file(tmp_path):
    lines = [
        line(cliente=name, telefono=DESK, mail="", reserva=f"R-{i}")
        for i, name in enumerate(["Ana Soto", "Bea Rojas", "Caro Díaz", "Ana Soto", "Bea Rojas"])
    ]
    lines.append(line(cliente="Dora Paz", telefono="+56 9 8765 4321", mail="", reserva="R-9"))
    return write_csv(tmp_path, lines)


def import_with_the_old_rule(path, settings):
    """Before issue 9 no contact was ever shared: every line carrying the desk phone went to one customer."""
    threshold = settings.IMPORT_SHARED_CONTACT_NAMES
    settings.IMPORT_SHARED_CONTACT_NAMES = 1_000_000
    import_history(path)
    settings.IMPORT_SHARED_CONTACT_NAMES = threshold


def rows_per_customer():
    return {
        cliente.nombre: cliente.historial_servicios.count()
        for cliente in Cliente.objects.order_by("nombre")
        if cliente.historial_servicios.exists()
    }


def test_reimport_gives_each_line_to_its_own_customer_and_loses_nothing(tmp_path, settings):
    path = merged_file(tmp_path)
    import_with_the_old_rule(path, settings)
    assert rows_per_customer() == {"Ana Soto": 5, "Dora Paz": 1}
    history_ids = set(ServiceHistory.objects.values_list("id", flat=True))

    summary = import_history(path)

    assert (summary.imported, summary.duplicates, summary.rejected) == (0, 6, 0)
    assert summary.reattributed == 3
    assert rows_per_customer() == {"Ana Soto": 2, "Bea Rojas": 2, "Caro Díaz": 1, "Dora Paz": 1}
    assert set(ServiceHistory.objects.values_list("id", flat=True)) == history_ids
    assert ImportedRow.objects.count() == 6


def test_reimport_removes_the_shared_contact_from_the_customer_that_merged_other_people(tmp_path, settings):
    path = merged_file(tmp_path)
    import_with_the_old_rule(path, settings)
    assert Cliente.objects.get(nombre="Ana Soto").telefono == "+56955551257"

    summary = import_history(path)

    assert Cliente.objects.get(nombre="Ana Soto").telefono is None
    assert Cliente.objects.get(nombre="Dora Paz").telefono == "+56987654321"  # her own, not shared
    assert summary.contacts_removed == 1
    assert any("reasignadas a su cliente: 3" in text for text in summary.lines())


def test_a_second_reimport_changes_nothing(tmp_path, settings):
    path = merged_file(tmp_path)
    import_with_the_old_rule(path, settings)
    import_history(path)
    summary = import_history(path)
    assert (summary.reattributed, summary.contacts_removed, summary.duplicates) == (0, 0, 6)


def test_reattribution_queries_do_not_grow_with_the_rows(tmp_path, settings, django_assert_max_num_queries):
    lines = [line(cliente=f"Cliente {i % 50}", telefono=DESK, mail="", reserva=f"R-{i}") for i in range(300)]
    path = write_csv(tmp_path, lines)
    import_with_the_old_rule(path, settings)
    # A fixed number per import (the lines' temporary tables among them) and per batch; none per row.
    with django_assert_max_num_queries(42):
        summary = import_history(path)
    assert summary.reattributed == 294  # all but the 6 lines of the customer that kept its name


def test_reimport_also_removes_a_placeholder_email_from_the_customer_that_merged_people(tmp_path, settings):
    lines = [
        line(cliente=name, telefono="", mail="sinmail@gmail.com", reserva=f"R-{i}")
        for i, name in enumerate(["Ana Soto", "Bea Rojas"])
    ]
    path = write_csv(tmp_path, lines)
    # The old rule: the placeholder email identified whoever carried it.
    ana = Cliente.objects.create(nombre="Ana Soto", email="sinmail@gmail.com")
    import_history(path)  # the new rule gives Bea her own customer: nothing moved yet, nothing removed
    ServiceHistory.objects.update(cliente=ana)  # simulate the merged state the old rule left
    summary = import_history(path)
    ana.refresh_from_db()
    assert (summary.reattributed, summary.contacts_removed, ana.email) == (1, 1, "")


def test_the_client_export_gives_back_an_own_contact_the_repair_removed(tmp_path, settings):
    path = merged_file(tmp_path)
    import_with_the_old_rule(path, settings)
    import_history(path)
    assert Cliente.objects.get(nombre="Ana Soto").telefono is None
    import_clients(write_clients_csv(tmp_path, [client_line(nombre="Ana Soto", email="", telefono=DESK, documento="")]))
    assert Cliente.objects.get(nombre="Ana Soto").telefono == "+56955551257"
