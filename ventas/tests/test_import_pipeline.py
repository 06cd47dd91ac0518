"""The import's two threads (parsing, writing), the one-query duplicate lookup and the one summaries refresh."""

import threading
import time
from io import StringIO
from unittest.mock import ANY

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import connection

from crm.services import summaries
from ventas.importing import services, writers
from ventas.importing.pipeline import prefetch
from ventas.importing.services import import_history, run_queued_import
from ventas.importing.writers import history_writer
from ventas.models import Cliente, ImportedRow, ImportRun, ServiceHistory
from ventas.signals import history_written
from ventas.tests.test_import_history import assert_balanced, line, write_csv

UNEXPECTED = "La importación se detuvo por un error inesperado (RuntimeError); lo ya importado queda."


# prefetch ------------------------------------------------------------------------------------------------------


def test_prefetch_yields_every_item_in_order():
    assert list(prefetch(iter(range(1000)), depth=2)) == list(range(1000))


def test_prefetch_raises_the_producers_error_after_the_items_before_it():
    def items():
        yield 1
        yield 2
        raise ValueError("línea 3 ilegible")

    seen = []
    with pytest.raises(ValueError, match="línea 3 ilegible"):
        for item in prefetch(items()):
            seen.append(item)
    assert seen == [1, 2]


def test_prefetch_runs_at_most_depth_items_ahead():
    produced = []

    def items():
        for n in range(100):
            produced.append(n)
            yield n

    stream = prefetch(items(), depth=2)
    assert next(stream) == 0
    time.sleep(0.3)
    # One handed over, two waiting in the queue, one blocked trying to join them.
    assert len(produced) <= 4
    stream.close()


def test_a_consumer_that_stops_early_stops_the_producer():
    def endless():
        n = 0
        while True:
            n += 1
            yield n

    stream = prefetch(endless(), depth=2, name="test-endless")
    assert next(stream) == 1
    stream.close()
    assert not any(thread.name == "test-endless" for thread in threading.enumerate())


# Imports -------------------------------------------------------------------------------------------------------


@pytest.fixture
def exploding_parser(monkeypatch):
    """A bug in the parsing code (not a bad cell): RuntimeError on the amount `boom`."""
    real = services.parse_amount

    def parse_amount(value):
        if value == "boom":
            raise RuntimeError("fallo inesperado")
        return real(value)

    monkeypatch.setattr(services, "parse_amount", parse_amount)


def _ten_lines_the_seventh_explodes():
    lines = [line(reserva=str(n)) for n in range(10)]
    lines[6] = line(valor="boom", reserva="6")
    return lines


@pytest.mark.django_db
@pytest.mark.parametrize("overlap", [True, False])
def test_an_error_while_parsing_stops_the_import_and_keeps_the_batches_before_it(tmp_path, exploding_parser, overlap):
    path = write_csv(tmp_path, _ten_lines_the_seventh_explodes())
    with pytest.raises(RuntimeError, match="fallo inesperado"):
        import_history(path, batch_size=3, overlap=overlap)
    run = ImportRun.objects.get()
    # The two batches parsed before the error are written and counted; nothing after it is.
    assert ServiceHistory.objects.count() == ImportedRow.objects.count() == 6
    assert (run.rows_read, run.imported) == (6, 6)
    assert summaries.verify() == []  # the committed batches' summaries were refreshed


@pytest.mark.django_db
def test_an_error_while_parsing_fails_the_background_import_in_spanish(tmp_path, settings, exploding_parser):
    settings.MEDIA_ROOT = tmp_path / "media"
    path = write_csv(tmp_path, _ten_lines_the_seventh_explodes())
    run = ImportRun.objects.create(kind=ImportRun.Kind.HISTORY, file_name="h.csv", status=ImportRun.Status.QUEUED)
    run.source.save("importacion", ContentFile(path.read_bytes()), save=True)
    assert run_queued_import(run.pk, batch_size=3) == ImportRun.Status.FAILED
    run.refresh_from_db()
    assert run.error == UNEXPECTED
    assert (run.rows_read, run.imported) == (6, 6) == (ServiceHistory.objects.count(), 6)


