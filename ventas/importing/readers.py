"""Streaming readers for the legacy exports: CSV (UTF-8, UTF-8 with BOM, Latin-1/Windows-1252) and .xlsx.

`open_table(path)` checks the file before anything is written: its format, its encoding and its header. A file
that fails those checks raises `ImportFileError` with a Spanish message; after that, rows stream one by one and
memory stays flat whatever the size of the file.

Hostile files (issue 10) are refused before their rows are read, by `ImportLimits`:
- .xlsx: the archive's declared uncompressed size, the size of the parts a reader holds whole in memory (shared
  strings, styles, a sheet without a declared size), the sheet's declared dimension (rows and columns) and the
  length of the longest shared string. Python's zipfile never inflates a member past its declared size (the
  CRC check fails instead), so the declared sizes are a safe bound. Rows past the row limit are not read.
- CSV: a file that is not UTF-8 must read as plausible Spanish text in Windows-1252; otherwise (Shift-JIS,
  Cyrillic…) it is refused, naming the encoding charset-normalizer detects. A file mixing UTF-8 and Latin-1
  lines, or wholly encoded twice (`JosÃ©`), is refused with the line where it happens.
- Per line: a NUL byte or a double-encoded name (`JosÃ©`) rejects that line only (`UnreadableLine`), with the
  reason in the report; the rest of the file imports and the counts still add up.
"""

import codecs
import csv
import re
import zipfile
import zlib
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import accumulate, islice
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as parse_xml

from ventas.formatting import format_number
from ventas.normalize import search_key


class ImportFileError(Exception):
    """The file cannot be imported at all (format, encoding, header); nothing was changed."""


CLIENT_COLUMNS = [
    "Auto Increment",
    "Record ID",
    "Created On",
    "Email",
    "Telefono",
    "Reservas",
    "Client",
    "Documento Identidad",
    "Direccion",
    "voucher",
]
HISTORY_COLUMNS = [
    "cliente",
    "servicio",
    "cantidad",
    "valor",
    "reserva",
    "checkin",
    "categoria",
    "Año",
    "hora",
    "mail",
    "telefono",
]
# The columns without which a row cannot be imported; the others may be missing from a file.
REQUIRED = {
    "clientes": {"client", "email", "telefono"},
    "historial": {"cliente", "servicio", "valor", "checkin", "categoria", "mail", "telefono"},
}
EXPECTED = {"clientes": CLIENT_COLUMNS, "historial": HISTORY_COLUMNS}

_SNIFF_BYTES = 1 << 16
_CHUNK = 1 << 20
_MB = 1 << 20


@dataclass(frozen=True)
class ImportLimits:
    """What a file may hold before it is refused unread; `from_settings()` reads the IMPORT_* settings."""

    xlsx_max_uncompressed_bytes: int = 512 * _MB
    xlsx_max_part_bytes: int = 64 * _MB
    xlsx_max_rows: int = 1_048_576
    xlsx_max_columns: int = 100
    max_cell_chars: int = 32_767  # Excel's own limit for one cell

    @classmethod
    def from_settings(cls) -> "ImportLimits":
        from django.conf import settings

        defaults = cls()
        if not settings.configured:
            return defaults
        return cls(
            xlsx_max_uncompressed_bytes=getattr(
                settings, "IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES", defaults.xlsx_max_uncompressed_bytes
            ),
            xlsx_max_part_bytes=getattr(settings, "IMPORT_XLSX_MAX_PART_BYTES", defaults.xlsx_max_part_bytes),
            xlsx_max_rows=getattr(settings, "IMPORT_XLSX_MAX_ROWS", defaults.xlsx_max_rows),
            xlsx_max_columns=getattr(settings, "IMPORT_XLSX_MAX_COLUMNS", defaults.xlsx_max_columns),
            max_cell_chars=getattr(settings, "IMPORT_MAX_CELL_CHARS", defaults.max_cell_chars),
        )


def column_key(name) -> str:
    """Header cells compared without case, accents or spaces: `Año` == `ano`, `Created On` == `createdon`."""
    return search_key(str(name or "")).replace(" ", "").replace("_", "")


