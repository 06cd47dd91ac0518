"""Import services for the legacy exports: `import_history(...)` and `import_clients(...)`.

Rules (issue 5):
- Every data line of the file ends up imported, merged as a duplicate or rejected; the three counts add up to
  `rows_read`. Fully empty lines count as read and rejected ("fila vacía"); empty lines after the last data line
  (spreadsheet padding) are not data lines and are not counted.
- Rejected lines go to the report CSV with their line number (the spreadsheet row: the header is line 1), the
  original values and a Spanish reason. Lines kept with a change worth knowing ("observaciones": unknown date
  moved to the placeholder day, invalid email not saved) are listed there too.
- A history line with a blank or impossible date is kept on `settings.HISTORY_PLACEHOLDER_DATE` and counted as
  flagged, like the lines the legacy system already put on that day: it counts for frequency and spend but never
  for recency or seasonality (`ServiceHistory.objects.with_real_dates()`).
- A line with a spreadsheet error (`#REF!`…) in any cell is rejected: a broken formula makes the whole line suspect.
- Idempotent: each history line has a natural key (customer, date, cleaned service, amount, quantity, reserva,
  plus the occurrence of identical lines within the file) stored in `ImportedRow`; a second import of the same
  file finds every key and adds nothing. Each stored line also keeps a digest of its cells as written, so a
  re-import counts the lines it finds that way without parsing them (lines.py); only lines that are new, changed,
  rejected, undated or carry a contact that identifies nobody are read again, and of the last ones only those
  whose customer this import may change (`_HistoryImporter.settled_customers`). The catalogue learns from the lines an
  import parses (lines imported before were learnt when they were). Clients are idempotent through matching
  (email, phone, name).
- Customers: matched by normalised email, then phone (E.164), then name (`search_key`); a name match is refused
  when the row's email or phone contradicts the customer's. History lines matching nobody create the customer.
- Contacts that identify nobody are dropped before matching (issue 9, contacts.py): junk values (`#N/A`, `sin
  mail`, `0`: a spreadsheet error in a contact column empties the contact instead of rejecting the line),
  `settings.HOUSE_CONTACTS`, and the contacts *shared* in the file: a first streaming pass counts the distinct
  names written with each email and phone, and one with `settings.IMPORT_SHARED_CONTACT_NAMES` or more is never
  matched through (not even when a customer in the database holds it), never stored on a customer created or
  completed from the file, and listed (masked) in the summary and the report. Such lines match by name.
- A name shared by several customers that the line's own contacts cannot tell apart is ambiguous: the history
  line goes to the customer holding that name alone, without email or phone (created the first time), and is
  listed in the report ("nombre ambiguo"), rather than given to one of the people with contacts at random.
  A clients line with an ambiguous name is rejected with that reason.
- Re-importing a file re-attributes its lines already imported that carry a contact which no longer
  identifies anybody (found by their natural key, which is computed from the cells as written, so keys stored
  under the old matching rule are found) to the customer the current rules choose, in bulk; a shared, house or
  junk contact stored on a customer that lost lines that way is removed from it. A database imported before
  the shared-contact rule is repaired by importing its files again; nothing is lost and the row count does not
  change. (A contact the client export gives to its one person and that the history file shares may be removed
  this way: importing the client export again gives it back.) Other lines keep their customer.
- The catalogue is learned from the file (catalogue.py): services it lacks are added, staff's are never touched.
- After a committed history import, `ventas.signals.history_imported` is sent (on commit).
- Fast and flat: rows stream from the file and are parsed in a background thread while this one writes the
  previous batch (pipeline.py; all database work stays in this thread); what the import knows of each line lives
  in temporary tables and a temporary file, not in memory (lines.py), so memory grows with the customers and the
  file's distinct names and contacts, not with its lines; customers are matched against in-memory indexes loaded
  once, and inserts go in batches (`batch_size` rows, one transaction each, one query
  to find already-imported keys and their current customer; COPY on PostgreSQL, see writers.py). The summary
  tables are refreshed once, for every customer and month the batches touched, in the import's last
  transaction (`history_written`), or after a failure for the batches already committed. Only one import runs
  at a time on PostgreSQL (advisory lock).
- A dry run does all of the above inside one transaction that is rolled back, so it prints the same summary.
"""

import csv
import datetime
import io
import logging
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
from django.conf import settings
from django.core.files import File
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ventas.formatting import csv_safe, format_date, format_number
from ventas.importing.catalogue import CatalogueLearner
from ventas.importing.contacts import (
    SharedContact,
    house_contacts,
    is_junk_cell,
    is_junk_email,
    is_junk_phone,
    scan_contacts,
)
from ventas.importing.lines import (
    BLANK_AMOUNT,
    PLACEHOLDER,
    UNDATED,
    FirstPass,
    KnownLines,
    SeenDigests,
    digest64,
)
from ventas.importing.matching import (
    AMBIGUOUS,
    CustomerIndex,
    Identity,
    cached_search_key,
    clean_name,
    normalize_email,
)
from ventas.importing.parsers import (
    CellError,
    ServiceCatalog,
    categorize,
    cell_text,
    is_spreadsheet_error,
    parse_amount,
    parse_date,
    parse_quantity,
    parse_year,
    void_reason,
)
from ventas.importing.pipeline import prefetch
from ventas.importing.readers import ImportFileError, Skipped, Table, UnreadableLine, open_table
from ventas.importing.writers import history_writer, line_table
from ventas.models import Cliente, ConsentEvent, ImportedRow, ImportRun, ServiceHistory
from ventas.normalize import looks_like_rut, normalize_phone, normalize_rut, season_of
from ventas.signals import history_imported, history_written

logger = logging.getLogger(__name__)

HISTORY_DATE = 3  # index of the service date in _HistoryRow.values
BATCH_SIZE = 5000
READ_PER_CHUNK = 4 * BATCH_SIZE  # lines counted from the first pass before a chunk is handed on anyway
PREFETCH_CHUNKS = 2  # parsed batches waiting for the writer: bounds memory to ~3 batches of rows
Progress = Callable[["ImportSummary"], None]


