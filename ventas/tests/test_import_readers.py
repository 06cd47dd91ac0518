"""Opening the legacy exports: encodings, delimiters, .xlsx, and files that cannot be read at all."""

import datetime

import pytest
from openpyxl import Workbook

from ventas.importing.readers import HISTORY_COLUMNS, ImportFileError, Skipped, open_table

HEADER = ",".join(HISTORY_COLUMNS)
LINE = 'Ana Núñez,Masaje Relajación,1,$50.000,R-1,06/03/2022,Masajes,"2,022",15:00,ana@example.org,912345678'


def write(tmp_path, text: str, encoding="utf-8", name="export.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def rows(table):
    with table:
        return list(table.rows)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1", "cp1252"])
def test_every_legacy_encoding_reads_accents(tmp_path, encoding):
    table = open_table(write(tmp_path, f"{HEADER}\r\n{LINE}\r\n", encoding))
    assert table.kind == "historial"
    [(line, cells)] = rows(table)
    assert line == 2
    assert table.get(cells, "cliente") == "Ana Núñez"
    assert table.get(cells, "servicio") == "Masaje Relajación"
    assert table.get(cells, "Año") == "2,022"


def test_bom_does_not_hide_the_first_column(tmp_path):
    with open_table(write(tmp_path, f"{HEADER}\n{LINE}\n", "utf-8-sig")) as table:
        assert table.encoding == "utf-8-sig"
        assert table.columns["cliente"] == 0


def test_windows_1252_punctuation_is_kept(tmp_path):
    text = f"{HEADER}\n{LINE.replace('Ana Núñez', 'Ana “Anita” Núñez')}\n"
    table = open_table(write(tmp_path, text, "cp1252"))
    assert table.encoding == "cp1252"
    [(_, cells)] = rows(table)
    assert table.get(cells, "cliente") == "Ana “Anita” Núñez"


def test_semicolon_csv_from_spanish_excel(tmp_path):
    text = f"{HEADER.replace(',', ';')}\nAna;Tina Calbuco;1;50.000;R-1;2022-03-06;Tinas;2022;;;\n"
    table = open_table(write(tmp_path, text))
    [(_, cells)] = rows(table)
    assert table.get(cells, "valor") == "50.000"


def test_header_with_trailing_empty_columns_and_other_case(tmp_path):
    header = HEADER.upper().replace("AÑO", "ano") + ",,,"
    table = open_table(write(tmp_path, f"{header}\n{LINE},,,\n"))
    [(_, cells)] = rows(table)
    assert table.get(cells, "Año") == "2,022"
    assert table.get(cells, "telefono") == "912345678"


def test_short_lines_read_missing_cells_as_none(tmp_path):
    table = open_table(write(tmp_path, f"{HEADER}\nAna,Tina\n"))
    [(_, cells)] = rows(table)
    assert table.get(cells, "mail") is None


def test_xlsx_streams_typed_cells(tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append([*HISTORY_COLUMNS, None])
    sheet.append(["Ana Núñez", "Tina Calbuco", 1, 50000, 123, datetime.datetime(2022, 3, 6), "tinas", 2022, None])
    path = tmp_path / "export.xlsx"
    workbook.save(path)
    table = open_table(path)
    assert (table.kind, table.encoding) == ("historial", "xlsx")
    [(line, cells)] = rows(table)
    assert line == 2
    assert table.get(cells, "checkin") == datetime.datetime(2022, 3, 6)
    assert table.get(cells, "valor") == 50000


def test_kind_is_detected_for_clients(tmp_path):
    header = "Auto Increment,Record ID,Created On,Email,Telefono,Reservas,Client,Documento Identidad,Direccion,voucher"
    with open_table(write(tmp_path, header + "\n")) as table:
        assert table.kind == "clientes"


def test_clients_file_given_as_history_is_refused(tmp_path):
    header = "Auto Increment,Record ID,Created On,Email,Telefono,Reservas,Client,Documento Identidad,Direccion,voucher"
    with pytest.raises(ImportFileError, match="encabezado no corresponde a una exportación de historial"):
        open_table(write(tmp_path, header + "\n"), kind="historial")


def test_unknown_header_is_refused_with_the_expected_columns(tmp_path):
    with pytest.raises(ImportFileError, match="Se esperaba: cliente,servicio"):
        open_table(write(tmp_path, "nombre,fecha,monto\nAna,2022-03-06,50000\n"), kind="historial")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "vacío"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, ".xls antiguo"),
        (b"%PDF-1.4\n...", "no es un CSV"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "no es un CSV"),
        (b"PK\x03\x04 not really a zip", "dañado"),
    ],
)
def test_files_that_are_not_exports_are_refused(tmp_path, content, message):
    path = tmp_path / "archivo"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        open_table(path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ImportFileError, match="No se pudo abrir"):
        open_table(tmp_path / "no-existe.csv")


def test_a_second_reading_passes_over_runs_of_lines_unparsed_even_across_line_breaks_in_cells(tmp_path):
    """The first reading notes which lines took more than one physical line (a quoted cell with line breaks); a
    second one skips runs of lines by ordinal and reads the others."""
    lines = [
        "A,Tina,1,1,R-0,2022-03-06,Tinas,2022,10:00,a@example.org,1",
        'B,"Tina\nen dos líneas",1,1,R-1,2022-03-06,Tinas,2022,10:00,b@example.org,2',
        "C,Tina,1,1,R-2,2022-03-06,Tinas,2022,10:00,c@example.org,3",
        "",
        'D,"Masaje\r\nen\r\ntres",1,1,R-4,2022-03-06,Masajes,2022,10:00,d@example.org,4',
        "E,Tina,1,1,R-5,2022-03-06,Tinas,2022,10:00,e@example.org,5",
        'F,"Tina\n\ny más",1,1,R-6,2022-03-06,Tinas,2022,10:00,f@example.org,6',
        "G,Tina,1,1,R-7,2022-03-06,Tinas,2022,10:00,g@example.org,7",
    ]
    path = write(tmp_path, "\n".join([HEADER, *lines]) + "\n")
    with open_table(path) as table:
        first = list(table.rows)
        spans = table.spans
    assert [cells[0] if cells else "" for _, cells in first] == ["A", "B", "C", "", "D", "E", "F", "G"]
    assert spans == {1: 2, 4: 3, 6: 3}

    def second(runs):
        with open_table(path) as table:
            return [
                (line, cells if isinstance(cells, Skipped) else cells[:1])
                for line, cells in table.skipping(runs, spans)
            ]

    read = second([(0, 2), (4, 3)])  # A and B; D, E and F
    assert [cells for _, cells in read] == [(2,), ["C"], [], (3,), ["G"]]
    assert [line for line, cells in read if isinstance(cells, list)] == [4, 5, 9]  # as the first reading numbered them
    assert [cells for _, cells in second([(1, 1), (5, 3)])] == [["A"], (1,), ["C"], [], ["D"], (3,)]
    assert [cells for _, cells in second([])] == [["A"], ["B"], ["C"], [], ["D"], ["E"], ["F"], ["G"]]
