"""import_history: every defect of the legacy export, idempotency, counts, dry run, report, speed."""

import csv
import datetime
from decimal import Decimal

import pytest
from openpyxl import Workbook

from ventas.importing.readers import HISTORY_COLUMNS, ImportFileError
from ventas.importing.services import import_history
from ventas.importing.synthetic import write_history_export
from ventas.models import CategoriaServicio, Cliente, ImportedRow, ImportRun, ServiceHistory, Servicio

pytestmark = pytest.mark.django_db

PLACEHOLDER = datetime.date(2021, 1, 1)


def line(
    cliente="Ana Soto",
    servicio="Tina Calbuco",
    cantidad="1",
    valor="50000",
    reserva="R-1",
    checkin="2022-03-06",
    categoria="Tinas",
    ano="2022",
    hora="15:00",
    mail="ana@example.org",
    telefono="912345678",
):
    return [cliente, servicio, cantidad, valor, reserva, checkin, categoria, ano, hora, mail, telefono, "", ""]


def write_csv(tmp_path, lines, encoding="utf-8", name="historial.csv"):
    path = tmp_path / name
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*HISTORY_COLUMNS, "", ""])
        writer.writerows(lines)
    return path


def run(tmp_path, lines, **kwargs):
    path = write_csv(tmp_path, lines)
    report = tmp_path / "reporte.csv"
    summary = import_history(path, report_path=report, **kwargs)
    return summary, read_report(report)


def read_report(path):
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def only_history():
    [row] = ServiceHistory.objects.all()
    return row


def assert_balanced(summary):
    assert summary.imported + summary.duplicates + summary.rejected == summary.rows_read


# Dates ----------------------------------------------------------------------------------------------------------


def test_iso_and_day_first_dates_are_the_same_day(tmp_path):
    summary, _ = run(tmp_path, [line(checkin="2022-03-06"), line(checkin="06/03/2022", reserva="R-2")])
    assert summary.imported == 2
    assert set(ServiceHistory.objects.values_list("service_date", flat=True)) == {datetime.date(2022, 3, 6)}


def test_season_and_year_come_from_the_date_even_when_ano_is_written_2_022(tmp_path):
    run(tmp_path, [line(checkin="06/07/2022", ano="2,022")])
    row = only_history()
    assert (row.year, row.season) == (2022, "Invierno")


def test_blank_date_is_kept_on_the_placeholder_day_flagged_and_reported(tmp_path):
    summary, report = run(tmp_path, [line(checkin="", ano="2,022")])
    assert (summary.imported, summary.rejected, summary.undated, summary.flagged) == (1, 0, 1, 1)
    assert only_history().service_date == PLACEHOLDER
    assert report[0]["linea"] == "2"
    assert report[0]["estado"] == "importada con observaciones"
    assert "sin fecha (año 2022 en la columna Año)" in report[0]["motivo"]
    assert "01-01-2021" in report[0]["motivo"]


def test_impossible_date_is_kept_on_the_placeholder_day_with_its_reason(tmp_path):
    summary, report = run(tmp_path, [line(checkin="31/02/2022")])
    assert (summary.imported, summary.undated) == (1, 1)
    assert "fecha imposible: «31/02/2022»" in report[0]["motivo"]


def test_placeholder_date_rows_are_kept_flagged_and_left_out_of_recency(tmp_path):
    lines = [line(checkin="2021-01-01", reserva=f"R-{i}") for i in range(40)] + [line(checkin="2023-05-01")]
    summary, _ = run(tmp_path, lines)
    assert (summary.imported, summary.placeholder_dates, summary.undated) == (41, 40, 0)
    assert ServiceHistory.objects.count() == 41
    assert list(ServiceHistory.objects.with_real_dates().values_list("service_date", flat=True)) == [
        datetime.date(2023, 5, 1)
    ]
    assert "Con fecha provisoria 01-01-2021 (no cuentan para recencia ni temporada): 40" in "\n".join(summary.lines())