@dataclass
class ImportSummary:
    kind: str
    file_name: str
    encoding: str = ""
    dry_run: bool = False
    rows_read: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    placeholder_dates: int = 0  # lines dated on the placeholder day in the file
    undated: int = 0  # lines without a usable date, kept on the placeholder day
    blank_amounts: int = 0
    observations: int = 0
    customers_created: int = 0
    customers_updated: int = 0
    shared_contacts: list[SharedContact] = field(default_factory=list)
    reattributed: int = 0  # lines imported before, moved to the customer the current rules choose
    contacts_removed: int = 0  # shared contacts taken off customers
    services_added: int = 0
    services_updated: int = 0
    ambiguous: int = 0  # lines whose name could be several customers (kept on the name-only customer)
    reasons: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    peak_memory_mb: float = 0.0
    run_id: int | None = None

    @property
    def flagged(self) -> int:
        return self.placeholder_dates + self.undated

    @property
    def balanced(self) -> bool:
        return self.imported + self.duplicates + self.rejected == self.rows_read

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds else 0.0

    def lines(self) -> list[str]:
        """The summary as staff read it, in the terminal and on the admin page."""
        placeholder = format_date(settings.HISTORY_PLACEHOLDER_DATE)
        seconds = f"{self.seconds:.1f}".replace(".", ",")
        out = [
            f"Archivo: {self.file_name} ({self.encoding})",
            f"Filas leídas: {format_number(self.rows_read)}",
            f"  Importadas: {format_number(self.imported)}",
            f"  Duplicadas (ya estaban, no se agregaron): {format_number(self.duplicates)}",
            f"  Rechazadas: {format_number(self.rejected)}",
        ]
        if self.kind == ImportRun.Kind.HISTORY:
            out.append(f"Clientes creados: {format_number(self.customers_created)}")
            out.append(
                f"Con fecha provisoria {placeholder} (no cuentan para recencia ni temporada): "
                f"{format_number(self.flagged)}, de ellas {format_number(self.undated)} sin fecha válida en el archivo"
            )
            out.append(f"Sin valor (se guardaron con $0): {format_number(self.blank_amounts)}")
            out.append(
                f"Servicios agregados al catálogo: {format_number(self.services_added)}"
                + (f" (actualizados: {format_number(self.services_updated)})" if self.services_updated else "")
            )
            if self.reattributed or self.contacts_removed:
                out.append(
                    f"Filas ya importadas reasignadas a su cliente: {format_number(self.reattributed)}; "
                    f"contactos compartidos quitados de clientes: {format_number(self.contacts_removed)}"
                )
        else:
            out.append(f"Clientes existentes completados: {format_number(self.customers_updated)}")
        if self.ambiguous:
            out.append(
                f"Filas con nombre ambiguo (quedaron en un cliente con ese nombre sin email ni teléfono; ver "
                f"reporte): {format_number(self.ambiguous)}"
            )
        if self.shared_contacts:
            out.append(
                f"Contactos compartidos (escritos con {settings.IMPORT_SHARED_CONTACT_NAMES} o más nombres; "
                f"no identifican a ningún cliente): {format_number(len(self.shared_contacts))}"
            )
            out.extend(f"  {item.masked}: {shared_counts(item)}" for item in self.shared_contacts)
        if self.observations:
            out.append(f"Filas importadas con observaciones (ver reporte): {format_number(self.observations)}")
        if self.reasons:
            top = ", ".join(f"{reason} ({format_number(n)})" for reason, n in self.reasons.most_common(8))
            out.append(f"Motivos de rechazo: {top}")
        out.append(
            f"Tiempo: {seconds} s · {format_number(self.rows_per_second)} filas/s · "
            f"memoria máxima {self.peak_memory_mb:.0f} MB"
        )
        if self.dry_run:
            out.append("SIMULACIÓN: no se guardó ningún cambio.")
        return out


class Report:
    """CSV with one line per rejected (or observed) input line: line number, state, reason, original values.

    UTF-8 with BOM so Excel opens the accents correctly. Every text cell goes through `csv_safe`: the values come
    from an uploaded file and `=cmd|' /C calc'!A0` must reach staff as text, never as a formula.
    """

    def __init__(self, path: str | Path | None, header: list[str]):
        self.handle = Path(path).open("w", encoding="utf-8-sig", newline="") if path else None  # noqa: SIM115
        self.writer = csv.writer(self.handle) if self.handle else None
        if self.writer:
            self.writer.writerow(["linea", "estado", "motivo", *(csv_safe(name) for name in header)])

    def write(self, line: int, state: str, reason: str, cells) -> None:
        if self.writer:
            values = (csv_safe(_report_value(cell)) for cell in cells)
            self.writer.writerow([line, state, csv_safe(reason), *values])

    def __enter__(self) -> "Report":
        return self

    def __exit__(self, *exc_info) -> None:
        if self.handle:
            self.handle.close()


def _report_value(cell) -> str:
    if isinstance(cell, datetime.datetime | datetime.date):
        return cell.isoformat()
    return cell_text(cell)


REJECTED = "rechazada"
OBSERVED = "importada con observaciones"
SHARED = "contacto compartido"


def shared_counts(item: SharedContact) -> str:
    return f"{format_number(item.rows)} filas, {format_number(item.names)} nombres distintos"


@dataclass
class FileScan:
    """What the first pass over a file learned: its shared contacts and the contacts to ignore."""

    shared: list[SharedContact]
    ignored: frozenset[str]
    lines: FirstPass | None = None  # the file's identities and the table of its lines (lines.py), when asked for
    known: KnownLines | None = None  # which of them were imported before (lines.py), when asked for
    contacts: "_ContactsOf | None" = None  # each distinct email and phone cell of the file, normalised once

    def close(self) -> None:
        """Drop what the scan keeps outside memory (its temporary table and file), at the end of the import."""
        if self.known is not None:
            self.known.close()
        if self.lines is not None:
            try:
                self.lines.table.drop()
            except DatabaseError:  # the import failed with its transaction: the tables go with the connection
                logger.warning("Import tables not dropped", exc_info=True)


def scan_file(
    path: str | Path,
    kind: str,
    columns: tuple[str, str, str],
    *,
    facts: Callable | None = None,
    lookup: bool = False,
) -> FileScan:
    """First streaming pass: count the lines of each distinct (name, email, phone) as written, then normalise
    each distinct one once and find the shared contacts (contacts.py). Memory grows with the distinct
    identities of the file, not with its lines. With `facts` (table -> cells -> small int), also send each line's
    digest, identity and facts to a temporary table, a block at a time (lines.py), and with `lookup` find the lines
    imported before (`KnownLines.find`: in this thread, where the database connection is, while another one
    normalises the identities; the database does the join meanwhile). The caller closes the scan.
    """
    house = house_contacts()
    lines = None
    with open_table(path, kind=kind) as table:
        identity_cells = table.picker(*columns)
        if facts is None:
            rows = (cells for _, cells in table.rows if not isinstance(cells, UnreadableLine))
            # Counter.update counts in C; unreadable lines have no identity.
            triples = Counter(map(identity_cells, rows)).items()
        elif not lookup:  # nothing stored to recognise: only the digests, to store them
            lines = FirstPass(line_table())
            triples = Counter(map(identity_cells, lines.digest_all(table.rows))).items()
        else:
            lines = FirstPass(line_table())
            lines.read(table.rows, identity_cells, facts(table))
            lines.spans = table.spans
            triples = lines.identity_counts()
    contacts = _ContactsOf(house)
    known = None
    if lines is not None and lookup:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-contacts") as pool:
            scanned = pool.submit(scan_contacts, triples, contacts)
            known = KnownLines.find(lines, stored=True)
            scan = scanned.result()
    else:
        scan = scan_contacts(triples, contacts)
        if lines is not None:  # nothing to look up: the lines' numbered digests, to store them
            known = KnownLines.find(lines, stored=False)
    shared = scan.shared()
    contacts.shared = frozenset(item.contact for item in shared)
    return FileScan(shared=shared, ignored=house | contacts.shared, lines=lines, known=known, contacts=contacts)


class _Contacts(NamedTuple):
    name_key: str
    email: str
    phone: str | None


class _ContactsOf:
    """(name, email, phone) cells -> their normalised name key and usable contacts, each distinct cell value
    normalised once (far fewer distinct names, emails and phones than distinct triples)."""

    def __init__(self, ignored: frozenset[str]):
        self.ignored = ignored
        self.shared: frozenset[str] = frozenset()  # the file's shared contacts, once the scan found them
        self.names: dict = {}
        self.emails: dict = {}
        self.phones: dict = {}

    def __call__(self, name, email, phone) -> _Contacts:
        if (name_key := self.names.get(name)) is None:
            name_key = self.names[name] = cached_search_key(clean_name(name))
        if (usable_email := self.emails.get(email)) is None:
            usable_email = Identity.from_cells("", email, None).without(self.ignored).email
            self.emails[email] = usable_email
        if (usable_phone := self.phones.get(phone, "")) == "":
            usable_phone = Identity.from_cells("", "", phone).without(self.ignored).phone
            self.phones[phone] = usable_phone
        return _Contacts(name_key, usable_email, usable_phone)

    def dropped(self, email, phone) -> bool:
        """Whether the email or phone cell holds a contact that identifies nobody (junk, house or shared): the
        same answer as `Identity.from_cells(…).without(house | shared)` dropping it, from the cells' cache."""
        if (usable := self.emails.get(email)) is None:
            usable = self(None, email, None).email
        if usable in self.shared if usable else bool(normalize_email(email)):
            return True
        if (usable := self.phones.get(phone, "")) == "":
            usable = self(None, None, phone).phone
        return usable in self.shared if usable else bool(normalize_phone(str(phone or "")))


