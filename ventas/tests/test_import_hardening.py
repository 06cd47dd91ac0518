"""Imports under attack (issue 10): xlsx bombs, NUL bytes, wrong encodings, formula cells in the report."""

import csv
import subprocess
import sys
import textwrap
import time
import zipfile

import pytest

from ventas.importing.readers import (
    CLIENT_COLUMNS,
    HISTORY_COLUMNS,
    ImportFileError,
    ImportLimits,
    UnreadableLine,
    open_table,
)
from ventas.importing.services import Report, import_clients, import_history
from ventas.models import Cliente, ImportRun, ServiceHistory
from ventas.tests.xlsx_bombs import build_dimension_bomb, build_shared_string_bomb

HEADER = ",".join(HISTORY_COLUMNS)


def history_line(n: int, name: str = "Cliente Prueba") -> str:
    return f"{name} {n},Tina Calbuco,1,50000,R-{n},2022-03-06,Tinas,2022,15:00,c{n}@example.org,"


def write_lines(tmp_path, lines: list[str], encoding="utf-8", name="historial.csv"):
    path = tmp_path / name
    path.write_bytes(("\n".join([HEADER, *lines]) + "\n").encode(encoding))
    return path


def read_report(path):
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


# xlsx bombs ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gib_bomb(tmp_path_factory):
    """The attack as reported: a ~1 MB file holding one 1 GiB shared string (built once, a few seconds)."""
    return build_shared_string_bomb(tmp_path_factory.mktemp("bombs") / "shared-string.xlsx")


def test_one_gib_shared_string_is_refused_in_under_two_seconds_and_200_mb(gib_bomb):
    assert gib_bomb.stat().st_size < 2 * 1024 * 1024
    script = textwrap.dedent(
        """
        import re, sys, time
        from ventas.importing.readers import ImportFileError, open_table
        started = time.perf_counter()
        try:
            open_table(sys.argv[1])
        except ImportFileError as exc:
            print(exc)
        print(time.perf_counter() - started)
        # VmHWM: this process's own peak (ru_maxrss would start from the forking pytest's size).
        status = open("/proc/self/status").read()
        print(int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) // 1024)
        """
    )
    out = subprocess.run([sys.executable, "-c", script, str(gib_bomb)], capture_output=True, text=True, check=True)
    message, seconds, peak_mb = out.stdout.strip().splitlines()
    assert "descomprimida ocuparía 1.024 MB (máximo 512 MB): no se leyó" in message
    assert float(seconds) < 2
    assert int(peak_mb) < 200


def test_shared_strings_larger_than_the_part_limit_are_refused_unread(tmp_path):
    path = build_shared_string_bomb(tmp_path / "b.xlsx", string_bytes=3 * 1024 * 1024)
    with pytest.raises(ImportFileError, match=r"«xl/sharedStrings.xml» de la planilla ocuparía 3 MB en memoria"):
        open_table(path, limits=ImportLimits(xlsx_max_part_bytes=2 * 1024 * 1024))


def test_a_shared_string_longer_than_a_cell_may_hold_is_refused(tmp_path):
    path = build_shared_string_bomb(tmp_path / "b.xlsx", string_bytes=40_000)
    with pytest.raises(ImportFileError, match=r"un texto de 40\.000 caracteres en una celda"):
        open_table(path)


def test_declared_dimension_bomb_is_refused_before_reading(tmp_path):
    path = build_dimension_bomb(tmp_path / "d.xlsx")
    assert path.stat().st_size < 2500
    started = time.perf_counter()
    with pytest.raises(ImportFileError, match=r"declara 1\.048\.576 filas y 16\.384 columnas \(A1:XFD1048576\)"):
        open_table(path)
    assert time.perf_counter() - started < 2


def test_declared_rows_above_the_limit_are_refused(tmp_path):
    path = build_dimension_bomb(tmp_path / "d.xlsx", dimension="A1:K5000")
    with pytest.raises(ImportFileError, match=r"el máximo es 1\.000 filas"):
        open_table(path, limits=ImportLimits(xlsx_max_rows=1000))