# Amounts --------------------------------------------------------------------------------------------------------


def test_every_amount_format_stores_the_same_clp(tmp_path):
    formats = ["50000", "50,000", "50.000", "$50.000"]
    run(tmp_path, [line(valor=value, reserva=f"R-{i}") for i, value in enumerate(formats)])
    assert set(ServiceHistory.objects.values_list("price_paid", flat=True)) == {Decimal("50000")}


def test_zero_and_blank_amounts_are_kept_as_zero_and_blank_ones_counted(tmp_path):
    summary, _ = run(tmp_path, [line(valor="0"), line(valor="", reserva="R-2")])
    assert (summary.imported, summary.blank_amounts) == (2, 1)
    assert set(ServiceHistory.objects.values_list("price_paid", flat=True)) == {Decimal(0)}


def test_unreadable_amount_is_rejected_with_its_value(tmp_path):
    summary, report = run(tmp_path, [line(valor="consultar"), line(valor="-50000", reserva="R-2")])
    assert (summary.imported, summary.rejected) == (0, 2)
    assert [r["motivo"] for r in report] == ["valor no reconocido: «consultar»", "valor negativo: «-50000»"]


# Categories and service names -----------------------------------------------------------------------------------


def test_mixed_case_and_blank_categories(tmp_path):
    lines = [
        line(servicio="Desayuno", categoria="tinas", reserva="1"),
        line(servicio="Desayuno", categoria="CABAÑAS", reserva="2"),
        line(servicio="Desayuno", categoria="  bebidas ", reserva="3"),
        line(servicio="Desayuno", categoria="", reserva="4"),
    ]
    run(tmp_path, lines)
    types = list(ServiceHistory.objects.order_by("reserva_id").values_list("service_type", flat=True))
    assert types == ["Tinas", "Cabañas", "Bebidas", "Otros"]


def test_hidromasaje_is_a_hot_tub_even_when_filed_under_massages(tmp_path):
    run(tmp_path, [line(servicio="Hidromasaje Llanquihue", categoria="Masajes")])
    assert only_history().service_type == "Tinas"


def test_service_names_lose_therapist_and_price_and_take_the_catalogue_name(tmp_path):
    categoria = CategoriaServicio.objects.create(nombre="Masajes")
    Servicio.objects.create(nombre="Masaje Relajación o Descontracturante", categoria=categoria, precio_base=35000)
    lines = [
        line(servicio="Masaje Rel. o Desc. Diana", categoria="", reserva="1"),
        line(servicio="Masaje Valentina 35.000", categoria="", reserva="2"),
    ]
    run(tmp_path, lines)
    rows = list(ServiceHistory.objects.order_by("reserva_id").values_list("service_name", "service_type"))
    assert rows == [("Masaje Relajación o Descontracturante", "Masajes"), ("Masaje", "Masajes")]


@pytest.mark.parametrize("servicio", ["Servicio Anulado", "masaje eliminado", "tina eliminada"])
def test_void_lines_are_rejected_with_a_reason(tmp_path, servicio):
    summary, report = run(tmp_path, [line(servicio=servicio)])
    assert (summary.imported, summary.rejected) == (0, 1)
    assert report[0]["motivo"] == f"línea anulada en el sistema anterior: «{servicio}»"
    assert report[0]["servicio"] == servicio


def test_spreadsheet_error_rejects_the_line(tmp_path):
    summary, report = run(tmp_path, [line(valor="#REF!")])
    assert (summary.imported, summary.rejected) == (0, 1)
    assert report[0]["motivo"] == "error de planilla: #REF! en la fila"
    assert not ServiceHistory.objects.exists()


# Customers ------------------------------------------------------------------------------------------------------