def _is_blank(cells) -> bool:
    try:  # CSV lines: every cell is text, joined and checked in C
        return not "".join(cells).strip()
    except TypeError:  # .xlsx: numbers, dates, None
        return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


def _may_hold_error(cells) -> bool:
    """False when no cell can be a spreadsheet error (`#REF!`…): the common case, answered in C for CSV lines."""
    try:
        return "#" in "".join(cells)
    except TypeError:  # .xlsx: numbers, dates, None
        return True


@dataclass
class _Chunk:
    """Up to `batch_size` parsed rows, with the counts and report lines of the file lines they were read from.

    Built by the parsing thread and applied by the writing thread (`_Importer.run_all`), in file order, so
    the summary and the report come out exactly as if one thread did everything.
    """

    rows: list = field(default_factory=list)
    rows_read: int = 0
    rejected: int = 0
    duplicates: int = 0  # lines imported before, known from their digest without parsing them (lines.py)
    observations: int = 0
    undated: int = 0
    placeholder_dates: int = 0
    blank_amounts: int = 0
    reasons: Counter = field(default_factory=Counter)
    report: list[tuple] = field(default_factory=list)

    COUNTS = ("rows_read", "rejected", "duplicates", "observations", "undated", "placeholder_dates", "blank_amounts")

    def reject(self, line, cells, reason: str) -> None:
        self.rejected += 1
        self.reasons[reason.split(":")[0]] += 1
        self.report.append((line, REJECTED, reason, cells))

    def observe(self, line: int, cells, note: str) -> None:
        self.observations += 1
        self.report.append((line, OBSERVED, note, cells))

    def apply(self, summary: ImportSummary, report: Report) -> None:
        for name in self.COUNTS:
            setattr(summary, name, getattr(summary, name) + getattr(self, name))
        summary.reasons.update(self.reasons)
        for line in self.report:
            report.write(*line)


class _Importer:
    """Shared loop: stream lines, count empty and unreadable ones, hand the rest to `parse`, flush batches."""

    kind: str
    identity_columns: tuple[str, str, str]  # name, email, phone
    # table -> (cells -> the line's facts): when set, the first pass keeps each line's digest and facts (lines.py)
    line_facts: Callable | None = None

    @staticmethod
    def known_lines_lookup() -> bool:
        """Whether the first pass looks for the lines imported before (lines.py)."""
        return False

    def __init__(
        self,
        table: Table,
        summary: ImportSummary,
        report: Report,
        progress,
        batch_size,
        run,
        scan: FileScan,
        *,
        overlap: bool = True,
    ):
        self.table = table
        self.summary = summary
        self.report = report
        self.progress = progress
        self.batch_size = batch_size
        self.overlap = overlap  # parse in a background thread while this one writes (False: one thread)
        self.run = run
        self.ignored = scan.ignored
        self.first_pass = scan.lines
        self.known = scan.known or KnownLines.none()
        self.contacts = scan.contacts
        self.customers = CustomerIndex.load(scan.ignored)
        self.contact_columns = {table.columns.get(column) for column in self.identity_columns[1:]} - {None}
        # Per importer, so the cache (and the importer) go away with the import.
        self._identity = lru_cache(maxsize=65_536)(self._make_identity)
        self._identity_cells = table.picker(*self.identity_columns)
        summary.shared_contacts = scan.shared
        for item in scan.shared:
            report.write("", SHARED, f"{item.masked}: {shared_counts(item)}; no se usó para identificar clientes", [])

    def identity(self, cells) -> Identity:
        """The row's identity without junk, house and shared contacts (cached: identities repeat in a file)."""
        return self._identity(*self._identity_cells(cells))

    def _make_identity(self, name, email, phone) -> Identity:
        return Identity.from_cells(name, email, phone).without(self.ignored)

    def spreadsheet_error(self, cells):
        """The first spreadsheet error outside the contact columns (there it only empties the contact)."""
        if not _may_hold_error(cells):
            return None
        error = next((cell for cell in cells if is_spreadsheet_error(cell)), None)
        if error is None or not self.contact_columns:
            return error
        skip = self.contact_columns
        return next((c for i, c in enumerate(cells) if i not in skip and is_spreadsheet_error(c)), None)

    def reject(self, line: int, cells, reason: str) -> None:
        """A rejection found while writing (this thread): counted and reported as the parser's are."""
        chunk = _Chunk()
        chunk.reject(line, cells, reason)
        chunk.apply(self.summary, self.report)

    def observe(self, line: int, cells, note: str) -> None:
        chunk = _Chunk()
        chunk.observe(line, cells, note)
        chunk.apply(self.summary, self.report)

    def run_all(self) -> None:
        """Write the chunks that `chunks()` parses in a background thread (pipeline.py), in file order: each
        chunk's counts and report lines first, then its rows in one transaction. All database work stays in
        this thread (Django connections are per thread)."""
        chunks = self.chunks()
        if self.overlap:
            chunks = prefetch(chunks, depth=PREFETCH_CHUNKS)
        with closing(chunks):  # a write error stops the parsing thread now, not when the generator is collected
            for chunk in chunks:
                chunk.apply(self.summary, self.report)
                self.flush(chunk.rows)

    def chunks(self) -> Iterator["_Chunk"]:
        """Stream the lines and parse them into chunks of up to `batch_size` rows (no database work here)."""
        chunk = _Chunk()
        pending_empty: list[int] = []
        # `ordinal` numbers the lines as the first pass did (scan_file), unreadable and blank ones included.
        ordinal = -1
        for line, cells in self.lines_to_read():
            if type(cells) is Skipped:  # a run of `counted` lines, not parsed
                if pending_empty:
                    self._flush_empty(pending_empty, chunk)
                self.count_known(ordinal + 1, cells.count, chunk)
                ordinal += cells.count
                if chunk.rows_read >= READ_PER_CHUNK:  # progress keeps moving through lines that write nothing
                    yield chunk
                    chunk = _Chunk()
                continue
            ordinal += 1
            if isinstance(cells, UnreadableLine):
                self._flush_empty(pending_empty, chunk)
                chunk.rows_read += 1
                chunk.reject(line, [], f"línea ilegible: {cells.message}")
                continue
            if _is_blank(cells):
                pending_empty.append(line)  # counted only if a data line follows (see module docstring)
                continue
            self._flush_empty(pending_empty, chunk)
            chunk.rows_read += 1
            if not self.imported_before(ordinal, line, cells, chunk):
                if error := self.spreadsheet_error(cells):
                    chunk.reject(line, cells, f"error de planilla: {error.strip()} en la fila")
                    continue
                try:
                    chunk.rows.append(self.parse(line, ordinal, cells, chunk))
                except CellError as exc:
                    chunk.reject(line, cells, str(exc))
                    continue
            if len(chunk.rows) >= self.batch_size:
                yield chunk
                chunk = _Chunk()
        yield chunk

    def lines_to_read(self) -> Iterator[tuple[int, object]]:
        """The table's (line, cells), each run of `counted` lines yielded as one `Skipped` (a CSV reader passes
        over their physical lines, known from the first pass, without parsing them)."""
        if not self.known.counting:
            return self.table.rows
        return self.table.skipping(self.known.counted_runs(), self.first_pass.spans or {})

    def _flush_empty(self, pending: list[int], chunk: "_Chunk") -> None:
        for line in pending:
            chunk.rows_read += 1
            chunk.reject(line, [], "fila vacía")
        pending.clear()

    def flush(self, batch: list) -> None:
        if batch:
            with transaction.atomic():
                self.write_batch(batch)
        if self.progress:
            self.progress(self.summary)

    def count_known(self, start: int, count: int, chunk: "_Chunk") -> None:
        """Count `count` lines of `counted` (imported before, nothing to check) from `start` (ordinals), from
        their first-pass facts."""
        raise NotImplementedError

    def imported_before(self, ordinal: int, line: int, cells, chunk: "_Chunk") -> bool:
        """True for a line known as imported before without parsing it (history: lines.py); it is counted, or
        added to `chunk.rows` for what the writer must still do with it."""
        return False

    def parse(self, line: int, ordinal: int, cells, chunk: "_Chunk"):  # pragma: no cover - abstract
        raise NotImplementedError

    def write_batch(self, batch: list) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def customer_ids(self, rows: list, make: Callable | None = None, *, name_only: bool = False) -> list[int | None]:
        """The customer id of each row (`row.identity`); rows that match nobody create their customer, all in
        one bulk insert. `make(row)` builds the new Cliente (default: from the identity alone).

        A row whose name is ambiguous (several customers it could be) gets None, or with `name_only` the
        customer that holds that name alone, without email or phone (created the first time): the line is kept
        and reported, and never given to one of the people with contacts at random.
        """
        pending_index = CustomerIndex(self.customers.ignored)
        new_customers: list[Cliente] = []
        resolved: list[int | None] = []
        pending_slot: list[int | None] = []
        self.ambiguous_rows = []
        for row in rows:
            identity = row.identity
            pk = self.customers.match(identity)
            slot = pending_index.match(identity) if pk is None else None
            if AMBIGUOUS in (pk, slot):
                if not name_only:
                    resolved.append(None)
                    pending_slot.append(None)
                    continue
                self.ambiguous_rows.append(row)
                identity = identity.name_only()
                pk = self.customers.bare.get(identity.name_key)
                slot = pending_index.bare.get(identity.name_key) if pk is None else None
            if pk is None and slot is None:
                slot = len(new_customers)
                new_customers.append(
                    make(row) if make and identity is row.identity else self.customers.new_customer(identity)
                )
                pending_index.add(slot, identity)
            resolved.append(pk)
            pending_slot.append(slot)
        if new_customers:
            Cliente.objects.bulk_create(new_customers)
            # The consent ledger starts with where the customer came from (Ley 21.719: consent must be provable).
            ConsentEvent.objects.bulk_create(
                [
                    ConsentEvent(
                        cliente_id=cliente.pk,
                        channel=ConsentEvent.Channel.EMAIL,
                        granted=cliente.acepta_marketing,
                        source=ConsentEvent.Source.IMPORT,
                        text=ConsentEvent.IMPORT_TEXT,
                        created_by=self.run.created_by,
                    )
                    for cliente in new_customers
                ],
                batch_size=1000,
            )
            for cliente in new_customers:
                self.customers.add(cliente.pk, Identity(cliente.nombre, cliente.email, cliente.telefono))
            self.summary.customers_created += len(new_customers)
        return [
            pk if pk is not None else new_customers[slot].pk if slot is not None else None
            for pk, slot in zip(resolved, pending_slot, strict=True)
        ]

    def reject_ambiguous(self, row) -> None:
        self.reject(
            row.line,
            row.cells,
            f"nombre ambiguo: hay varios clientes «{row.identity.name}» y la fila no tiene un email ni un teléfono "
            "propio que diga cuál es (no se importó; corrígela y vuelve a importar)",
        )

    def observe_ambiguous(self, row) -> None:
        self.summary.ambiguous += 1
        self.observe(
            row.line,
            row.cells,
            f"nombre ambiguo: hay varios clientes «{row.identity.name}» y la fila no tiene un email ni un teléfono "
            "propio que diga cuál es; quedó en el cliente con ese nombre sin email ni teléfono (revísala)",
        )

    def finish(self) -> None:
        """Work after the last batch."""

    def after_failure(self) -> None:
        """Work after an error stopped the import (the batches written before it stay committed)."""