def test_a_small_declared_size_does_not_hide_rows(tmp_path):
    """Some tools write a wrong <dimension>; rows are read as written, not cut (nor padded) to it."""
    path = build_dimension_bomb(tmp_path / "d.xlsx", dimension="A1")
    with open_table(path) as table:
        [(line, cells)] = list(table.rows)
    assert line == 2
    assert table.get(cells, "servicio") == "Tina Calbuco"


def _rewrite_sheet(path, sheet: str):
    """Copy of the archive at `path` with another sheet1.xml (zipfile cannot replace a member in place)."""
    copy = path.with_name("copia.xlsx")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(copy, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = sheet.encode() if item.filename == "xl/worksheets/sheet1.xml" else source.read(item)
            target.writestr(item.filename, data)
    return copy


def _row(number: int, values: list[str], first_column: str = "A") -> str:
    cells = "".join(
        f'<c r="{chr(ord(first_column) + i)}{number}" t="inlineStr"><is><t>{v}</t></is></c>'
        for i, v in enumerate(values)
    )
    return f'<row r="{number}">{cells}</row>'


def _sheet(rows: str, dimension: str | None) -> str:
    declared = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"{declared}<sheetData>{rows}</sheetData></worksheet>"
    )


def test_rows_beyond_the_row_limit_are_not_read_when_the_sheet_lies(tmp_path):
    data = ["Ana", "Tina Calbuco", "1", "50000", "R-1", "2022-03-06", "Tinas", "2022", "", "", ""]
    rows = _row(1, HISTORY_COLUMNS) + "".join(_row(n, data) for n in range(2, 8))
    path = _rewrite_sheet(build_dimension_bomb(tmp_path / "d.xlsx"), _sheet(rows, "A1:K3"))
    with open_table(path, limits=ImportLimits(xlsx_max_rows=4)) as table:
        read = list(table.rows)
    assert [line for line, _ in read] == [2, 3, 4, 5]
    assert isinstance(read[-1][1], UnreadableLine)
    assert "supera las 4 filas" in read[-1][1].message


def test_a_far_away_cell_does_not_widen_every_row(tmp_path):
    data = ["Ana", "Tina Calbuco", "1", "50000", "R-1", "2022-03-06", "Tinas", "2022", "", "", ""]
    far = '<row r="3"><c r="XFD3" t="inlineStr"><is><t>x</t></is></c></row>'
    path = _rewrite_sheet(
        build_dimension_bomb(tmp_path / "d.xlsx"), _sheet(_row(1, HISTORY_COLUMNS) + _row(2, data) + far, None)
    )
    with open_table(path) as table:
        read = list(table.rows)
    assert [len(cells) for _, cells in read] == [11, 11]


def test_a_sheet_without_declared_size_above_the_part_limit_is_refused(tmp_path):
    data = ["Ana", "Tina Calbuco", "1", "50000", "R-1", "2022-03-06", "Tinas", "2022", "", "", ""]
    rows = _row(1, HISTORY_COLUMNS) + "".join(_row(n, data) for n in range(2, 200))
    path = _rewrite_sheet(build_dimension_bomb(tmp_path / "d.xlsx"), _sheet(rows, None))
    with pytest.raises(ImportFileError, match=r"«xl/worksheets/sheet1\.xml»"):
        open_table(path, limits=ImportLimits(xlsx_max_part_bytes=10_000))


# NUL bytes -----------------------------------------------------------------------------------------------------
def _lines_with_nul_after_64_kib(count=1200, nul_at=1000):
    lines = [history_line(n) for n in range(count)]
    lines[nul_at] = lines[nul_at].replace("Tina Calbuco", "Tina\x00Calbuco")
    return lines