def test_rows_without_email_or_phone_create_and_match_the_customer_by_name(tmp_path):
    lines = [
        line(cliente="Pedro Fuentes", mail="", telefono="", reserva="1"),
        line(cliente="Pedro Fuentes", mail="", telefono="", reserva="2"),
    ]
    summary, _ = run(tmp_path, lines)
    assert (summary.imported, summary.customers_created) == (2, 1)
    cliente = Cliente.objects.get()
    assert (cliente.nombre, cliente.email, cliente.telefono) == ("Pedro Fuentes", "", None)


def test_same_person_with_different_case_and_spacing_is_one_customer(tmp_path):
    lines = [
        line(cliente="María José Núñez", mail="", telefono="", reserva="1"),
        line(cliente="  MARIA   JOSÉ  nuñez ", mail="", telefono="", reserva="2"),
        line(cliente="maría josé núñez", mail="", telefono="", reserva="3"),
    ]
    summary, _ = run(tmp_path, lines)
    assert summary.customers_created == 1
    assert Cliente.objects.get().historial_servicios.count() == 3


def test_existing_customers_are_matched_by_email_then_phone(tmp_path):
    by_email = Cliente.objects.create(nombre="Ana Soto", email="ana@example.org")
    by_phone = Cliente.objects.create(nombre="Luis Rojas", telefono="+56 9 8765 4321")
    lines = [
        line(cliente="Anita", mail="ANA@Example.org ", telefono="", reserva="1"),
        line(cliente="L. Rojas", mail="", telefono="9 8765 4321", reserva="2"),
    ]
    summary, _ = run(tmp_path, lines)
    assert summary.customers_created == 0
    assert by_email.historial_servicios.count() == 1
    assert by_phone.historial_servicios.count() == 1


def test_same_name_with_a_different_email_is_another_customer(tmp_path):
    Cliente.objects.create(nombre="Juan Pérez", email="juan.perez@example.org")
    summary, _ = run(tmp_path, [line(cliente="Juan Perez", mail="otro.juan@example.com", telefono="")])
    assert summary.customers_created == 1
    assert Cliente.objects.filter(busqueda__startswith="juan perez").count() == 2


def test_row_without_any_customer_data_is_rejected(tmp_path):
    summary, report = run(tmp_path, [line(cliente="", mail="", telefono="")])
    assert summary.rejected == 1
    assert report[0]["motivo"] == "sin datos del cliente: falta nombre, email y teléfono"


# Counting, idempotency, dry run ---------------------------------------------------------------------------------


def test_empty_rows_are_read_and_rejected_so_counts_add_up(tmp_path):
    blank = [""] * 13
    lines = [line(reserva="1"), blank, line(servicio="Servicio Anulado"), blank, line(reserva="2"), blank, blank]
    summary, report = run(tmp_path, lines)
    # The two trailing empty lines are spreadsheet padding after the last data line, not data lines.
    assert (summary.rows_read, summary.imported, summary.duplicates, summary.rejected) == (5, 2, 0, 3)
    assert_balanced(summary)
    assert [(r["linea"], r["motivo"]) for r in report if r["motivo"] == "fila vacía"] == [
        ("3", "fila vacía"),
        ("5", "fila vacía"),
    ]


def test_importing_the_same_file_twice_adds_nothing(tmp_path):
    lines = [line(reserva="1"), line(cliente="Luis", mail="", telefono="", reserva="2"), line(checkin="")]
    path = write_csv(tmp_path, lines)
    first = import_history(path)
    second = import_history(path)
    assert (first.imported, first.duplicates, first.customers_created) == (3, 0, 2)
    assert (second.imported, second.duplicates, second.customers_created) == (0, 3, 0)
    assert_balanced(second)
    assert ServiceHistory.objects.count() == 3
    assert Cliente.objects.count() == 2
    assert ImportRun.objects.count() == 2


def test_identical_lines_in_one_file_are_distinct_services_and_still_idempotent(tmp_path):
    path = write_csv(tmp_path, [line(checkin="2021-01-01")] * 40)
    assert import_history(path).imported == 40
    assert import_history(path).duplicates == 40
    # The same file with one more identical line adds exactly that line.
    bigger = write_csv(tmp_path, [line(checkin="2021-01-01")] * 41, name="mas.csv")
    summary = import_history(bigger)
    assert (summary.imported, summary.duplicates) == (1, 40)
    assert ServiceHistory.objects.count() == 41