def _history_line_facts(table: Table) -> Callable:
    """cells -> the facts of a history line (lines.py) that `_HistoryImporter.count_known` counts: the same
    rules as `_HistoryImporter.service_date` and `parse` apply to a line they read."""
    get = table.get
    placeholder = settings.HISTORY_PLACEHOLDER_DATE
    parse = lru_cache(maxsize=8192, typed=True)(parse_date)

    def facts(cells) -> int:
        try:
            day = parse(get(cells, "checkin"))
        except CellError:
            day = None
        found = UNDATED if day is None else PLACEHOLDER if day == placeholder else 0
        return found | BLANK_AMOUNT if cell_text(get(cells, "valor")) == "" else found

    return facts


@dataclass(slots=True)
class _HistoryRow:
    line: int
    identity: Identity
    key: int
    values: tuple | None  # writers.HISTORY_FIELDS without cliente_id; None: known to be stored (lines.py)
    cells: list
    digest: int | None  # of the cells as written (lines.py)
    # With values None: (the history row it created, its customer when the import began), None without a row.
    stored: tuple[int, int] | None = None
    text: str | None = None  # the values as the writer takes them (writers.values_text), made in the parsing thread
    base: bytes | None = None  # a new line's natural key text; `key` is then its digest until `assign_keys`


def _occurrence_key(first: int, base: bytes, occurrence: int) -> int:
    """The natural key of the `occurrence`-th line (0: the first) with the key text `base` in one file."""
    return digest64(base + b"#%d" % occurrence) if occurrence else first


