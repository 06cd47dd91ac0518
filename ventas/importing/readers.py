"""Streaming readers for the legacy exports: CSV (UTF-8, UTF-8 with BOM, Latin-1/Windows-1252) and .xlsx.

`open_table(path)` checks the file before anything is written: its format, its encoding and its header. A file
that fails those checks raises `ImportFileError` with a Spanish message; after that, rows stream one by one and
memory stays flat whatever the size of the file.
"""

import codecs
import csv
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

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

    def __enter__(self) -> "Table":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def get(self, cells: list, column: str):
        index = self.columns.get(column)
        if index is None or index >= len(cells):
            return None
        return cells[index]


def detect_kind(header: list) -> str | None:
    keys = {column_key(cell) for cell in header if cell not in (None, "")}
    for kind, required in REQUIRED.items():
        if {column_key(c) for c in required} <= keys:
            return kind
    return None


def open_table(path: str | Path, kind: str | None = None) -> Table:
    """Open a CSV or .xlsx export and check its header; `kind` ("clientes"/"historial") or None to detect it."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise ImportFileError(f"No se pudo abrir el archivo: {exc.strerror or exc}.") from exc
    if not head.strip():
        raise ImportFileError("El archivo está vacío.")
    if head.startswith(b"PK\x03\x04"):
        header, rows, encoding, close = _open_xlsx(path)
    elif head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError("El formato .xls antiguo no se puede leer: guarde el archivo como .xlsx o CSV.")
    elif b"\x00" in head or head.startswith(b"%PDF"):
        raise ImportFileError("El archivo no es un CSV ni una planilla .xlsx.")
    else:
        header, rows, encoding, close = _open_csv(path, head)
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
    return Table(kind=found, columns=columns, encoding=encoding, rows=rows, header=header, close=close)


def _detect_encoding(path: Path, head: bytes) -> str:
    """UTF-8 (with or without BOM) when every byte decodes, else Windows-1252 (a superset of Latin-1's letters)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        try:
            with path.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    chunk.decode("cp1252")
        except UnicodeDecodeError:
            return "latin-1"  # bytes cp1252 leaves undefined (0x81, 0x8d…) are still Latin-1 control chars
        return "cp1252"
    return "utf-8"


def _open_csv(path: Path, head: bytes):
    encoding = _detect_encoding(path, head)
    first_line = head.decode(encoding, errors="replace").splitlines()[0] if head else ""
    delimiter = max([",", ";", "\t"], key=first_line.count)
    handle = path.open("r", encoding=encoding, newline="")
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        handle.close()
        raise ImportFileError("No se pudo leer el encabezado del CSV.") from exc

    def rows():
        line = 1
        try:
            while True:
                line += 1
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    # A malformed line (stray NUL, field too large): report it, keep reading the next one.
                    yield line, UnreadableLine(f"no se pudo separar en columnas ({exc})")
                    continue
                yield line, cells
        finally:
            handle.close()

    return header, rows(), encoding, handle.close


class UnreadableLine(NamedTuple):
    """Yielded instead of the cells of a line the csv module could not split; the importer rejects it."""

    message: str


def _open_xlsx(path: Path):
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    # A file object, not the path: openpyxl refuses paths without an .xlsx extension (admin uploads have none).
    handle = path.open("rb")
    try:
        workbook = load_workbook(handle, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, TypeError) as exc:
        handle.close()
        raise ImportFileError("El archivo .xlsx está dañado o no es una planilla de Excel.") from exc

    def close():
        workbook.close()
        handle.close()

    if not workbook.worksheets:
        close()
        raise ImportFileError("La planilla no tiene hojas.")
    iterator = workbook.worksheets[0].iter_rows(values_only=True)
    try:
        header = list(next(iterator))
    except StopIteration as exc:
        close()
        raise ImportFileError("La planilla está vacía.") from exc

    def rows():
        try:
            for line, values in enumerate(iterator, start=2):
                yield line, list(values)
        finally:
            close()

    return header, rows(), "xlsx", close
