"""Cell parsers of the legacy exports: each known defect of the real files."""

import datetime
from decimal import Decimal

import pytest

from ventas.importing.parsers import (
    CellError,
    ServiceCatalog,
    categorize,
    is_spreadsheet_error,
    parse_amount,
    parse_date,
    parse_quantity,
    parse_year,
    void_reason,
)


@pytest.mark.parametrize(
    "raw",
    ["2022-03-06", "06/03/2022", "6/3/2022", "06-03-2022", "06/03/22", "2022-03-06 00:00:00", " 06/03/2022 "],
)
def test_dates_iso_and_day_first_are_the_same_day(raw):
    assert parse_date(raw) == datetime.date(2022, 3, 6)


def test_spreadsheet_dates_and_serial_numbers_parse():
    assert parse_date(datetime.datetime(2022, 3, 6, 15, 0)) == datetime.date(2022, 3, 6)
    assert parse_date(datetime.date(2022, 3, 6)) == datetime.date(2022, 3, 6)
    assert parse_date("44626") == datetime.date(2022, 3, 6)


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_blank_date_is_none(raw):
    assert parse_date(raw) is None


@pytest.mark.parametrize("raw", ["31/02/2022", "ayer", "2022/13/45", "03-2022"])
def test_impossible_or_unknown_dates_raise_a_spanish_reason(raw):
    with pytest.raises(CellError, match="fecha"):
        parse_date(raw)


@pytest.mark.parametrize(
    "raw", ["50000", "50,000", "50.000", "$50.000", "$ 50.000", "$50,000", "50.000 CLP", 50000, 50000.0, " 50000 "]
)
def test_amounts_in_every_legacy_format(raw):
    assert parse_amount(raw) == Decimal("50000.00")


@pytest.mark.parametrize("raw", ["0", "", None, "$0"])
def test_zero_and_blank_amounts_are_zero(raw):
    assert parse_amount(raw) == 0


def test_millions_and_decimals():
    assert parse_amount("1.246.535") == Decimal("1246535")
    assert parse_amount("$1,246,535") == Decimal("1246535")
    assert parse_amount("45000,5") == Decimal("45000.50")
    assert parse_amount("45000.50") == Decimal("45000.50")


@pytest.mark.parametrize("raw", ["consultar", "50.00.0", "1,2,3", "-50000", "$-50.000", "99999999999"])
def test_unreadable_negative_or_huge_amounts_are_rejected(raw):
    with pytest.raises(CellError, match="valor"):
        parse_amount(raw)


@pytest.mark.parametrize("raw", ["2022", "2,022", "2.022", 2022, 2022.0])
def test_year_written_with_thousands_separator(raw):
    assert parse_year(raw) == 2022


def test_blank_year_is_none_and_nonsense_raises():
    assert parse_year("") is None
    with pytest.raises(CellError):
        parse_year("dos mil")


def test_quantity_blank_is_one_and_text_is_rejected():
    assert parse_quantity("") == 1
    assert parse_quantity("2") == 2
    assert parse_quantity(2.0) == 2
    assert parse_quantity("3,0") == 3
    with pytest.raises(CellError, match="cantidad"):
        parse_quantity("dos")


@pytest.mark.parametrize(
    ("service", "file_category", "expected"),
    [
        ("Hidromasaje Llanquihue", "Masajes", "Tinas"),
        ("hidromasaje", "", "Tinas"),
        ("Tina Calbuco", "masajes", "Tinas"),
        ("Tinaja con hidromasaje", "", "Tinas"),
        ("Cabaña Arrayán", "", "Cabañas"),
        ("CABANA ULMO", "tinas", "Cabañas"),
        ("Masaje Piedras Calientes", "", "Masajes"),
        ("Facial Hidratante", "", "Masajes"),
        ("Drenaje Linfático", "Otros", "Masajes"),
        ("Reflexología", "", "Masajes"),
        ("Ambientación Romántica", "", "Ambientaciones"),
        ("Pack decoración cumpleaños", "", "Ambientaciones"),
        ("Desayuno", "tinas", "Tinas"),
        ("Desayuno", "cabañas", "Cabañas"),
        ("Desayuno", "CABANAS", "Cabañas"),
        ("Desayuno", "  bebidas  calientes ", "Bebidas Calientes"),
        ("Desayuno", "", "Otros"),
        ("Desayuno", "#REF!", "Otros"),
    ],
)
def test_category_rules(service, file_category, expected):
    assert categorize(service, file_category) == expected


@pytest.fixture
def catalog():
    return ServiceCatalog(["Masaje Relajación o Descontracturante", "Tina Calbuco", "Masaje Piedras Calientes"])


def test_therapist_and_abbreviations_map_to_the_catalogue_name(catalog):
    assert catalog.clean("Masaje Rel. o Desc. Diana") == "Masaje Relajación o Descontracturante"
    assert catalog.clean("masaje  relajacion o descontracturante") == "Masaje Relajación o Descontracturante"


def test_price_and_therapist_are_stripped_from_unknown_massages(catalog):
    assert catalog.clean("Masaje Valentina 35.000") == "Masaje"
    assert catalog.clean("Masaje Piedras Calientes $40.000") == "Masaje Piedras Calientes"
    assert catalog.clean("Tina Calbuco 50000") == "Tina Calbuco"


def test_unknown_services_keep_their_words():
    empty = ServiceCatalog([])
    assert empty.clean("Tina Calbuco") == "Tina Calbuco"
    assert empty.clean("Masaje Relajación") == "Masaje Relajación"
    assert empty.clean("Masaje Rel. o Desc. Diana") == "Masaje Relajación o Descontracturante"


@pytest.mark.parametrize("name", ["Servicio Anulado", "masaje eliminado", "tina eliminada", "TINA ELIMINADA"])
def test_void_lines_are_recognised(name):
    assert "anulada" in void_reason(name)


def test_regular_services_are_not_void():
    assert void_reason("Tina Calbuco") is None


@pytest.mark.parametrize("value", ["#REF!", " #ref! ", "#N/A", "#VALUE!", "#DIV/0!"])
def test_spreadsheet_errors_are_recognised(value):
    assert is_spreadsheet_error(value)


def test_hash_in_normal_text_is_not_an_error():
    assert not is_spreadsheet_error("Reserva #123")
    assert not is_spreadsheet_error(None)