class _HistoryImporter(_Importer):
    kind = ImportRun.Kind.HISTORY
    identity_columns = ("cliente", "mail", "telefono")
    KNOWN_COLUMNS = ("mail", "telefono", "checkin", "valor")  # what `imported_before` reads
    PARSED_COLUMNS = ("servicio", "valor", "cantidad", "reserva", "checkin", "categoria")
    line_facts = staticmethod(_history_line_facts)

    @staticmethod
    def known_lines_lookup() -> bool:
        """False while no stored line has a digest (a first import): nothing to look up."""
        return ImportedRow.objects.filter(source=ImportRun.Kind.HISTORY, line_hash__isnull=False).exists()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.catalog = ServiceCatalog.load()
        self.placeholder = settings.HISTORY_PLACEHOLDER_DATE
        self.writer = history_writer()
        self.values_text = self.writer.values_text
        # No line stored when this import began (it holds the one-import lock): every key it writes is new, so the
        # batches skip the duplicate lookup (natural keys are distinct within a file, see `assign_keys`).
        self.nothing_stored = not ImportedRow.objects.filter(source=self.kind).exists()
        self.known_cells = self.table.picker(*self.KNOWN_COLUMNS)  # what `imported_before` reads of a line
        self.parse_cells = self.table.picker(*self.PARSED_COLUMNS)  # what `parse` reads besides the identity
        # The file's lines stored by earlier imports, found by their digest in one query (lines.py). Those with
        # nothing to check or observe are counted from the first pass; `imported_before` takes the others.
        if self.first_pass is not None:
            if self.known.count:
                dropped = [self.contacts.dropped(email, phone) for _, email, phone in self.first_pass.identities]
                self.known.count_lines(dropped, self.settled_customers(dropped))
            self.first_pass.identities = None  # only the rule above needed them
        # Natural keys and their occurrences in the file are counted in the database (`assign_keys`); the filter
        # tells which may have been given before, so most batches ask it nothing.
        self.keys = self.known.table
        self.keys_seen = SeenDigests()
        self.learner = CatalogueLearner(self.placeholder)
        self.moved_from: set[int] = set()  # customers that lost re-attributed lines
        # Amounts, quantities and dates repeat through a file: each distinct cell is parsed once. `typed`, so the
        # .xlsx number 1.0 and the text "1" keep their own results; errors are not cached (raised every time).
        self.parse_amount = lru_cache(maxsize=8192, typed=True)(parse_amount)
        self.parse_quantity = lru_cache(maxsize=1024, typed=True)(parse_quantity)
        self.parse_date = lru_cache(maxsize=8192, typed=True)(parse_date)
        # What the summaries must recompute (crm.services.summaries), refreshed once after the last batch rather
        # than after each one: a batch touches most customers and months, so per-batch refreshes made the
        # import quadratic. A few bytes per customer and per day: memory stays flat.
        self.touched_customers: set[int] = set()
        self.touched_dates: set[datetime.date] | None = set()  # None: every month of those customers

    def settled_customers(self, dropped: list[bool]) -> list[int]:
        """By identity index, for the identities with a contact that identifies nobody: the customer their
        stored lines are checked against (`write_batch`) when nothing this import does can change that answer;
        0 when it may (or for the other identities).

        Only a customer created by this import can change what an identity matches (the index is only added
        to, and `setdefault` keeps the first customer of a contact): so an identity is settled when it matches
        one customer now and shares no name, email or phone with an identity that may create one, that is with
        a new line's or with one that matches nobody or several customers now. Its stored lines that are on
        that customer are then counted without being read; the others are checked in file order as before.
        """
        identities = list(self.first_pass.identities)  # (name, email, phone) as written, by index
        touched: set[str] = set()

        def keys(identity: Identity) -> set[str]:
            return set(filter(None, (identity.name_key, identity.email, identity.phone)))

        def touch(identity: Identity) -> None:
            touched.update(keys(identity))

        for index in self.known.new:
            touch(self._make_identity(*identities[index]))
        answers = {}
        for index, is_dropped in enumerate(dropped):
            if not is_dropped:
                continue
            identity = self._make_identity(*identities[index])
            pk = None if identity.is_empty() else self.customers.match(identity)
            if pk is None or pk == AMBIGUOUS:
                touch(identity)
            else:
                answers[index] = (pk, identity)
        settled = [0] * len(identities)
        for index, (pk, identity) in answers.items():
            if touched.isdisjoint(keys(identity)):
                settled[index] = pk
        return settled

    def count_known(self, start: int, count: int, chunk: "_Chunk") -> None:
        placeholder, blank = self.known.run_facts.pop(start)
        chunk.rows_read += count
        chunk.duplicates += count
        chunk.placeholder_dates += placeholder
        chunk.blank_amounts += blank

    def imported_before(self, ordinal: int, line: int, cells, chunk: "_Chunk") -> bool:
        """A line stored by an earlier import is a duplicate known without parsing it (lines.py); its date and
        amount are counted and observed as `parse` would. When a contact of it identifies nobody now, its
        customer is checked again (`write_batch`): it goes to the writer with its identity and stored key only."""
        if not (key := self.known.stored_key(ordinal)):
            return False
        email, phone, raw_date, raw_amount = self.known_cells(cells)
        recheck = self.contacts.dropped(email, phone)
        if recheck and (identity := self.identity(cells)).is_empty():
            return False  # rejected by `parse` ("sin datos del cliente")
        self.service_date(line, cells, chunk, raw_date)
        if cell_text(raw_amount) == "":
            chunk.blank_amounts += 1
        if recheck:
            history_id = self.known.history_id(ordinal)
            stored = (history_id, self.known.customer(ordinal)) if history_id else None
            chunk.rows.append(
                _HistoryRow(line=line, identity=identity, key=key, values=None, cells=cells, digest=None, stored=stored)
            )
        else:
            chunk.duplicates += 1
        return True

    def parse(self, line: int, ordinal: int, cells, chunk: "_Chunk") -> _HistoryRow:
        raw_service, raw_amount, raw_quantity, raw_reserva, raw_date, raw_category = self.parse_cells(cells)
        raw_service = cell_text(raw_service)
        if not raw_service:
            raise CellError("sin servicio")
        if reason := void_reason(raw_service):
            raise CellError(reason)
        identity = self.identity(cells)
        if identity.is_empty():
            raise CellError("sin datos del cliente: falta nombre, email y teléfono")
        amount = self.parse_amount(raw_amount)
        quantity = self.parse_quantity(raw_quantity)
        reserva = cell_text(raw_reserva) or None
        if reserva and len(reserva) > 50:
            raise CellError(f"reserva demasiado larga: «{reserva[:60]}…»")
        service_date = self.service_date(line, cells, chunk, raw_date)
        if cell_text(raw_amount) == "":
            chunk.blank_amounts += 1
        service_name = self.catalog.clean(raw_service)
        category = categorize(service_name, cell_text(raw_category))
        self.learner.add(service_name, category, service_date, amount, quantity)
        values = (reserva, category, service_name, service_date, quantity, amount, season_of(service_date))
        values += (service_date.year,)
        # A line stored before keeps the key it was stored under; a new one gets its natural key from the writer
        # (`assign_keys`), which counts the occurrences of each: here only the key's text and its first digest.
        base = None
        if not (key := self.known.stored_key(ordinal)):
            key_name = cached_search_key(self.catalog.key_name(raw_service))
            parts = [self.kind, identity.natural_key, service_date.isoformat(), key_name]
            base = "|".join([*parts, str(amount), str(quantity), reserva or ""]).encode()
            key = digest64(base)
        return _HistoryRow(
            line=line,
            identity=identity,
            key=key,
            values=values,
            cells=cells,
            digest=self.known.digest(ordinal),
            text=self.values_text(values),
            base=base,
        )

    def service_date(self, line: int, cells, chunk: "_Chunk", raw_date) -> datetime.date:
        """The line's date; a blank or impossible one is counted, observed and replaced by the placeholder day."""
        try:
            service_date = self.parse_date(raw_date)
            problem = "sin fecha" if service_date is None else ""
        except CellError as exc:
            service_date, problem = None, str(exc)
        if service_date is None:
            try:
                year = parse_year(self.table.get(cells, "Año"))
            except CellError:
                year = None
            chunk.undated += 1
            note = f"{problem}{f' (año {year} en la columna Año)' if year else ''}"
            chunk.observe(line, cells, f"{note}: se guardó con la fecha provisoria {format_date(self.placeholder)}")
            return self.placeholder
        if service_date == self.placeholder:
            chunk.placeholder_dates += 1
        return service_date

    def assign_keys(self, rows: list[_HistoryRow]) -> None:
        """Give new lines (in file order) their natural key: the digest of the key's text (`base`) and of its
        occurrence among the file's lines with that text (identical services are distinct services), skipping the
        keys that lines of this file imported before hold (lines.py). The occurrences given so far are counted
        outside memory: in `ImportedRow` itself when nothing was stored before (`occurrences_written`), else in the
        import's temporary table (one query to read them, one to record them per batch). Only the keys that the
        fixed-size filter `keys_seen` may have seen are looked up, and each round of taken keys found (a rare
        case: the file holds a line imported before and a new one with the same natural key) costs one more."""
        if not rows:
            return
        firsts = np.array([row.key for row in rows], dtype=np.int64)  # each key's occurrence 0, from the parser
        distinct, repeats = np.unique(firsts, return_counts=True)
        maybe = distinct[self.keys_seen.seen(distinct)].tolist()
        if not maybe:
            used = {}
        elif self.nothing_stored:
            used = self.occurrences_written(maybe, {row.key: row.base for row in rows})
        else:
            used = self.keys.key_counts(maybe)
        # Most lines are the first with their key and take it as it is (`row.key` already); the others are
        # numbered in file order, and with lines imported before in the file, every key is checked.
        if self.known.count:
            numbered = rows
        else:
            again = {*used, *distinct[repeats > 1].tolist()}
            numbered = [row for row in rows if row.key in again] if again else []
        firsts = [row.key for row in numbered]
        taken: set[int] = set()
        checked: set[int] = set()
        counts = dict(used)
        while numbered:
            counts = dict(used)
            for row, first in zip(numbered, firsts, strict=True):
                occurrence = counts.get(first, 0)
                key = _occurrence_key(first, row.base, occurrence)
                while key in taken:
                    occurrence += 1
                    key = _occurrence_key(first, row.base, occurrence)
                counts[first] = occurrence + 1
                row.key = key
            if not self.known.count or not (unchecked := {row.key for row in numbered} - checked):
                break
            checked |= unchecked
            if not (found := self.keys.taken(unchecked)):
                break
            taken |= found
        if not self.nothing_stored:
            self.keys.record_counts(
                {first: counts.get(first, 1) for first in distinct.tolist() if first not in used},
                {first: counts[first] for first in used},
            )
        self.keys_seen.add(distinct)

    def occurrences_written(self, firsts: list[int], bases: dict[int, bytes]) -> dict[int, int]:
        """first digest -> occurrences of that natural key given so far, when nothing was stored before this
        import: then every key it gave is in `ImportedRow` (none was a duplicate, none was taken), so the count is
        how many of the key's occurrences are there, found in a round of lookups per occurrence."""
        counts, asking = {}, dict.fromkeys(firsts, 0)
        while asking:
            candidates = {_occurrence_key(first, bases[first], n): first for first, n in asking.items()}
            found = self.writer.imported(list(candidates))[0]
            asking = {first: asking[first] + 1 for key, first in candidates.items() if key in found}
            counts.update(asking)
        return counts

    def write_batch(self, batch: list[_HistoryRow]) -> None:
        self.assign_keys([row for row in batch if row.base is not None])
        # key -> history id of the keys imported before, and those stored without a line digest (one query for
        # the parsed lines; those known from their digest came with their history row)
        if self.nothing_stored:
            known, undigested = {}, set()
        else:
            known, undigested = self.writer.imported([row.key for row in batch if row.values is not None])
        known.update((row.key, row.stored[0] if row.stored else None) for row in batch if row.values is None)
        new = [row for row in batch if row.key not in known and row.values is not None]
        self.summary.duplicates += len(batch) - len(new)
        if undigested:  # stored before lines had digests: the next re-import will know them without parsing
            self.writer.fill_digests([(row.key, row.digest) for row in batch if row.key in undigested and row.digest])
        # Lines imported before are matched again only when a contact of theirs no longer identifies anybody
        # (shared, house, junk): only through such a contact can an earlier rule have merged them into
        # somebody else. Other lines match exactly as before, so a plain re-import stays cheap.
        recheck = [row for row in batch if row.key in known and row.identity.raw_key and known[row.key]]
        cliente_ids = self.customer_ids(new + recheck, name_only=True)
        for row in self.ambiguous_rows:
            self.observe_ambiguous(row)
        moves = []
        if recheck:
            current = self.writer.customers_of([known[row.key] for row in recheck if row.values is not None])
            current.update(row.stored for row in recheck if row.stored)
            for row, pk in zip(recheck, cliente_ids[len(new) :], strict=True):
                before = current.get(known[row.key])
                if before is not None and before != pk:
                    moves.append((known[row.key], before, pk))
        new = list(zip(cliente_ids[: len(new)], new, strict=True))
        if moves:
            self.reattribute(moves)
            # Moved rows: both customers change, in months not known here (None: all of theirs).
            self.touched_customers.update(c for _, old, pk in moves for c in (old, pk))
            self.touched_dates = None
        if not new:
            return
        self.writer.insert_parsed(self.kind, self.run.pk, new)
        self.summary.imported += len(new)
        self.touched_customers.update(pk for pk, _ in new)
        if self.touched_dates is not None:
            self.touched_dates.update(row.values[HISTORY_DATE] for _, row in new)

    def announce_written(self) -> None:
        """`history_written` for every customer and month the batches changed (the summaries refresh them in
        the caller's transaction)."""
        if self.touched_customers:
            history_written.send(sender=ServiceHistory, cliente_ids=self.touched_customers, dates=self.touched_dates)
            self.touched_customers, self.touched_dates = set(), set()

    def reattribute(self, moves: list[tuple[int, int, int]]) -> None:
        """Give lines imported before (history id, customer now, customer chosen now) to the customer chosen
        now, in bulk updates."""
        self.moved_from.update(before for _, before, _ in moves)
        changed = [ServiceHistory(id=history_id, cliente_id=pk) for history_id, _, pk in moves]
        ServiceHistory.objects.bulk_update(changed, ["cliente"], batch_size=1000)
        self.summary.reattributed += len(changed)

    def finish(self) -> None:
        with transaction.atomic():
            self.announce_written()
            self.remove_shared_contacts()
            changes = self.learner.apply()
        self.summary.services_added = changes.added
        self.summary.services_updated = changes.updated

    def after_failure(self) -> None:
        """The committed batches still get their summaries refreshed; if that fails too (the database went
        away), the periodic `sync_legacy_changes` finds the new rows and the nightly rebuild the moved ones."""
        if self.summary.dry_run:
            return  # everything is rolled back anyway
        try:
            with transaction.atomic():
                self.announce_written()
        except Exception:
            logger.exception("Summaries not refreshed after the failed import %s", self.run.pk)

    def remove_shared_contacts(self) -> None:
        """A customer that held other people's lines (they were just re-attributed away from it) loses the
        shared, house or junk contact the old rule stored on it. Reads only those customers, in chunks."""
        moved = sorted(self.moved_from)
        fixed = []
        for start in range(0, len(moved), 5000):
            chunk = Cliente.objects.filter(pk__in=moved[start : start + 5000]).only("id", "nombre", "email", "telefono")
            for cliente in chunk:
                email = "" if self._not_own(cliente.email, is_junk_email) else cliente.email
                phone = None if self._not_own(normalize_phone(cliente.telefono), is_junk_phone) else cliente.telefono
                if (email, phone) != (cliente.email, cliente.telefono):
                    cliente.email, cliente.telefono = email, phone
                    cliente.busqueda = Cliente.search_text(cliente.nombre, cliente.email)
                    fixed.append(cliente)
        Cliente.objects.bulk_update(fixed, ["email", "telefono", "busqueda"], batch_size=1000)
        self.summary.contacts_removed += len(fixed)

    def _not_own(self, contact: str | None, is_junk) -> bool:
        contact = (contact or "").strip().lower()
        return bool(contact) and (contact in self.ignored or is_junk(contact))