@dataclass
class Table:
    """An open export: its kind, the position of each known column and a stream of (line, cells)."""

    kind: str
    columns: dict[str, int]
    encoding: str
    rows: Iterator[tuple[int, list]] = field(repr=False)
    header: list[str] = field(default_factory=list)
    close: Callable[[], None] = field(default=lambda: None, repr=False)
    # The physical lines of each line read so far that took more or fewer than one (CSV: a quoted cell holding
    # line breaks), by ordinal; and `skipping(runs, spans)`, the rows with the runs of lines given as (first
    # ordinal, count) each yielded as one `Skipped` (CSV: passed over unparsed, see `_open_csv`; .xlsx: read and
    # dropped).
    spans: dict[int, int] | None = field(default=None, repr=False)
    skipping: Callable[[Iterator[tuple[int, int]], dict[int, int]], Iterator[tuple[int, object]]] | None = field(
        default=None, repr=False
    )

    def __enter__(self) -> "Table":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def get(self, cells: list, column: str):
        index = self.columns.get(column)
        if index is None or index >= len(cells):
            return None
        return cells[index]

    def picker(self, *columns: str) -> Callable[[list], tuple]:
        """cells -> the values of `columns` (None where a line or the file lacks one): one C call on the lines that
        hold every column, which is nearly all of them (the importers call it for every line)."""
        get = self.get

        def each(cells) -> tuple:
            return tuple(get(cells, column) for column in columns)

        indexes = [self.columns.get(column) for column in columns]
        if None in indexes or len(indexes) < 2:  # itemgetter of one index gives a value, not a tuple
            return each
        pick, last = itemgetter(*indexes), max(indexes)
        return lambda cells: pick(cells) if len(cells) > last else each(cells)


def detect_kind(header: list) -> str | None:
    keys = {column_key(cell) for cell in header if cell not in (None, "")}
    for kind, required in REQUIRED.items():
        if {column_key(c) for c in required} <= keys:
            return kind
    return None


def open_table(path: str | Path, kind: str | None = None, limits: ImportLimits | None = None) -> Table:
    """Open a CSV or .xlsx export and check its header; `kind` ("clientes"/"historial") or None to detect it."""
    path = Path(path)
    limits = limits or ImportLimits.from_settings()
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise ImportFileError(f"No se pudo abrir el archivo: {exc.strerror or exc}.") from exc
    if not head.strip():
        raise ImportFileError("El archivo está vacío.")
    spans = skipping = None
    if head.startswith(b"PK\x03\x04"):
        header, rows, encoding, close = _open_xlsx(path, limits)
        spans, skipping = {}, partial(_skipping_read_rows, rows)
    elif head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError("El formato .xls antiguo no se puede leer: guarda el archivo como .xlsx o CSV.")
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError(
            "El archivo está en UTF-16 («Texto Unicode» de Excel): guárdalo como «CSV UTF-8» y vuelve a subirlo."
        )
    elif _looks_binary(head):
        raise ImportFileError("El archivo no es un CSV ni una planilla .xlsx.")
    else:
        header, rows, encoding, close, spans, skipping = _open_csv(path, head, limits)
    found = detect_kind(header)
    if found is None or (kind is not None and found != kind):
        close()
        wanted = kind or "clientes o historial"
        expected = " / ".join(",".join(EXPECTED[k]) for k in ([kind] if kind else EXPECTED))
        shown = ",".join(str(c) for c in header if c not in (None, ""))[:200]
        raise ImportFileError(
            f"El encabezado no corresponde a una exportación de {wanted}. Se esperaba: {expected}. "
            f"Se encontró: {shown or '(vacío)'}."
        )
    columns = {}
    for index, cell in enumerate(header):
        key = column_key(cell)
        for name in EXPECTED[found]:
            if column_key(name) == key and name not in columns:
                columns[name] = index
    header = [str(cell or "") for cell in header]
    return Table(
        kind=found,
        columns=columns,
        encoding=encoding,
        rows=rows,
        header=header,
        close=close,
        spans=spans,
        skipping=skipping,
    )


