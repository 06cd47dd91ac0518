"""Re-imports recognise the lines imported before by their digest, without parsing them (importing/lines.py)."""

import datetime

import numpy as np
import pytest
from openpyxl import Workbook

from ventas.importing import lines, services, writers
from ventas.importing.lines import FirstPass, KnownLines, line_digest, with_occurrence
from ventas.importing.readers import HISTORY_COLUMNS, UnreadableLine
from ventas.importing.services import import_clients, import_history
from ventas.importing.synthetic import write_history_export
from ventas.importing.writers import line_table
from ventas.models import Cliente, ImportedRow, ServiceHistory, Servicio
from ventas.tests.test_import_clients import client_line
from ventas.tests.test_import_clients import write_csv as write_clients_csv
from ventas.tests.test_import_history import assert_balanced, line, read_report, write_csv

H = services._HistoryImporter
SCAN = {"kind": H.kind, "columns": H.identity_columns, "facts": H.line_facts, "lookup": True}
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


@pytest.fixture(params=[2, lines.BLOCK], ids=["blocks-of-2", "blocks"])
def block(request, monkeypatch):
    """Run with the lines sent and read back in blocks of two (every window edge crossed) and as configured."""
    monkeypatch.setattr(lines, "BLOCK", request.param)
    monkeypatch.setattr(writers, "_BLOCK", max(3, request.param))
    return request.param


def first_pass(rows) -> FirstPass:
    made = FirstPass(line_table())
    list(made.digest_all(enumerate(rows, start=2)))
    return made


@pytest.mark.django_db
def test_identical_lines_are_numbered_in_file_order_and_unreadable_ones_keep_their_place(block):
    ana, bea = ["Ana", "Tina", "1"], ["Ana", "Tina", "2"]
    a, b = line_digest(ana), line_digest(bea)
    unreadable = UnreadableLine("?")
    scanned = first_pass([ana, bea, ana, unreadable, ana, bea, unreadable])
    known = KnownLines.find(scanned, stored=False)
    try:
        assert [known.digest(i) for i in range(8)] == [
            a,
            b,
            with_occurrence(a, 1),
            0,
            with_occurrence(a, 2),
            with_occurrence(b, 1),
            0,  # unreadable lines are never numbered
            None,  # past the end
        ]
        assert len({a, b, with_occurrence(a, 1), with_occurrence(a, 2), with_occurrence(b, 1)}) == 5
        assert (known.count, known.stored_key(0), known.history_id(0), known.customer(0)) == (0, 0, 0, 0)
    finally:
        known.close()
        scanned.table.drop()


def test_digests_tell_every_cell_apart_and_read_spreadsheet_values_as_text():
    assert line_digest(["Ana", "Tina", "50000"]) != line_digest(["Ana", "Tina", "50000", ""])
    assert line_digest(["Ana", "Tina"]) != line_digest(["AnaTina", ""])
    assert line_digest(["Ana", 50000, None, datetime.date(2022, 3, 6)]) == line_digest(
        ["Ana", "50000", "", "2022-03-06"]
    )


@pytest.mark.django_db
def test_known_lines_map_each_line_to_its_stored_key_history_row_and_customer(tmp_path, block):
    path = write_csv(tmp_path, [line(reserva="1"), line(reserva="2"), line(reserva="2")])
    import_history(path)
    stored = dict(ImportedRow.objects.values_list("line", "key"))
    history = dict(ImportedRow.objects.values_list("line", "history_id"))
    ServiceHistory.objects.filter(pk=history[3]).delete()  # a row deleted since: no history row, no customer
    path = write_csv(tmp_path, [line(reserva="1"), line(reserva="3"), line(reserva="2"), line(reserva="2")])
    scan = services.scan_file(path, **SCAN)
    known = scan.known
    try:
        cliente = Cliente.objects.get().pk
        assert [known.stored_key(i) for i in range(5)] == [stored[2], 0, stored[3], stored[4], 0]
        assert [known.history_id(i) for i in range(5)] == [history[2], 0, 0, history[4], 0]
        assert [known.customer(i) for i in range(5)] == [cliente, 0, 0, cliente, 0]
        assert (known.count, known.new) == (3, [0])  # one identity, with one new line
    finally:
        scan.close()


