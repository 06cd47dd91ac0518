import datetime

import pytest

from ventas.normalize import (
    normalize_phone,
    normalize_rut,
    phone_search_digits,
    rut_check_digit,
    search_key,
    season_of,
)


@pytest.mark.parametrize(
    "raw",
    ["+56 9 1234 5678", "912345678", "56912345678", "9 1234 5678", "+56-9-1234-5678", "(9) 1234-5678", "12345678"],
)
def test_chilean_mobiles_normalise_to_e164(raw):
    assert normalize_phone(raw) == "+56912345678"


def test_landline_keeps_area_code():
    assert normalize_phone("65 212 3456") == "+56652123456"


def test_foreign_number_keeps_country_code():
    assert normalize_phone("+54 9 11 2233 4455") == "+5491122334455"
    assert normalize_phone("0054 9 11 2233 4455") == "+5491122334455"


def test_spreadsheet_float_phone():
    assert normalize_phone("56912345678.0") == "+56912345678"


@pytest.mark.parametrize("raw", ["", None, "abc", "123", "0000000000000000000"])
def test_garbage_is_not_a_phone(raw):
    assert normalize_phone(raw) is None


@pytest.mark.parametrize("query", ["+56 9 1234 5678", "912345678", "56912345678", "9 1234 5678"])
def test_phone_queries_reduce_to_the_national_number(query):
    assert phone_search_digits(query) == "912345678"


def test_names_are_not_phone_queries():
    assert phone_search_digits("perez") is None
    assert phone_search_digits("123") is None


def test_search_key_strips_accents_case_and_spaces():
    assert search_key("  Núñez   PÉREZ ") == "nunez perez"
    assert search_key("Ñandú Güemes") == "nandu guemes"


def test_rut_check_digit():
    assert rut_check_digit(11111111) == "1"
    assert rut_check_digit(12345678) == "5"
    assert rut_check_digit(6) == "K"


@pytest.mark.parametrize("raw", ["12.345.678-5", "12345678-5", "123456785", "12.345.678-5 "])
def test_valid_rut_is_normalised(raw):
    assert normalize_rut(raw) == "12345678-5"


def test_rut_with_wrong_check_digit_is_rejected():
    assert normalize_rut("12.345.678-9") is None


@pytest.mark.parametrize(
    ("month", "season"),
    [
        (12, "Verano"),
        (1, "Verano"),
        (2, "Verano"),
        (3, "Otoño"),
        (5, "Otoño"),
        (6, "Invierno"),
        (8, "Invierno"),
        (9, "Primavera"),
        (11, "Primavera"),
    ],
)
def test_seasons_follow_the_southern_hemisphere(month, season):
    assert season_of(datetime.date(2024, month, 15)) == season