def _looks_binary(head: bytes) -> bool:
    """PDF, images and other binaries; a stray NUL in a data line of a text file is that line's problem only."""
    if head.startswith(b"%PDF"):
        return True
    nuls = head.count(b"\x00")
    if not nuls:
        return False
    first_line = head.split(b"\n", 1)[0]
    return b"\x00" in first_line or nuls * 100 > len(head)


# Encodings -----------------------------------------------------------------------------------------------------
# UTF-8 of a Latin-1 letter (`é` = C3 A9) read as Windows-1252 and written again as UTF-8: `Ã©`, `Ã±`, `Ã³`…
# The first byte becomes Â or Ã; the second one of the characters cp1252 gives to the bytes 80–BF.
_CP1252_HIGH = bytes(range(0x80, 0xC0)).decode("cp1252", errors="ignore")
MOJIBAKE = re.compile(f"[ÂÃ][{re.escape(_CP1252_HIGH)}]")
_MOJIBAKE_BYTES = re.compile(b"|".join(re.escape((a + b).encode()) for a in "ÂÃ" for b in _CP1252_HIGH))
# A Latin-1 letter encoded in UTF-8 (C2/C3 then a continuation byte), as found in a file that is not UTF-8.
_UTF8_LATIN = re.compile(rb"[\xc2\xc3][\x80-\xbf]")
# Non-ASCII characters expected in Spanish-language exports read as Windows-1252; anything else (C1 controls,
# ƒ ˆ ‰ Š Œ Ž ¤ ¦ § ¨ ¬ ¯ µ ¶…) is what a file in another encoding (Shift-JIS, Cyrillic) turns into.
_SPANISH = "áéíóúüñÁÉÍÓÚÜÑ¡¿ºª°€“”‘’«»–—…•´·çÇàèìòùâêîôûäëïöÀÈÌÒÙÂÊÎÔÛÄËÏÖãõÃÕ\xa0©®½¼¾²³×±"
_NOT_SPANISH = re.compile(f"[^\x00-\x7f{_SPANISH}]")
_NON_ASCII = re.compile("[^\x00-\x7f]")
# Share of non-ASCII characters that may fall outside _SPANISH before a file is judged to be in another encoding.
_MAX_FOREIGN_SHARE = 0.05
_LATIN_FAMILY = ("cp1252", "latin_1", "iso8859_15", "iso8859_1", "cp1250", "iso8859_2", "cp850", "mac_roman")


def _line_of(path: Path, offset: int) -> int:
    """The 1-based line holding byte `offset` (physical lines: a CSV line unless a quoted cell spans lines)."""
    line, seen = 1, 0
    with path.open("rb") as handle:
        while seen < offset and (chunk := handle.read(min(_CHUNK, offset - seen))):
            line += chunk.count(b"\n")
            seen += len(chunk)
    return line


