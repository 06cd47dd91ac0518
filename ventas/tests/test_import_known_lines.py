"""Re-imports recognise the lines imported before by their digest, without parsing them (importing/lines.py)."""

import datetime

import numpy as np
import pytest
from openpyxl import Workbook

from ventas.importing import services
from ventas.importing.lines import KnownLines, LineDigests, line_digest, with_occurrence
from ventas.importing.readers import HISTORY_COLUMNS
from ventas.importing.services import import_clients, import_history
from ventas.importing.synthetic import write_history_export
from ventas.models import Cliente, ImportedRow, ServiceHistory, Servicio
from ventas.tests.test_import_clients import client_line
from ventas.tests.test_import_clients import write_csv as write_clients_csv
from ventas.tests.test_import_history import assert_balanced, line, read_report, write_csv

COUNTS = ("rows_read", "rejected", "undated", "placeholder_dates", "blank_amounts", "observations", "flagged")


@pytest.fixture
def parsed(monkeypatch):
    """The lines `parse` is called for, by line number."""
    lines = []
    original = services._HistoryImporter.parse

    def parse(self, line, ordinal, cells, chunk):
        lines.append(line)
        return original(self, line, ordinal, cells, chunk)

    monkeypatch.setattr(services._HistoryImporter, "parse", parse)
    return lines


# Digests --------------------------------------------------------------------------------------------------------


def test_identical_lines_are_numbered_in_file_order_and_unreadable_ones_keep_their_place():
    digests = LineDigests()
    a, b = line_digest(["Ana", "Tina", "1"]), line_digest(["Ana", "Tina", "2"])
    for value in (a, b, a, None, a, b):
        digests.add(value) if value is not None else digests.skip()
    assert digests.numbered().tolist() == [
        a,
        b,
        with_occurrence(a, 1),
        0,
        with_occurrence(a, 2),
        with_occurrence(b, 1),
    ]
    assert len({a, b, with_occurrence(a, 1), with_occurrence(a, 2), with_occurrence(b, 1)}) == 5


def test_digests_tell_every_cell_apart_and_read_spreadsheet_values_as_text():
    assert line_digest(["Ana", "Tina", "50000"]) != line_digest(["Ana", "Tina", "50000", ""])
    assert line_digest(["Ana", "Tina"]) != line_digest(["AnaTina", ""])
    assert line_digest(["Ana", 50000, None, datetime.date(2022, 3, 6)]) == line_digest(
        ["Ana", "50000", "", "2022-03-06"]
    )


def test_known_lines_map_each_line_to_its_stored_key_and_hold_those_keys():
    def digests():
        made = LineDigests()
        for value in (11, 22, 11):
            made.add(value)
        return made

    numbered = digests().numbered()
    stored = {int(numbered[0]): 500, int(numbered[2]): 700}  # the second 11 was stored too, 22 was not

    def lookup(unique):
        assert unique.tolist() == sorted(numbered.tolist())
        rows = [(d, stored[d], stored[d] + 1, 9) for d in reversed(unique.tolist()) if d in stored]
        yield from (np.array([row], dtype=np.int64) for row in rows)  # the answer comes in blocks

    known = KnownLines.find(digests(), lookup)
    assert [known.stored_key(i) for i in range(4)] == [500, 0, 700, 0]  # past the end: new
    assert [known.history_id(i) for i in range(4)] == [501, 0, 701, 0]
    assert [known.customer(i) for i in range(4)] == [9, 0, 9, 0]
    assert known.count == 2
    assert (known.taken(500), known.taken(700), known.taken(600)) == (True, True, False)
    assert not KnownLines.none().taken(500) and KnownLines.none().digest(0) is None


# Re-imports -----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_reimport_parses_only_the_lines_it_must_and_reports_what_the_first_import_did(tmp_path, parsed):
    path = tmp_path / "historial.csv"
    write_history_export(path, rows=3000, seed=7)
    first = import_history(path, report_path=tmp_path / "primera.csv")
    parsed.clear()
    second = import_history(path, report_path=tmp_path / "segunda.csv")
    assert_balanced(second)
    assert (second.imported, second.duplicates) == (0, first.imported)
    assert {name: getattr(second, name) for name in COUNTS} == {name: getattr(first, name) for name in COUNTS}
    assert second.reasons == first.reasons
    # Only lines that are rejected again or carry a contact that identifies nobody (customer checked again).
    rechecked = {row.line for row in ImportedRow.objects.filter(line__in=parsed)}
    assert len(parsed) <= first.rejected + len(rechecked)
    assert len(parsed) < first.rows_read / 5
    assert read_report(tmp_path / "segunda.csv") == read_report(tmp_path / "primera.csv")
    assert ServiceHistory.objects.count() == first.imported


