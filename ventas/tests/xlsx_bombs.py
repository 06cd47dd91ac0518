"""Hostile .xlsx files for the import limits (issue 10), built with zipfile: never commit the files themselves.

.venv/bin/python -m ventas.tests.xlsx_bombs /tmp/bombs    # writes shared-string.xlsx and dimension.xlsx
/usr/bin/time -v .venv/bin/python manage.py import_history /tmp/bombs/shared-string.xlsx
"""

import struct
import sys
import zipfile
import zlib
from pathlib import Path

from ventas.importing.readers import HISTORY_COLUMNS

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Hoja1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
    'Target="sharedStrings.xml"/></Relationships>'
)


def _column(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _sheet(dimension: str, rows: list[list[str]]) -> str:
    body = "".join(
        f'<row r="{r}">'
        + "".join(f'<c r="{_column(c)}{r}" t="inlineStr"><is><t>{value}</t></is></c>' for c, value in enumerate(row))
        + "</row>"
        for r, row in enumerate(rows, start=1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<dimension ref="{dimension}"/><sheetData>{body}</sheetData></worksheet>'
    )


def _package(archive: zipfile.ZipFile, sheet: str) -> None:
    for name, text in _parts(sheet):
        archive.writestr(name, text)


def build_shared_string_bomb(path: Path, string_bytes: int = 1 << 30) -> Path:
    """A history export whose first data cell is one shared string of `string_bytes` letters (1 GiB → ~1 MB).

    Deflating 1 GiB takes ~20 s, so the shared-strings part is deflated 1 MiB at a time with a full flush
    (which makes a block independent of what came before) and that block repeated: a valid stream, built in ~1 s.
    """
    data_row = ["Ana Soto", "Tina Calbuco", "1", "50000", "R-1", "2022-03-06", "Tinas", "2022", "", "", ""]
    sheet = _sheet("A1:K2", [HISTORY_COLUMNS, data_row]).replace(
        '<c r="A2" t="inlineStr"><is><t>Ana Soto</t></is></c>', '<c r="A2" t="s"><v>0</v></c>'
    )
    prefix = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
        b"<si><t>"
    )
    suffix = b"</t></si></sst>"
    chunk = b"A" * min(string_bytes, 1 << 20)
    repeats, rest = divmod(string_bytes, len(chunk))
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.compress(chunk[:rest] + suffix) + compressor.flush()
    crc = zlib.crc32(prefix)
    for _ in range(repeats):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(chunk[:rest] + suffix, crc)
    shared = (head + block * repeats + tail, crc, len(prefix) + string_bytes + len(suffix))
    _write_zip(
        path, [*((name, *_deflate(text.encode())) for name, text in _parts(sheet)), ("xl/sharedStrings.xml", *shared)]
    )
    return path


def _parts(sheet: str) -> list[tuple[str, str]]:
    return [
        ("[Content_Types].xml", _CONTENT_TYPES),
        ("_rels/.rels", _ROOT_RELS),
        ("xl/workbook.xml", _WORKBOOK),
        ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS),
        ("xl/worksheets/sheet1.xml", sheet),
    ]


def _deflate(data: bytes) -> tuple[bytes, int, int]:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(), zlib.crc32(data), len(data)


def _write_zip(path: Path, members: list[tuple[str, bytes, int, int]]) -> None:
    """A plain zip (deflate, no zip64) from already-deflated members: (name, data, crc32, uncompressed size)."""
    date = (1980 - 1980) << 9 | 1 << 5 | 1
    with path.open("wb") as out:
        directory = b""
        for name, data, crc, size in members:
            offset = out.tell()
            encoded = name.encode()
            out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, date, crc, len(data), size, len(encoded), 0))
            out.write(encoded + data)
            directory += (
                struct.pack(
                    "<4s6H3L5H2L",
                    b"PK\x01\x02",
                    20,
                    20,
                    0,
                    8,
                    0,
                    date,
                    crc,
                    len(data),
                    size,
                    len(encoded),
                    0,
                    0,
                    0,
                    0,
                    0,
                    offset,
                )
                + encoded
            )
        start = out.tell()
        out.write(directory)
        out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), start, 0))


def build_dimension_bomb(path: Path, dimension: str = "A1:XFD1048576") -> Path:
    """A tiny history export (~2 KB) whose sheet declares `dimension`: every row padded to 16,384 columns and
    1,048,576 rows for a reader that trusts it."""
    data_row = ["Ana Soto", "Tina Calbuco", "1", "50000", "R-1", "2022-03-06", "Tinas", "2022", "", "", ""]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        _package(archive, _sheet(dimension, [HISTORY_COLUMNS, data_row]))
        archive.writestr(
            "xl/sharedStrings.xml",
            '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="0" uniqueCount="0"/>',
        )
    return path


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    folder.mkdir(parents=True, exist_ok=True)
    for built in (
        build_shared_string_bomb(folder / "shared-string.xlsx"),
        build_dimension_bomb(folder / "dimension.xlsx"),
    ):
        print(f"{built}: {built.stat().st_size:,} bytes")