def _detect_encoding(path: Path, head: bytes) -> tuple[str, bool]:
    """UTF-8 (with or without BOM) when every byte decodes, else Windows-1252 (a superset of Latin-1's letters),
    provided the text is plausibly Spanish; refuses mixed, double-encoded and foreign-encoded files.

    Also says whether some line may need rejecting (a NUL, an `Ã`/`Â`): clean files skip the per-line watch.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, double_encoded, first_double, nul = 0, 0, None, False
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                decoder.decode(chunk)
                nul = nul or b"\x00" in chunk
                # `Ã` is C3 83 and `Â` C3 82: a one-byte search (memchr) is cheap, and only a chunk holding one of
                # those bytes (rare in Spanish, where accents are C3 A1, C3 B1…) is searched for mojibake.
                if b"\x83" in chunk or b"\x82" in chunk:
                    for match in _MOJIBAKE_BYTES.finditer(chunk):
                        double_encoded += 1
                        first_double = offset + match.start() if first_double is None else first_double
                offset += len(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        bad = offset + exc.start
        return _single_byte_encoding(path, bad), _has_nul(path)
    if double_encoded >= 3 and _mostly_double_encoded(path, double_encoded):
        line = _line_of(path, first_double)
        raise ImportFileError(
            f"El archivo está codificado dos veces (por ejemplo «JosÃ©» en vez de «José», línea {line}): "
            "ábrelo en el programa de origen, guárdalo como «CSV UTF-8» y vuelve a subirlo."
        )
    return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8", nul or bool(double_encoded)


def _has_nul(path: Path) -> bool:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            if b"\x00" in chunk:
                return True
    return False


def _mostly_double_encoded(path: Path, double_encoded: int) -> bool:
    """A few `Ã©` (or among correct accents) are bad lines, rejected one by one; mostly `Ã©` is a bad file."""
    correct = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            correct += len(_UTF8_LATIN.findall(chunk))
    # Each mojibake pair is itself two UTF-8 Latin letters: subtract them from the correct ones.
    correct -= 2 * double_encoded
    return double_encoded > correct


def _single_byte_encoding(path: Path, first_invalid: int) -> str:
    """Windows-1252 (or Latin-1 when cp1252 leaves a byte undefined) for a file that is not UTF-8."""
    utf8_at, foreign, non_ascii, first_foreign = None, 0, 0, None
    encoding = "cp1252"
    offset = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            if utf8_at is None and (match := _UTF8_LATIN.search(chunk)):
                utf8_at = offset + match.start()
            try:
                text = chunk.decode(encoding)
            except UnicodeDecodeError:
                encoding = "latin-1"  # bytes cp1252 leaves undefined (0x81, 0x8d…) are still Latin-1 controls
                text = chunk.decode(encoding)
            non_ascii += len(_NON_ASCII.findall(text))
            if match := _NOT_SPANISH.search(text):
                foreign += len(_NOT_SPANISH.findall(text))
                if first_foreign is None:
                    first_foreign = offset + match.start()  # single-byte: characters and bytes line up
            offset += len(chunk)
    if utf8_at is not None:
        raise ImportFileError(
            f"El archivo mezcla dos codificaciones: la línea {_line_of(path, utf8_at)} está en UTF-8 y la línea "
            f"{_line_of(path, first_invalid)} en Latin-1/Windows-1252. Guárdalo completo como «CSV UTF-8» y "
            "vuelve a subirlo."
        )
    if foreign >= 3 and foreign > non_ascii * _MAX_FOREIGN_SHARE:
        detected = _guess_encoding(path, first_foreign)
        named = f"parece estar en {detected}" if detected else "no está en UTF-8 ni en Latin-1"
        raise ImportFileError(
            f"El archivo {named} y no se lee como texto en español (primer carácter extraño en la línea "
            f"{_line_of(path, first_foreign)}). Guárdalo como «CSV UTF-8» y vuelve a subirlo."
        )
    return encoding


def _guess_encoding(path: Path, around: int) -> str | None:
    """charset-normalizer's best guess for a window of the file around the first odd character."""
    from charset_normalizer import from_bytes

    with path.open("rb") as handle:
        handle.seek(max(0, around - _SNIFF_BYTES // 2))
        sample = handle.read(_SNIFF_BYTES)
    best = from_bytes(sample).best()
    if best is None or best.encoding in _LATIN_FAMILY:
        return None
    language = f", {best.language.lower()}" if best.language and best.language != "Unknown" else ""
    return f"{best.encoding}{language}"


# CSV ---------------------------------------------------------------------------------------------------------
class _LineWatch:
    """Feeds the csv module and notes when a physical line holds a NUL or an `Ã`/`Â` (possible mojibake), so
    only those rows pay for a closer look."""

    __slots__ = ("handle", "suspect")

    def __init__(self, handle):
        self.handle = handle
        self.suspect = False

    def __iter__(self):
        for line in self.handle:
            if "\x00" in line or "Ã" in line or "Â" in line:
                self.suspect = True
            yield line


def line_problem(cells: list) -> str | None:
    """Why a line must be rejected though it split into cells: a NUL byte or a double-encoded text."""
    for cell in cells:
        if not isinstance(cell, str):
            continue
        if "\x00" in cell:
            return "contiene un carácter nulo (NUL): revisa la línea en el archivo original"
        if match := MOJIBAKE.search(cell):
            start = cell.rfind(" ", 0, match.start()) + 1
            end = cell.find(" ", match.end())
            word = cell[start : end if end != -1 else len(cell)][:40]
            return f"texto mal codificado «{word}» (por ejemplo «JosÃ©» por «José»): corrígelo y vuelve a importar"
    return None


def _open_csv(path: Path, head: bytes, limits: ImportLimits):
    encoding, suspect = _detect_encoding(path, head)
    first_line = head.decode(encoding, errors="replace").splitlines()[0] if head else ""
    delimiter = max([",", ";", "\t"], key=first_line.count)
    handle = path.open("r", encoding=encoding, newline="")
    watch = _LineWatch(handle if suspect else ())
    reader = csv.reader(watch if suspect else handle, delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        handle.close()
        raise ImportFileError("No se pudo leer el encabezado del CSV.") from exc
    if watch.suspect and (problem := line_problem(header)):
        handle.close()
        raise ImportFileError(f"El encabezado no se puede leer: {problem}.")
    watch.suspect = False

    spans: dict[int, int] = {}

    def rows(runs: Iterator[tuple[int, int]] | None = None, known_spans: dict[int, int] | None = None):
        line, ordinal, physical = 1, 0, reader.line_num
        runs = runs or iter(())
        skip_at, skip_count = next(runs, (-1, 0))
        extra = _ExtraLines(known_spans or {})
        try:
            while True:
                if ordinal == skip_at:
                    # A run of lines not wanted: their physical lines are passed over unparsed (in C).
                    lines = skip_count + extra.within(ordinal, ordinal + skip_count)
                    next(islice(handle, lines, lines), None)
                    watch.suspect = False
                    line, ordinal = line + skip_count, ordinal + skip_count
                    yield line, Skipped(skip_count)
                    skip_at, skip_count = next(runs, (-1, 0))
                    continue
                line += 1
                ordinal += 1
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    # A malformed line (field too large…): report it, keep reading the next one.
                    watch.suspect = False
                    physical = _note_span(spans, ordinal - 1, reader.line_num, physical)
                    yield line, UnreadableLine(f"no se pudo separar en columnas ({exc})")
                    continue
                physical = _note_span(spans, ordinal - 1, reader.line_num, physical)
                if watch.suspect:
                    watch.suspect = False
                    if problem := line_problem(cells):
                        yield line, UnreadableLine(problem)
                        continue
                yield line, cells
        finally:
            handle.close()

    def skipping(runs, known_spans):
        """The rows after the header, each run of `runs` ((first ordinal, count), in order) passed over unread."""
        return rows(iter(runs), known_spans)

    return header, rows(), encoding, handle.close, spans, skipping


def _note_span(spans: dict[int, int], ordinal: int, line_num: int, physical: int) -> int:
    """Note the physical lines of line `ordinal` when not one (the reader is at `line_num`, was at `physical`)."""
    if line_num - physical != 1:
        spans[ordinal] = line_num - physical
    return line_num


class _ExtraLines:
    """Physical lines beyond one per line in a range of ordinals, from the first pass's spans."""

    def __init__(self, spans: dict[int, int]):
        self.ordinals = sorted(spans)
        self.total = list(accumulate(spans[ordinal] - 1 for ordinal in self.ordinals))

    def within(self, start: int, end: int) -> int:
        if not self.ordinals:
            return 0
        first, last = bisect_left(self.ordinals, start), bisect_left(self.ordinals, end)
        if first == last:
            return 0
        return self.total[last - 1] - (self.total[first - 1] if first else 0)


def _skipping_read_rows(rows: Iterator, runs: Iterable[tuple[int, int]], spans: dict[int, int]) -> Iterator:
    """`Table.skipping` for a reader that cannot pass over lines unread: the runs' rows are read and dropped."""
    ordinal = 0
    for start, count in runs:
        yield from islice(rows, start - ordinal)
        last = deque(islice(rows, count), maxlen=1)  # read and dropped; the last one's line number is kept
        yield (last[0][0] if last else 0), Skipped(count)
        ordinal = start + count
    yield from rows


class Skipped(NamedTuple):
    """Yielded by `Table.skipping` for a run of lines passed over unread."""

    count: int


class UnreadableLine(NamedTuple):
    """Yielded instead of the cells of a line that cannot be imported as read; the importer rejects it."""

    message: str


# xlsx --------------------------------------------------------------------------------------------------------
_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"\$?([A-Z]{1,3})\$?(\d+)(?::\$?([A-Z]{1,3})\$?(\d+))?\"")
_SHEET_DATA = re.compile(rb"<(?:\w+:)?sheetData[\s/>]")
_MAX_MEMBERS = 10_000
_XLSX_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    ParseError,
    DefusedXmlException,
    KeyError,
    OSError,
    ValueError,
    TypeError,
)


def _mb(size: int) -> str:
    return f"{format_number(round(size / _MB))} MB"


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters.decode():
        number = number * 26 + ord(letter) - 64
    return number


def _check_xlsx(path: Path, limits: ImportLimits) -> None:
    """Refuse an .xlsx whose declared sizes exceed `limits`, reading only the zip directory and the first bytes
    of its sheets; raises ImportFileError."""
    too_big = "Si es una exportación real, divídela en varios archivos."
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > _MAX_MEMBERS:
                raise ImportFileError(
                    f"La planilla tiene {format_number(len(members))} partes internas: no es una exportación."
                )
            total = sum(member.file_size for member in members)
            if total > limits.xlsx_max_uncompressed_bytes:
                raise ImportFileError(
                    f"La planilla descomprimida ocuparía {_mb(total)} (máximo "
                    f"{_mb(limits.xlsx_max_uncompressed_bytes)}): no se leyó. {too_big}"
                )
            if (sheet := _first_sheet(archive)) and (dimension := _declared_dimension(archive, sheet)):
                _check_dimension(*dimension, limits)
            for member in members:
                if member.file_size <= limits.xlsx_max_part_bytes:
                    continue
                # The reader streams a sheet that declares its size; every other part it holds whole in memory
                # (shared strings, styles, and a sheet without <dimension>, parsed entirely to measure it).
                if member.filename.startswith("xl/worksheets/") and _declared_dimension(archive, member.filename):
                    continue
                raise ImportFileError(
                    f"La parte «{member.filename}» de la planilla ocuparía {_mb(member.file_size)} en memoria "
                    f"(máximo {_mb(limits.xlsx_max_part_bytes)}; una celda gigante o un archivo manipulado): "
                    f"no se leyó. {too_big}"
                )
    except zipfile.BadZipFile as exc:
        raise ImportFileError("El archivo .xlsx está dañado o no es una planilla de Excel.") from exc


def _first_sheet(archive: zipfile.ZipFile) -> str | None:
    """Path inside the archive of the workbook's first sheet (the one imported), or None when not found."""
    try:
        for part in ("xl/workbook.xml", "xl/_rels/workbook.xml.rels"):
            if archive.getinfo(part).file_size > 16 * _SNIFF_BYTES:
                return None
        workbook = parse_xml(archive.read("xl/workbook.xml"))
        first = workbook.find(f"{_MAIN_NS}sheets/{_MAIN_NS}sheet")
        rels = parse_xml(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ParseError, DefusedXmlException, zipfile.BadZipFile, zlib.error, EOFError, OSError):
        return None
    if first is None:
        return None
    rel_id = first.get(f"{_REL_NS}id")
    for rel in rels.iter(f"{_PKG_REL_NS}Relationship"):
        if rel.get("Id") == rel_id:
            target = rel.get("Target", "")
            return target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return None


def _declared_dimension(archive: zipfile.ZipFile, sheet: str) -> tuple[int, int, str] | None:
    """(rows, columns, range) from the sheet's `<dimension>`, read from its first bytes; None when it declares
    none (or cannot be read: openpyxl then reports the damage)."""
    try:
        with archive.open(sheet) as handle:
            head = handle.read(_SNIFF_BYTES)
    except (KeyError, zipfile.BadZipFile, zlib.error, EOFError, OSError):
        return None
    data = _SHEET_DATA.search(head)
    match = _DIMENSION.search(head, 0, data.start() if data else len(head))
    if match is None:
        return None
    first_col, first_row, last_col, last_row = match.groups()
    if last_col is None:
        last_col, last_row = first_col, first_row
    reference = f"{first_col.decode()}{first_row.decode()}:{last_col.decode()}{last_row.decode()}"
    return int(last_row), _column_number(last_col), reference


def _check_dimension(rows: int, columns: int, reference: str, limits: ImportLimits) -> None:
    if columns > limits.xlsx_max_columns or rows > limits.xlsx_max_rows:
        raise ImportFileError(
            f"La planilla declara {format_number(rows)} filas y {format_number(columns)} columnas ({reference}); "
            f"el máximo es {format_number(limits.xlsx_max_rows)} filas y {limits.xlsx_max_columns} columnas. "
            "No se leyó: revisa que la hoja no tenga celdas con formato hasta el final o divide el archivo."
        )


def _suspect(cells: list, limits: ImportLimits) -> bool:
    return any(isinstance(v, str) and (len(v) > limits.max_cell_chars or "Ã" in v or "Â" in v) for v in cells)


def _too_long(cells: list, limits: ImportLimits) -> str | None:
    longest = max((len(v) for v in cells if isinstance(v, str)), default=0)
    if longest > limits.max_cell_chars:
        return f"una celda tiene {format_number(longest)} caracteres (máximo {format_number(limits.max_cell_chars)})"
    return None


def _open_xlsx(path: Path, limits: ImportLimits):
    _check_xlsx(path, limits)
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    # A file object, not the path: openpyxl refuses paths without an .xlsx extension (admin uploads have none).
    handle = path.open("rb")
    try:
        workbook = load_workbook(handle, read_only=True, data_only=True)
    except (InvalidFileException, *_XLSX_READ_ERRORS) as exc:
        handle.close()
        raise ImportFileError("El archivo .xlsx está dañado o no es una planilla de Excel.") from exc

    def close():
        workbook.close()
        handle.close()

    if not workbook.worksheets:
        close()
        raise ImportFileError("La planilla no tiene hojas.")
    sheet = workbook.worksheets[0]
    try:
        # openpyxl read the declared size at load: the same check when the first sheet was not found above.
        if sheet.max_row and sheet.max_column:
            _check_dimension(sheet.max_row, sheet.max_column, sheet.calculate_dimension(), limits)
    except ImportFileError:
        close()
        raise
    longest = max(map(len, getattr(sheet, "_shared_strings", None) or [""]))
    if longest > limits.max_cell_chars:
        close()
        raise ImportFileError(
            f"La planilla tiene un texto de {format_number(longest)} caracteres en una celda (máximo "
            f"{format_number(limits.max_cell_chars)}): no se leyó."
        )
    # Rows come as written, not padded to a declared size that may be wrong (or hostile); cells right of the
    # header are not read.
    sheet.reset_dimensions()
    try:
        header = list(next(sheet.iter_rows(max_row=1, max_col=limits.xlsx_max_columns, values_only=True)))
    except StopIteration as exc:
        close()
        raise ImportFileError("La planilla está vacía.") from exc
    except _XLSX_READ_ERRORS as exc:
        close()
        raise ImportFileError("El archivo .xlsx está dañado o no es una planilla de Excel.") from exc
    while header and header[-1] in (None, ""):
        header.pop()
    width = max(len(header), 1)
    iterator = sheet.iter_rows(min_row=2, max_row=limits.xlsx_max_rows + 1, max_col=width, values_only=True)

    def rows():
        line = 1
        try:
            for line, values in enumerate(iterator, start=2):
                if line > limits.xlsx_max_rows:
                    limit = format_number(limits.xlsx_max_rows)
                    yield line, UnreadableLine(f"la planilla supera las {limit} filas: no se leyó")
                    return
                cells = list(values)
                # Inline strings (not in the shared table checked above) and double-encoded names.
                if _suspect(cells, limits) and (problem := line_problem(cells) or _too_long(cells, limits)):
                    yield line, UnreadableLine(problem)
                    continue
                yield line, cells
        except _XLSX_READ_ERRORS as exc:
            yield line + 1, UnreadableLine(f"la planilla está dañada desde aquí; el resto no se leyó ({exc})")
        finally:
            close()

    return header, rows(), "xlsx", close