@dataclass(slots=True)
class _ClientRow:
    line: int
    identity: Identity
    documento: str
    created_at: datetime.datetime | None
    cells: list


class _ClientImporter(_Importer):
    kind = ImportRun.Kind.CLIENTS
    identity_columns = ("Client", "Email", "Telefono")

    def parse(self, line: int, ordinal: int, cells, chunk: "_Chunk") -> _ClientRow:
        get = self.table.get
        raw_email, raw_phone = cell_text(get(cells, "Email")), cell_text(get(cells, "Telefono"))
        identity = self.identity(cells)
        if identity.is_empty():
            raise CellError("sin datos del cliente: falta nombre, email y teléfono")
        notes = []
        if raw_email and not identity.email and not is_junk_cell(raw_email):
            reason = "de relleno, compartido o de la empresa" if normalize_email(raw_email) else "no válido"
            notes.append(f"email {reason} «{raw_email}» (no se guardó)")
        if raw_phone and not identity.phone and not is_junk_cell(raw_phone):
            reason = "de relleno, compartido o de la empresa" if normalize_phone(raw_phone) else "no válido"
            notes.append(f"teléfono {reason} «{raw_phone}» (no se guardó)")
        documento = cell_text(get(cells, "Documento Identidad"))
        if documento and looks_like_rut(documento):
            if rut := normalize_rut(documento):
                documento = rut
            else:
                notes.append(f"RUT con dígito verificador incorrecto «{documento}» (no se guardó)")
                documento = ""
        created_at = _parse_created_on(get(cells, "Created On"))
        if notes:
            chunk.observe(line, cells, "; ".join(notes))
        return _ClientRow(line=line, identity=identity, documento=documento[:20], created_at=created_at, cells=cells)

    def _new_customer(self, row: _ClientRow) -> Cliente:
        cliente = self.customers.new_customer(row.identity)
        cliente.documento_identidad = row.documento
        cliente.created_at = row.created_at or timezone.now()
        return cliente

    def write_batch(self, batch: list[_ClientRow]) -> None:
        matched = {id(row): self.customers.match(row.identity) for row in batch}
        ambiguous = [row for row in batch if matched[id(row)] == AMBIGUOUS]
        for row in ambiguous:
            self.reject_ambiguous(row)
        batch = [row for row in batch if matched[id(row)] != AMBIGUOUS]
        existing = Cliente.objects.in_bulk({pk for pk in matched.values() if pk and pk != AMBIGUOUS})
        new_rows = [row for row in batch if matched[id(row)] is None]
        created_before = self.summary.customers_created
        ids = self.customer_ids(new_rows, make=self._new_customer)
        for row in (row for row, pk in zip(new_rows, ids, strict=True) if pk is None):
            self.reject_ambiguous(row)  # ambiguous among the customers created in this batch
        created = self.summary.customers_created - created_before
        # A second line for a customer created earlier in the file is a duplicate too.
        self.summary.imported += created
        self.summary.duplicates += len(batch) - created - ids.count(None)
        updated = set()
        for row in batch:
            cliente = existing.get(matched[id(row)])
            if cliente is None:
                continue
            changed = False
            if not cliente.email and row.identity.email and row.identity.email not in self.customers.by_email:
                cliente.email = row.identity.email
                self.customers.by_email[cliente.email] = cliente.pk
                changed = True
            if not cliente.telefono and row.identity.phone and not self.customers.phone_taken(row.identity.phone):
                cliente.telefono = row.identity.phone
                self.customers.by_phone[cliente.telefono] = cliente.pk
                changed = True
            if not cliente.documento_identidad and row.documento:
                cliente.documento_identidad = row.documento
                changed = True
            if changed:
                cliente.busqueda = Cliente.search_text(cliente.nombre, cliente.email)
                updated.add(cliente.pk)
        if updated:
            fields = ["email", "telefono", "documento_identidad", "busqueda"]
            Cliente.objects.bulk_update([existing[pk] for pk in updated], fields)
            self.summary.customers_updated += len(updated)