def test_imported_rows_keep_their_provenance(tmp_path):
    summary, _ = run(tmp_path, [line()])
    key = ImportedRow.objects.get()
    assert (key.run_id, key.line, key.history_id, key.source) == (summary.run_id, 2, only_history().pk, "historial")


def test_dry_run_changes_nothing_but_prints_the_same_summary(tmp_path):
    lines = [line(reserva="1"), line(valor="#REF!"), line(checkin="", reserva="3")]
    dry, dry_report = run(tmp_path, lines, dry_run=True)
    assert not ServiceHistory.objects.exists()
    assert not Cliente.objects.exists()
    assert not ImportedRow.objects.exists()
    assert not ImportRun.objects.exists()
    assert dry.run_id is None
    real, real_report = run(tmp_path, lines)
    assert (dry.rows_read, dry.imported, dry.rejected, dry.flagged, dry.customers_created) == (
        real.rows_read,
        real.imported,
        real.rejected,
        real.flagged,
        real.customers_created,
    )
    assert dry_report == real_report
    assert "SIMULACIÓN: no se guardó ningún cambio." in dry.lines()


def test_unreadable_file_changes_nothing(tmp_path):
    path = tmp_path / "otra-cosa.csv"
    path.write_text("nombre,fecha,monto\nAna,2022-03-06,50000\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="encabezado"):
        import_history(path, report_path=tmp_path / "reporte.csv")
    assert not ServiceHistory.objects.exists()
    assert not ImportRun.objects.exists()
    assert not Cliente.objects.exists()


def test_a_bad_row_never_aborts_the_import(tmp_path):
    lines = [line(reserva="1"), line(reserva="X" * 60), line(cantidad="dos", reserva="3"), line(reserva="4")]
    summary, report = run(tmp_path, lines, batch_size=2)
    assert (summary.imported, summary.rejected) == (2, 2)
    assert [r["linea"] for r in report] == ["3", "4"]
    assert report[1]["motivo"] == "cantidad no reconocida: «dos»"


def test_report_has_line_number_reason_and_every_original_value(tmp_path):
    _, report = run(tmp_path, [line(), line(servicio="tina eliminada", valor="$45.000")])
    assert report == [
        {
            "linea": "3",
            "estado": "rechazada",
            "motivo": "línea anulada en el sistema anterior: «tina eliminada»",
            **dict(zip(HISTORY_COLUMNS, line(servicio="tina eliminada", valor="$45.000"), strict=False)),
            "": "",
        }
    ]


def test_batch_size_does_not_change_the_result(tmp_path):
    lines = [line(cliente=f"Cliente {i % 3}", mail="", telefono="", reserva=str(i)) for i in range(10)]
    summary, _ = run(tmp_path, lines, batch_size=3)
    assert (summary.imported, summary.customers_created) == (10, 3)


def test_queries_do_not_grow_with_the_rows(tmp_path, django_assert_max_num_queries):
    path = write_csv(tmp_path, [line(cliente=f"Cliente {i}", mail="", telefono="", reserva=str(i)) for i in range(300)])
    # A fixed number per batch (the natural keys' occurrences among them) and per import (catalogue, summaries,
    # signal, the lines' temporary tables). None per row.
    with django_assert_max_num_queries(54):
        summary = import_history(path)
    assert summary.imported == 300


# Encodings and formats ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1", "cp1252"])
def test_every_encoding_imports_the_same_names(tmp_path, encoding):
    path = write_csv(tmp_path, [line(cliente="Ñuño Peña", servicio="Cabaña Arrayán", categoria="cabañas")], encoding)
    import_history(path)
    row = ServiceHistory.objects.select_related("cliente").get()
    assert (row.cliente.nombre, row.service_name, row.service_type) == ("Ñuño Peña", "Cabaña Arrayán", "Cabañas")


def test_xlsx_export_imports_like_the_csv(tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HISTORY_COLUMNS)
    sheet.append(["Ana Soto", "Tina Calbuco", 1, 50000, 1234, datetime.datetime(2022, 3, 6), "tinas", 2022])
    sheet.append([None] * 11)
    sheet.append(["Ana Soto", "Masaje Valentina 35.000", 1, "$35.000", 1234, "06/03/2022", "", "2,022"])
    sheet.append(["Ana Soto", "Tina Osorno", 1, "#REF!", 1235, None, "Tinas", 2022, None, None, 56912345678])
    path = tmp_path / "historial.xlsx"
    workbook.save(path)
    summary = import_history(path, report_path=tmp_path / "reporte.csv")
    assert (summary.rows_read, summary.imported, summary.rejected) == (4, 2, 2)
    rows = list(ServiceHistory.objects.order_by("service_name").values_list("service_name", "price_paid", "reserva_id"))
    assert rows == [("Masaje", Decimal(35000), "1234"), ("Tina Calbuco", Decimal(50000), "1234")]


# Volume ---------------------------------------------------------------------------------------------------------


def test_ten_thousand_lines_with_ten_percent_bad_import_the_rest_and_report_them(tmp_path):
    path = tmp_path / "sintetico.csv"
    stats = write_history_export(path, rows=10_000, bad_fraction=0.1, seed=7)
    summary = import_history(path, report_path=tmp_path / "reporte.csv")
    report = read_report(tmp_path / "reporte.csv")
    assert stats.bad == 1000
    assert (summary.rows_read, summary.imported, summary.rejected, summary.duplicates) == (10_000, 9000, 1000, 0)
    assert sum(1 for r in report if r["estado"] == "rechazada") == 1000
    assert ServiceHistory.objects.count() == 9000
    assert ServiceHistory.objects.filter(service_type="Tinas", service_name__startswith="Hidromasaje").exists()
    assert not ServiceHistory.objects.filter(service_type="Masajes", service_name__icontains="hidromasaje").exists()


@pytest.mark.postgres
def test_a_second_import_at_the_same_time_is_refused_and_changes_nothing(tmp_path):
    import psycopg2
    from django.db import connection

    from ventas.importing.services import IMPORT_LOCK_ID

    db = connection.settings_dict
    other = psycopg2.connect(dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"] or 5432)
    try:
        other.cursor().execute("SELECT pg_advisory_lock(%s)", [IMPORT_LOCK_ID])
        with pytest.raises(ImportFileError, match="otra importación en curso"):
            import_history(write_csv(tmp_path, [line()]))
    finally:
        other.close()
    assert not ServiceHistory.objects.exists()
    assert import_history(write_csv(tmp_path, [line()])).imported == 1


def test_backslashes_tabs_and_quotes_survive_the_bulk_insert(tmp_path):
    run(tmp_path, [line(cliente='Ana "Anita" Soto', servicio="Tina \\ Calbuco", reserva="R\t1\\2")])
    row = ServiceHistory.objects.select_related("cliente").get()
    assert (row.service_name, row.reserva_id, row.cliente.nombre) == ("Tina \\ Calbuco", "R\t1\\2", 'Ana "Anita" Soto')


def test_a_line_the_csv_reader_cannot_split_is_rejected_and_the_next_one_imported(tmp_path):
    path = write_csv(tmp_path, [line(cliente="x" * 200_000), line(reserva="2")])
    summary = import_history(path, report_path=tmp_path / "reporte.csv")
    assert (summary.rows_read, summary.imported, summary.rejected) == (2, 1, 1)
    [rejected] = read_report(tmp_path / "reporte.csv")
    assert (rejected["linea"], rejected["motivo"]) == (
        "2",
        "línea ilegible: no se pudo separar en columnas (field larger than field limit (131072))",
    )