@pytest.mark.django_db
def test_a_reimport_in_many_batches_finds_every_key_and_adds_nothing(tmp_path):
    lines = [line(cliente=f"Cliente {n % 7}", mail="", telefono="", reserva=str(n)) for n in range(50)]
    lines += [line(checkin="2021-01-01")] * 5  # identical lines: distinct keys by occurrence
    path = write_csv(tmp_path, lines)
    first = import_history(path, batch_size=7)
    second = import_history(path, batch_size=7)
    assert (first.imported, first.duplicates) == (55, 0)
    assert (second.imported, second.duplicates, second.customers_created) == (0, 55, 0)
    assert_balanced(second)
    assert ServiceHistory.objects.count() == 55


@pytest.mark.django_db
def test_the_duplicate_lookup_answers_history_ids_and_their_customers(tmp_path):
    import_history(write_csv(tmp_path, [line(reserva="1"), line(reserva="2")]))
    writer = history_writer()
    rows = dict(ImportedRow.objects.values_list("key", "history_id"))
    assert writer.imported([*rows, 12345]) == (rows, set())  # every key stored with its line digest
    cliente = Cliente.objects.get()
    assert writer.customers_of([*rows.values(), 999_999]) == {pk: cliente.pk for pk in rows.values()}
    assert writer.imported([]) == ({}, set())
    assert writer.customers_of([]) == {}


@pytest.mark.django_db
def test_keys_stored_without_a_digest_are_reported_and_get_theirs(tmp_path):
    import_history(write_csv(tmp_path, [line(reserva="1"), line(reserva="2")]))
    writer = history_writer()
    first, second = ImportedRow.objects.values_list("key", flat=True)
    ImportedRow.objects.update(line_hash=None)
    assert writer.imported([first, second]) == ({first: ANY, second: ANY}, {first, second})
    writer.fill_digests([(first, 7)])
    writer.fill_digests([])
    assert dict(ImportedRow.objects.values_list("key", "line_hash")) == {first: 7, second: None}


@pytest.mark.django_db
def test_the_lines_table_answers_in_blocks_and_leaves_nothing_behind(tmp_path, monkeypatch):
    """The export of the file's lines is read back a block at a time (COPY's binary format on PostgreSQL), one
    record per line in file order; the import's temporary tables are gone when it ends, also after an error."""
    rows = [line(reserva=str(n)) for n in range(7)]
    import_history(write_csv(tmp_path, rows))
    monkeypatch.setattr(writers, "_BLOCK", 3)
    scan = services.scan_file(
        write_csv(tmp_path, [*rows, line(reserva="new")]),
        services._HistoryImporter.kind,
        services._HistoryImporter.identity_columns,
        facts=services._HistoryImporter.line_facts,
        lookup=True,
    )
    try:
        stored = dict(ImportedRow.objects.values_list("line", "key"))
        assert [scan.known.stored_key(n) for n in range(8)] == [stored[n + 2] for n in range(7)] + [0]
        assert scan.known.count == 7
    finally:
        scan.close()
    assert not _temporary_tables()
    assert import_history(write_csv(tmp_path, [line(reserva="dry")]), dry_run=True).imported == 1
    assert not _temporary_tables()

    def fail(self, batch):
        raise RuntimeError("base de datos caída")

    monkeypatch.setattr(services._HistoryImporter, "write_batch", fail)
    with pytest.raises(RuntimeError):
        import_history(write_csv(tmp_path, [line(reserva="other")]))
    assert not _temporary_tables()