@pytest.mark.django_db
def test_a_reimport_passes_over_stored_lines_unread_even_when_cells_hold_line_breaks(tmp_path, parsed):
    lines = [
        line(reserva="1"),
        line(servicio="Tina\ncon salto de línea", reserva="2"),
        line(reserva="3", valor="40000"),
        line(cliente="", mail="", telefono="", reserva="4"),  # rejected: nobody
        line(servicio="Masaje\r\nen\r\ntres líneas", reserva="5"),
        line(reserva="6"),
    ]
    first = import_history(write_csv(tmp_path, lines), report_path=tmp_path / "primera.csv")
    assert (first.imported, first.rejected) == (5, 1)
    parsed.clear()
    changed = [*lines[:2], line(reserva="3", valor="41000"), *lines[3:], line(reserva="7")]
    second = import_history(write_csv(tmp_path, changed), report_path=tmp_path / "segunda.csv")
    assert (second.imported, second.duplicates, second.rejected, second.rows_read) == (2, 4, 1, 7)
    assert parsed == [4, 5, 8]  # the changed line, the rejected one and the new one, numbered as the first import did
    assert read_report(tmp_path / "segunda.csv") == read_report(tmp_path / "primera.csv")
    assert ServiceHistory.objects.filter(service_name__contains="salto").count() == 1


@pytest.mark.django_db
def test_a_new_copy_of_an_identical_line_is_imported(tmp_path, parsed):
    """A customer with two identical services, then three in the next export: the third is new."""
    import_history(write_csv(tmp_path, [line(), line()]))
    parsed.clear()
    summary = import_history(write_csv(tmp_path, [line(), line(), line()]))
    assert (summary.imported, summary.duplicates) == (1, 2)
    assert parsed == [4]
    assert ServiceHistory.objects.count() == 3


@pytest.mark.django_db
def test_a_new_spelling_before_the_stored_lines_of_the_same_service_is_imported(tmp_path):
    """Two services stored as "50000" and "50.000" (one natural key, two occurrences); the next export writes a
    third as "$50.000" before them: it is new, although its natural key's first occurrences are stored."""
    import_history(write_csv(tmp_path, [line(valor="50000"), line(valor="50.000")]))
    summary = import_history(write_csv(tmp_path, [line(valor="$50.000"), line(valor="50000"), line(valor="50.000")]))
    assert (summary.imported, summary.duplicates) == (1, 2)
    assert ServiceHistory.objects.count() == 3


@pytest.mark.django_db
def test_a_changed_line_is_parsed_and_keyed_as_before(tmp_path, parsed):
    import_history(write_csv(tmp_path, [line(reserva="1"), line(reserva="2", valor="30000")]))
    parsed.clear()
    summary = import_history(write_csv(tmp_path, [line(reserva="1"), line(reserva="2", valor="30.000")]))
    assert (summary.imported, summary.duplicates, parsed) == (0, 2, [3])  # same service written another way
    summary = import_history(write_csv(tmp_path, [line(reserva="1"), line(reserva="2", valor="31000")]))
    assert (summary.imported, summary.duplicates) == (1, 1)


@pytest.mark.django_db
def test_lines_stored_without_a_digest_are_parsed_once_and_get_it(tmp_path, parsed):
    path = write_csv(tmp_path, [line(reserva=str(i)) for i in range(5)])
    import_history(path)
    ImportedRow.objects.update(line_hash=None)  # as imported before digests existed
    parsed.clear()
    summary = import_history(path)
    assert (summary.imported, summary.duplicates, len(parsed)) == (0, 5, 5)
    assert not ImportedRow.objects.filter(line_hash=None).exists()
    parsed.clear()
    summary = import_history(path)
    assert (summary.imported, summary.duplicates, parsed) == (0, 5, [])