def test_a_nul_after_the_first_64_kib_rejects_only_its_line(tmp_path):
    path = write_lines(tmp_path, _lines_with_nul_after_64_kib())
    assert path.read_bytes().index(b"\x00") > 64 * 1024
    with open_table(path) as table:
        read = list(table.rows)
    assert len(read) == 1200
    rejected = [(line, cells) for line, cells in read if isinstance(cells, UnreadableLine)]
    assert [line for line, _ in rejected] == [1002]
    assert "carácter nulo (NUL)" in rejected[0][1].message


@pytest.mark.django_db
def test_history_import_with_a_nul_keeps_the_batch_and_the_counts(tmp_path):
    report = tmp_path / "reporte.csv"
    summary = import_history(write_lines(tmp_path, _lines_with_nul_after_64_kib()), report_path=report, batch_size=500)
    assert (summary.rows_read, summary.imported, summary.rejected) == (1200, 1199, 1)
    assert summary.balanced
    assert ServiceHistory.objects.count() == 1199
    run = ImportRun.objects.get()
    assert (run.rows_read, run.imported, run.rejected) == (1200, 1199, 1)
    [row] = read_report(report)
    assert row["linea"] == "1002"
    assert "carácter nulo (NUL)" in row["motivo"]


@pytest.mark.django_db
def test_clients_import_with_a_nul_rejects_that_client_only(tmp_path):
    lines = [f"{n},{n},2022-01-01,c{n}@example.org,,0,Cliente {n},,," for n in range(1, 1500)]
    lines[1400] = lines[1400].replace("Cliente", "Cli\x00ente")
    path = tmp_path / "clientes.csv"
    path.write_bytes(("\n".join([",".join(CLIENT_COLUMNS), *lines]) + "\n").encode())
    summary = import_clients(path, report_path=tmp_path / "r.csv")
    assert (summary.rows_read, summary.imported, summary.rejected) == (1499, 1498, 1)
    assert Cliente.objects.count() == 1498
    assert not [name for name in Cliente.objects.values_list("nombre", flat=True) if "\x00" in name]