def _temporary_tables() -> list[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT relname FROM pg_class WHERE relpersistence = 't' AND relname LIKE 'import_%%'")
        else:
            cursor.execute("SELECT name FROM sqlite_temp_master WHERE name LIKE 'import_%'")
        return [name for (name,) in cursor.fetchall()]


@pytest.mark.django_db
def test_summaries_are_refreshed_once_per_import_and_exact(tmp_path):
    calls = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    history_written.connect(receiver, dispatch_uid="test-once")
    try:
        lines = [line(cliente=f"Cliente {n}", mail="", telefono="", reserva=str(n)) for n in range(9)]
        import_history(write_csv(tmp_path, lines), batch_size=2)
    finally:
        history_written.disconnect(dispatch_uid="test-once")
    [call] = calls
    assert call["cliente_ids"] == set(Cliente.objects.values_list("pk", flat=True))
    assert summaries.verify() == []


@pytest.mark.django_db
def test_a_write_error_stops_the_parsing_thread_at_once(tmp_path, monkeypatch):
    class FailingWriter(type(history_writer())):
        def insert_parsed(self, kind, run_id, rows):
            raise RuntimeError("disco lleno")

    monkeypatch.setattr(services, "history_writer", FailingWriter)
    lines = [line(reserva=str(n)) for n in range(30)]
    with pytest.raises(RuntimeError, match="disco lleno"):
        import_history(write_csv(tmp_path, lines), batch_size=3)
    assert not any(thread.name == "import-parser" for thread in threading.enumerate())
    assert not ServiceHistory.objects.exists()


@pytest.mark.django_db
def test_bench_import_times_both_imports_and_the_copy_floor_on_postgresql(tmp_path):
    out = StringIO()
    call_command("bench_import", str(write_csv(tmp_path, [line(reserva=str(n)) for n in range(20)])), stdout=out)
    text = out.getvalue()
    assert "Primera importación: 20 filas" in text
    assert "(20 nuevas)" in text and "(0 nuevas)" in text
    assert ("Piso de COPY" in text) == (connection.vendor == "postgresql")
    assert ServiceHistory.objects.count() == 20  # the floor's copies are rolled back


def test_copy_text_is_the_escaped_text_whether_values_hold_copy_characters_or_not():
    """The unescaped fast path is taken only when escaping would change nothing (writers.copy_text)."""
    import datetime
    import random
    from decimal import Decimal

    from ventas.importing.writers import _copy_line, copy_text, copy_values_text

    def escaped(rows):
        return "".join(_copy_line(row) + "\n" for row in rows)

    plain = [(1, None, "Tina Calbuco", datetime.date(2022, 3, 6), Decimal("50000.5"), "R-1")] * 50
    assert copy_text(plain) == escaped(plain)
    assert copy_text([]) == "" and copy_text(iter(plain)) == escaped(plain)
    rng = random.Random(7)
    for special in ["\t", "\n", "\r", "\\", "\\N", "N\\", "\\\\N"]:
        for _ in range(20):
            rows = [(i, None, "Tina", "R-1") for i in range(30)]
            at = rng.randrange(len(rows))
            rows[at] = (at, None, f"Tina{special}x", "R-1")
            assert copy_text(rows) == escaped(rows), (special, at)
            assert [copy_values_text(row) + "\n" for row in rows] == [escaped([row]) for row in rows]
    assert copy_text([(1, "a\\Nb")]) == "1\ta\\\\Nb\n"  # a backslash in a value is escaped, not read as NULL


@pytest.mark.django_db
def test_a_history_table_whose_ids_come_from_a_sequence_it_does_not_own_still_imports(tmp_path):
    """A legacy `crm_service_history` may take its ids from a default the table does not own: PostgreSQL then
    names no sequence for it and the writer lets the database assign them."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL sequences: the SQLite writer lets the database assign ids anyway")
    table = connection.ops.quote_name(ServiceHistory._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} ALTER COLUMN id DROP IDENTITY IF EXISTS")
        cursor.execute("CREATE SEQUENCE legacy_history_ids START 500")
        cursor.execute(f"ALTER TABLE {table} ALTER COLUMN id SET DEFAULT nextval('legacy_history_ids')")
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [ServiceHistory._meta.db_table])
        assert cursor.fetchone()[0] is None
    summary = import_history(write_csv(tmp_path, [line(reserva="1"), line(reserva="2")]))
    assert summary.imported == 2
    assert sorted(ServiceHistory.objects.values_list("id", flat=True)) == [500, 501]
    assert sorted(ImportedRow.objects.values_list("history_id", flat=True)) == [500, 501]


def test_prefetch_switches_threads_often_while_it_runs_and_restores_the_interval():
    import sys

    from ventas.importing.pipeline import SWITCH_SECONDS

    before = sys.getswitchinterval()
    seen = []
    for _ in prefetch(iter(range(3))):
        seen.append(sys.getswitchinterval())
    assert seen == [pytest.approx(min(before, SWITCH_SECONDS))] * 3
    assert sys.getswitchinterval() == before
    with pytest.raises(ValueError):
        for _ in prefetch(iter([1, 2])):
            raise ValueError
    assert sys.getswitchinterval() == before