def _parse_created_on(value) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        text = cell_text(value)
        moment = parse_datetime(text) if text else None
        if moment is None:
            try:
                day = parse_date(value)
            except CellError:
                return None
            if day is None:
                return None
            moment = datetime.datetime.combine(day, datetime.time())
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


# Arbitrary constant identifying "an import is running" among PostgreSQL advisory locks.
IMPORT_LOCK_ID = 5_020_241


@contextmanager
def _one_import_at_a_time():
    """Two imports at once would both create the customers they do not find; the second one waits its turn.

    PostgreSQL only: SQLite (development) serialises writers anyway.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [IMPORT_LOCK_ID])
        if not cursor.fetchone()[0]:
            raise ImportFileError("Hay otra importación en curso: intente de nuevo cuando termine.")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [IMPORT_LOCK_ID])


class _Rollback(Exception):
    """Raised at the end of a dry run to undo everything it wrote."""


def _run_import(
    importer_class: type[_Importer],
    path: str | Path,
    *,
    dry_run: bool,
    report_path: str | Path | None,
    file_name: str | None,
    user,
    progress: Progress | None,
    batch_size: int,
    run: ImportRun | None = None,
    overlap: bool = True,
) -> ImportSummary:
    """Import one file; `run`: an ImportRun created beforehand (background imports), else one is created.
    `overlap`: parse in a background thread while the batches are written (False: all in one thread)."""
    started = time.perf_counter()
    # open_table raises ImportFileError (format, encoding, header) before anything is written.
    with (
        open_table(path, kind=importer_class.kind) as table,
        _one_import_at_a_time(),
        Report(report_path, table.header) as report,
    ):
        scan = scan_file(
            path,
            importer_class.kind,
            importer_class.identity_columns,
            facts=importer_class.line_facts,
            lookup=importer_class.known_lines_lookup(),
        )
        summary = ImportSummary(
            kind=table.kind, file_name=file_name or Path(path).name, encoding=table.encoding, dry_run=dry_run
        )
        try:
            if dry_run:
                try:
                    with transaction.atomic():
                        _execute(importer_class, table, summary, report, progress, batch_size, user, scan, run, overlap)
                        raise _Rollback
                except _Rollback:
                    summary.run_id = run.pk if run else None
            else:
                try:
                    _execute(importer_class, table, summary, report, progress, batch_size, user, scan, run, overlap)
                finally:
                    # Also after an unexpected database error: the batches committed so far stay recorded.
                    _finish(summary, started)
                if importer_class.kind == ImportRun.Kind.HISTORY:
                    _announce(summary)
        finally:
            scan.close()
    summary.seconds = time.perf_counter() - started
    summary.peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return summary


def _announce(summary: ImportSummary) -> None:
    """`history_imported` once the import is committed (receivers train the recommender, see signals.py)."""
    run = ImportRun.objects.get(pk=summary.run_id)
    transaction.on_commit(lambda: history_imported.send(sender=ImportRun, run=run, summary=summary))


def _finish(summary: ImportSummary, started: float) -> None:
    summary.seconds = time.perf_counter() - started
    if summary.run_id:
        ImportRun.objects.filter(pk=summary.run_id).update(
            rows_read=summary.rows_read,
            imported=summary.imported,
            duplicates=summary.duplicates,
            rejected=summary.rejected,
            flagged=summary.flagged,
            customers_created=summary.customers_created,
            shared_contacts=len(summary.shared_contacts),
            services_added=summary.services_added,
            seconds=summary.seconds,
        )


def _execute(importer_class, table, summary, report, progress, batch_size, user, scan, run=None, overlap=True) -> None:
    if run is None:
        run = ImportRun.objects.create(
            kind=importer_class.kind, file_name=summary.file_name[:255], created_by=user if user else None
        )
    summary.run_id = run.pk
    importer = importer_class(table, summary, report, progress, batch_size, run, scan, overlap=overlap)
    try:
        importer.run_all()
    except BaseException:
        importer.after_failure()
        raise
    importer.finish()


def import_history(
    path: str | Path,
    *,
    dry_run: bool = False,
    report_path: str | Path | None = None,
    file_name: str | None = None,
    user=None,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
    overlap: bool = True,
) -> ImportSummary:
    """Import a service-history export (`cliente,servicio,cantidad,valor,reserva,checkin,…`).

    Returns the summary; writes rejected and observed lines to `report_path` when given. Raises
    `ImportFileError` (nothing changed) when the file cannot be read or its header is not a history export.
    """
    return _run_import(
        _HistoryImporter,
        path,
        dry_run=dry_run,
        report_path=report_path,
        file_name=file_name,
        user=user,
        progress=progress,
        batch_size=batch_size,
        overlap=overlap,
    )


def import_clients(
    path: str | Path,
    *,
    dry_run: bool = False,
    report_path: str | Path | None = None,
    file_name: str | None = None,
    user=None,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
    overlap: bool = True,
) -> ImportSummary:
    """Import a clients export (`Auto Increment,Record ID,Created On,Email,Telefono,…`).

    New customers are created; lines matching an existing customer (email, phone, then name) count as
    duplicates and only fill that customer's blank email, phone or RUT. Same errors and report as history.
    """
    return _run_import(
        _ClientImporter,
        path,
        dry_run=dry_run,
        report_path=report_path,
        file_name=file_name,
        user=user,
        progress=progress,
        batch_size=batch_size,
        overlap=overlap,
    )


IMPORTERS = {ImportRun.Kind.HISTORY: import_history, ImportRun.Kind.CLIENTS: import_clients}
REPORT_PREVIEW_LINES = 100


@dataclass
class UploadResult:
    summary: ImportSummary
    run: ImportRun | None
    preview_header: list[str]
    preview: list[list[str]]  # first lines of the report, for the admin page


def import_uploaded_file(upload, *, kind: str, dry_run: bool, user) -> UploadResult:
    """Import a file uploaded from the admin: same rules and summary as the commands.

    The upload is copied to a temporary file (the readers need a path to sniff and stream it); the report is
    stored with the `ImportRun` (real imports only: a dry run changes nothing) and its first lines returned.
    Raises `ImportFileError` when the file cannot be read. Uploads above `IMPORT_INLINE_MAX_BYTES` go to
    `queue_uploaded_file` instead (see below).
    """
    with tempfile.TemporaryDirectory(prefix="aremko-import-") as tmp:
        source = Path(tmp) / "archivo"
        with source.open("wb") as handle:
            for chunk in upload.chunks():
                handle.write(chunk)
        report_path = Path(tmp) / "reporte.csv"
        file_name = _upload_name(upload)
        summary = IMPORTERS[kind](source, dry_run=dry_run, report_path=report_path, file_name=file_name, user=user)
        with report_path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            preview_header = next(reader, [])
            preview = [row for _, row in zip(range(REPORT_PREVIEW_LINES), reader, strict=False)]
        run = None
        if summary.run_id:
            run = ImportRun.objects.get(pk=summary.run_id)
            with report_path.open("rb") as handle:
                run.report.save(f"reporte-{run.pk}.csv", File(handle), save=True)
    return UploadResult(summary=summary, run=run, preview_header=preview_header, preview=preview)


# Uploads too big to import while the browser waits: a background task (ventas/tasks.py) -------------------------


def _upload_name(upload) -> str:
    """The browser-sent file name, without the control characters PostgreSQL text refuses (NUL)."""
    return "".join(ch for ch in str(upload.name or "archivo") if ch >= " ")[:255] or "archivo"


def is_large_upload(upload) -> bool:
    return upload.size > settings.IMPORT_INLINE_MAX_BYTES


def queue_uploaded_file(upload, *, kind: str, dry_run: bool, user, enqueue: Callable[[int], object]) -> ImportRun:
    """Keep the upload under MEDIA_ROOT, record a queued `ImportRun` and hand its id to `enqueue` (the import
    task's `.enqueue`), after the commit so the worker finds the run. Returns the run, for its status page."""
    with transaction.atomic():
        run = ImportRun.objects.create(
            kind=kind,
            file_name=_upload_name(upload),
            created_by=user,
            status=ImportRun.Status.QUEUED,
            dry_run=dry_run,
        )
        run.source.save(f"importacion-{run.pk}", upload, save=True)
        transaction.on_commit(lambda: enqueue(run.pk))
    return run


def _importer_classes() -> dict[str, type[_Importer]]:
    return {importer.kind: importer for importer in _Importer.__subclasses__()}


def run_queued_import(run_id: int, *, batch_size: int = BATCH_SIZE) -> str:
    """Import the file kept for a queued run: same rules, summary and report as `import_history`/`import_clients`,
    with `rows_read` and the counts saved after every batch so the status page shows progress.

    Claims the run with a conditional update (queued → running), so a task delivered twice imports once. Ends
    done (summary and report stored) or failed (`error` says why in Spanish); the uploaded copy is deleted
    either way. Returns the final status.
    """
    queued = ImportRun.objects.filter(pk=run_id, status=ImportRun.Status.QUEUED)
    # A dry run cannot renew its lease (its writes, the renewals too, are rolled back): it gets six at once.
    lease = 6 * import_lease() if queued.filter(dry_run=True).exists() else import_lease()
    if not queued.update(
        status=ImportRun.Status.RUNNING, attempts=F("attempts") + 1, lease_expires_at=timezone.now() + lease
    ):
        return ImportRun.objects.filter(pk=run_id).values_list("status", flat=True).first() or ""
    run = ImportRun.objects.get(pk=run_id)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="aremko-import-") as tmp:
            report_path = Path(tmp) / "reporte.csv"
            summary = _import_for_run(run, report_path, batch_size)
            run.status = ImportRun.Status.DONE
            run.summary = summary.lines()
            if summary.rows_read or summary.rejected:
                with report_path.open("rb") as handle:
                    run.report.save(f"reporte-{run.pk}.csv", File(handle), save=False)
    except ImportFileError as exc:
        run.status, run.error = ImportRun.Status.FAILED, f"No se importó nada: {exc}"
    except Exception as exc:
        logger.exception("Background import %s failed", run.pk)
        run.status = ImportRun.Status.FAILED
        run.error = f"La importación se detuvo por un error inesperado ({type(exc).__name__}); lo ya importado queda."
        run.refresh_from_db(fields=["rows_read", "imported", "duplicates", "rejected", "flagged", "customers_created"])
    run.seconds = time.perf_counter() - started
    run.finished_at = timezone.now()
    run.lease_expires_at = None
    run.source.delete(save=False)
    run.save()
    return run.status