@pytest.mark.django_db
def test_the_first_answer_is_kept_for_a_digest_stored_twice(tmp_path, block):
    """Never written by this code: one record per line all the same."""
    path = write_csv(tmp_path, [line(reserva="1"), line(reserva="2")])
    import_history(path)
    first, second = ImportedRow.objects.order_by("line")
    ImportedRow.objects.filter(pk=second.pk).update(line_hash=first.line_hash)
    scan = services.scan_file(path, **SCAN)
    try:
        assert scan.known.lines == 2
        assert scan.known.stored_key(0) in (first.key, second.key)
        assert scan.known.stored_key(1) == 0
    finally:
        scan.close()
    assert_balanced(import_history(path))


# Re-imports -----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_reimport_parses_only_the_lines_it_must_and_reports_what_the_first_import_did(tmp_path, parsed, block):
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
def test_a_reimport_passes_over_stored_lines_unread_even_when_cells_hold_line_breaks(tmp_path, parsed, block):
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
@pytest.mark.parametrize("batch_size", [1, 5000])
def test_a_new_spelling_before_the_stored_lines_of_the_same_service_is_imported(tmp_path, batch_size):
    """Two services stored as "50000" and "50.000" (one natural key, two occurrences); the next export writes a
    third as "$50.000" before them: it is new, although its natural key's first occurrences are stored. Then a
    fourth and fifth, one more spelling each, in other batches (the occurrences are counted across batches)."""
    import_history(write_csv(tmp_path, [line(valor="50000"), line(valor="50.000")]))
    rows = [line(valor="$50.000"), line(valor="50000"), line(valor="50.000"), line(valor="$ 50.000")]
    summary = import_history(write_csv(tmp_path, [*rows, line(valor="50,000")]), batch_size=batch_size)
    assert (summary.imported, summary.duplicates) == (3, 2)
    assert ServiceHistory.objects.count() == 5
    assert ImportedRow.objects.values("key").distinct().count() == 5
    summary = import_history(write_csv(tmp_path, [*rows, line(valor="50,000")]), batch_size=batch_size)
    assert (summary.imported, summary.duplicates) == (0, 5)


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


def test_the_filter_of_seen_digests_never_misses_one_and_rarely_claims_one():
    rng = np.random.default_rng(7)
    added, others = rng.integers(-(2**63), 2**63 - 1, size=(2, 200_000), dtype=np.int64)
    seen = lines.SeenDigests()
    assert not seen.seen(added).any()
    seen.add(added[:100_000])
    seen.add(added[100_000:])
    assert seen.seen(added).all()
    assert seen.seen(others).mean() < 0.001
    assert seen.bits.nbytes == 4 * 2**20  # fixed, whatever the number added


@pytest.mark.django_db
@pytest.mark.parametrize("always_maybe", [False, True], ids=["filter", "every-key-looked-up"])
def test_natural_keys_are_numbered_alike_by_a_first_import_and_by_a_later_one(tmp_path, monkeypatch, always_maybe):
    """A first import counts a key's occurrences from the keys it wrote; a later one in a temporary table: both
    give the same keys, whatever the batches (one line each here) and whatever the filter claims."""
    if always_maybe:
        monkeypatch.setattr(lines.SeenDigests, "seen", lambda self, digests: np.ones(len(digests), dtype=bool))
    spellings = ["50000", "50.000", "$50.000", "50000", "$ 50.000"]
    first = import_history(write_csv(tmp_path, [line(valor=v) for v in spellings]), batch_size=1)
    assert (first.imported, ImportedRow.objects.values("key").distinct().count()) == (5, 5)
    # The lines written another way (new digests): each is found again by its natural key.
    respelled = ["50,000", "$50000", "50000.0", "$ 50000", "50.000"]  # the last one as before: known by digest
    again = import_history(write_csv(tmp_path, [line(valor=v) for v in respelled], name="otra.csv"), batch_size=1)
    assert (again.imported, again.duplicates) == (0, 5)
    more = import_history(write_csv(tmp_path, [line(valor=v) for v in [*respelled, "50000"]], name="mas.csv"))
    assert (more.imported, more.duplicates) == (1, 5)
    assert ServiceHistory.objects.count() == 6