@pytest.mark.django_db
def test_a_line_with_a_shared_contact_is_checked_again_without_being_parsed(tmp_path, parsed, settings, monkeypatch):
    """Its customer is chosen again (re-attribution, test_import_reattribution.py) from its identity alone."""
    settings.IMPORT_SHARED_CONTACT_NAMES = 1_000_000  # imported before shared contacts were recognised
    shared = [line(cliente=name, mail="reservas@example.org", telefono="", reserva=name) for name in "ABC"]
    nameless = line(cliente="", mail="reservas@example.org", telefono="", reserva="D")
    path = write_csv(tmp_path, [*shared, line(reserva="own"), nameless])
    assert import_history(path).imported == 5
    settings.IMPORT_SHARED_CONTACT_NAMES = 3
    checked = []
    customer_ids = services._HistoryImporter.customer_ids

    def spy(self, rows, *args, **kwargs):
        checked.extend(row.line for row in rows)
        return customer_ids(self, rows, *args, **kwargs)

    monkeypatch.setattr(services._HistoryImporter, "customer_ids", spy)
    parsed.clear()
    summary = import_history(path)
    # The nameless line has nothing left that identifies anybody: parsed, and rejected as a new line would be.
    assert (summary.imported, summary.duplicates, summary.rejected, summary.reattributed) == (0, 4, 1, 2)
    # A's line is on the customer its name still matches, which nothing in this import can change: counted.
    assert (checked, parsed) == ([3, 4], [6])
    checked.clear()
    summary = import_history(path)
    assert (summary.imported, summary.duplicates, summary.reattributed, checked, parsed) == (0, 4, 0, [], [6, 6])


@pytest.mark.django_db
def test_a_customer_created_by_the_import_still_changes_what_a_later_checked_line_matches(tmp_path, settings):
    """A line checked again is counted unread only when no customer this import may create can change its
    match: here a new "Bea Rojas" with another phone, written before it, makes its name ambiguous."""
    import_clients(write_clients_csv(tmp_path, [client_line(nombre="Bea Rojas", email="", telefono="+56 9 8765 4321")]))
    names = ("Bea Rojas", "C", "D")
    shared = [line(cliente=name, mail="reservas@example.org", telefono="", reserva=name) for name in names]
    settings.IMPORT_SHARED_CONTACT_NAMES = 1_000_000  # imported before shared contacts were recognised
    import_history(write_csv(tmp_path, shared))
    bea = Cliente.objects.get(nombre="Bea Rojas")
    assert ServiceHistory.objects.filter(cliente=bea).count() == 1
    settings.IMPORT_SHARED_CONTACT_NAMES = 3
    other_bea = line(cliente="Bea Rojas", mail="", telefono="+56 9 7654 3210", reserva="new")
    # One line per batch: the new customer exists when the next batch checks Bea's stored line.
    summary = import_history(write_csv(tmp_path, [other_bea, *shared]), batch_size=1)
    assert (summary.imported, summary.ambiguous) == (1, 1)
    assert not ServiceHistory.objects.filter(cliente=bea).exists()
    bare = ServiceHistory.objects.get(reserva_id="Bea Rojas").cliente
    assert (bare.nombre, bare.email, bare.telefono) == ("Bea Rojas", "", None)


@pytest.mark.django_db
def test_undated_lines_imported_before_are_still_observed(tmp_path, parsed):
    path = write_csv(tmp_path, [line(checkin=""), line(checkin="31/02/2022", reserva="2"), line(valor="", reserva="3")])
    first = import_history(path, report_path=tmp_path / "primera.csv")
    parsed.clear()
    second = import_history(path, report_path=tmp_path / "segunda.csv")
    assert parsed == []
    assert (second.undated, second.blank_amounts, second.observations) == (first.undated, 1, 2) == (2, 1, 2)
    assert read_report(tmp_path / "segunda.csv") == read_report(tmp_path / "primera.csv")


@pytest.mark.django_db
def test_lines_imported_before_do_not_refresh_the_catalogue(tmp_path):
    path = write_csv(tmp_path, [line(servicio="Tina Nueva", reserva="1")])
    first = import_history(path)
    assert first.services_added == 1
    Servicio.objects.filter(nombre="Tina Nueva").update(precio_base=1)
    second = import_history(write_csv(tmp_path, [line(servicio="Tina Nueva", reserva="1")], name="otra.csv"))
    assert (second.services_added, second.services_updated) == (0, 0)
    assert Servicio.objects.get(nombre="Tina Nueva").precio_base == 1


@pytest.mark.django_db
def test_a_spreadsheet_imported_again_is_recognised(tmp_path, parsed):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HISTORY_COLUMNS)
    sheet.append(["Ana Soto", "Tina Calbuco", 1, 50000, 1234, datetime.datetime(2022, 3, 6), "Tinas", 2022])
    sheet.append(["Ana Soto", "Tina Calbuco", 1, 50000.0, 1234, datetime.datetime(2022, 3, 7), "Tinas", 2022])
    path = tmp_path / "historial.xlsx"
    workbook.save(path)
    assert import_history(path).imported == 2
    parsed.clear()
    summary = import_history(path)
    assert (summary.imported, summary.duplicates, parsed) == (0, 2, [])