def test_a_nul_in_the_header_means_the_file_is_not_a_csv(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(HEADER.replace("servicio", "serv\x00icio").encode() + b"\n")
    with pytest.raises(ImportFileError, match="no es un CSV"):
        open_table(path)


# Encodings -----------------------------------------------------------------------------------------------------
def test_shift_jis_file_is_refused_naming_its_encoding(tmp_path):
    lines = [f"山田 太郎{n},温泉 マッサージ,1,50000,R-{n},2022-03-06,温泉,2022,,,{n}" for n in range(50)]
    path = tmp_path / "sjis.csv"
    path.write_bytes(("\n".join([HEADER.replace("Año", "Ano"), *lines]) + "\n").encode("shift_jis"))
    with pytest.raises(ImportFileError, match=r"parece estar en (cp932|shift_jis).*no se lee como texto en español"):
        open_table(path)


def test_mixed_utf8_and_latin1_lines_are_refused_with_their_line_numbers(tmp_path):
    path = tmp_path / "mixto.csv"
    path.write_bytes(
        HEADER.replace("Año", "Ano").encode()
        + b"\n"
        + history_line(1, "Jos\u00e9 Pe\u00f1a").encode("utf-8")
        + b"\n"
        + history_line(2, "Mar\u00eda Mu\u00f1oz").encode("cp1252")
        + b"\n"
    )
    with pytest.raises(ImportFileError, match="la línea 2 está en UTF-8 y la línea 3 en Latin-1"):
        open_table(path)


def test_a_file_encoded_twice_is_refused(tmp_path):
    lines = [history_line(n, "José Peña").encode("utf-8").decode("cp1252") for n in range(20)]
    with pytest.raises(
        ImportFileError, match=r"codificado dos veces \(por ejemplo «JosÃ©» en vez de «José», línea 2\)"
    ):
        open_table(write_lines(tmp_path, lines))


@pytest.mark.django_db
def test_one_double_encoded_name_rejects_that_line_with_the_reason(tmp_path):
    lines = [history_line(n, "José Peña") for n in range(10)]
    lines[4] = history_line(4, "JosÃ© Peña")
    report = tmp_path / "reporte.csv"
    summary = import_history(write_lines(tmp_path, lines), report_path=report)
    assert (summary.rows_read, summary.imported, summary.rejected) == (10, 9, 1)
    [row] = read_report(report)
    assert row["linea"] == "6"
    assert "texto mal codificado «JosÃ©»" in row["motivo"]


def test_utf16_export_gets_a_clear_message(tmp_path):
    path = tmp_path / "unicode.txt"
    path.write_bytes((HEADER + "\n").encode("utf-16"))
    with pytest.raises(ImportFileError, match="UTF-16"):
        open_table(path)


def test_spanish_windows_1252_with_symbols_is_still_accepted(tmp_path):
    lines = [history_line(n, "Ñuñoa Ávila “Pepa” ½ ºª") for n in range(30)]
    with open_table(write_lines(tmp_path, lines, encoding="cp1252")) as table:
        assert table.encoding == "cp1252"
        assert len(list(table.rows)) == 30


# Formula cells in the report -----------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1"])
def test_report_cells_cannot_run_as_formulas(tmp_path, cell):
    path = tmp_path / "r.csv"
    with Report(path, ["cliente", "=HYPERLINK(1)"]) as report:
        report.write(7, "rechazada", cell, [cell, "Tina"])
    [header, row] = list(csv.reader(path.open(encoding="utf-8-sig", newline="")))
    assert header[-1] == "'=HYPERLINK(1)"
    assert row[:3] == ["7", "rechazada", f"'{cell}"]
    assert row[3].startswith("'") and row[3].strip("'\t") == cell.strip()
    assert row[4] == "Tina"


@pytest.mark.django_db
def test_formula_in_an_imported_file_reaches_the_report_as_text(tmp_path):
    lines = [history_line(1).replace("Tina Calbuco", "=cmd|' /C calc'!A0").replace(",1,50000", ",1,")]
    lines.append("=1+1,,,,,,,,,,")
    report = tmp_path / "reporte.csv"
    import_history(write_lines(tmp_path, lines), report_path=report)
    cells = [value for row in read_report(report) for value in row.values()]
    assert not [value for value in cells if value and value[0] in "=+-@"]


def test_xlsx_lines_with_a_giant_inline_cell_or_mojibake_are_rejected_one_by_one(tmp_path):
    data = ["Ana", "Tina Calbuco", "1", "50000", "R-1", "2022-03-06", "Tinas", "2022", "", "", ""]
    rows = _row(1, HISTORY_COLUMNS) + _row(2, data) + _row(3, ["x" * 50, *data[1:]]) + _row(4, ["JosÃ©", *data[1:]])
    path = _rewrite_sheet(build_dimension_bomb(tmp_path / "d.xlsx"), _sheet(rows, "A1:K4"))
    with open_table(path, limits=ImportLimits(max_cell_chars=40)) as table:
        read = list(table.rows)
    assert isinstance(read[0][1], list)
    assert "una celda tiene 50 caracteres (máximo 40)" in read[1][1].message
    assert "texto mal codificado «JosÃ©»" in read[2][1].message


def test_xml_entities_in_an_xlsx_are_refused(tmp_path):
    """Entity expansion (billion laughs) inside a part: the XML parser refuses any DTD (defusedxml)."""
    laughs = '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
    path = tmp_path / "e.xlsx"
    source = build_dimension_bomb(tmp_path / "d.xlsx", dimension="A1:K2")
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(path, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == "xl/sharedStrings.xml":
                data = (
                    laughs + '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                    "<si><t>&b;</t></si></sst>"
                ).encode()
            new.writestr(item.filename, data)
    with pytest.raises(ImportFileError, match="dañado"):
        open_table(path)