def _import_for_run(run: ImportRun, report_path: Path, batch_size: int) -> ImportSummary:
    """`_run_import` for a run that already exists (the status page follows it), saving counts after each batch."""

    def progress(summary: ImportSummary) -> None:
        if not summary.dry_run:  # a dry run's updates would only be rolled back with it
            _save_counts(run.pk, summary)

    summary = _run_import(
        _importer_classes()[run.kind],
        run.source.path,
        dry_run=run.dry_run,
        report_path=report_path,
        file_name=run.file_name,
        user=None,
        progress=progress,
        batch_size=batch_size,
        run=run,
    )
    _save_counts(run.pk, summary)
    run.refresh_from_db(fields=["rows_read", "imported", "duplicates", "rejected", "flagged", "customers_created"])
    return summary


def import_lease() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.IMPORT_LEASE_SECONDS)


def lease_deadline() -> datetime.datetime:
    return timezone.now() + import_lease()


def _save_counts(run_id: int, summary: ImportSummary) -> None:
    """Progress of a background run after each batch; it also renews the run's lease (the worker is alive)."""
    ImportRun.objects.filter(pk=run_id).update(
        lease_expires_at=lease_deadline(),
        rows_read=summary.rows_read,
        imported=summary.imported,
        duplicates=summary.duplicates,
        rejected=summary.rejected,
        flagged=summary.flagged,
        customers_created=summary.customers_created,
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


def safe_report_lines(run: ImportRun) -> Iterator[str]:
    """The stored report as CSV text, every cell through `csv_safe` again: reports saved before that rule
    (issue 10) reach staff defused too. Streams; the file closes when the response ends."""
    writer = csv.writer(_Echo())
    with run.report.open("rb") as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
        yield "\ufeff"  # BOM, so Excel reads the accents as UTF-8
        for row in csv.reader(text):
            yield writer.writerow([csv_safe(cell) for cell in row])
