"""Normalisation of customer data: phones, names for search, Chilean RUT, seasons.

One place for each rule; models, search, imports and demo data all call these.
"""

import datetime
import re
import unicodedata

_NON_DIGITS = re.compile(r"\D+")
_SPACES = re.compile(r"\s+")


def search_key(text: str | None) -> str:
    """Lower-case, accent-free, single-spaced text: "  Núñez  PÉREZ " -> "nunez perez"."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.casefold()).strip()


def normalize_phone(raw: str | None) -> str | None:
    """Return the phone in E.164 (`+56912345678`), or None when it cannot be a phone number.

    Chilean numbers are written in many ways: `+56 9 1234 5678`, `56912345678`, `912345678`,
    `9 1234 5678`, old 8-digit mobiles `12345678` (now prefixed with 9) and 9-digit landlines
    (`652123456`). Foreign numbers keep their country code when written with `+` or `00`.
    """
    if not raw:
        return None
    raw = str(raw).strip()
    if raw.endswith(".0"):  # spreadsheets turn phones into floats
        raw = raw[:-2]
    international = raw.startswith("+") or raw.startswith("00")
    digits = _NON_DIGITS.sub("", raw)
    if raw.startswith("00"):
        digits = digits[2:]
    if not digits:
        return None
    if digits.startswith("56") and len(digits) == 11:
        return "+" + digits
    if not international:
        if len(digits) == 9:
            return "+56" + digits
        if len(digits) == 8:
            return "+569" + digits
    if 10 <= len(digits) <= 15 and not digits.startswith("0"):
        return "+" + digits
    return None


def phone_search_digits(query: str) -> str | None:
    """Digits to look for inside stored E.164 phones, or None when the query is not phone-like.

    `+56 9 1234 5678`, `56912345678`, `912345678` and `9 1234 5678` all become `912345678`, which is
    contained in `+56912345678`; partial numbers (at least 6 digits) match as substrings.
    """
    if re.search(r"[^\d\s+().-]", query):
        return None
    digits = _NON_DIGITS.sub("", query)
    if len(digits) < 6:
        return None
    if digits.startswith("56") and len(digits) == 11:
        return digits[2:]
    return digits


_RUT_SHAPE = re.compile(r"^\s*(\d{1,2}(?:\.?\d{3}){2})\s*-?\s*([\dkK])\s*$")


def looks_like_rut(value: str) -> bool:
    return bool(_RUT_SHAPE.match(value or ""))


def rut_check_digit(number: int) -> str:
    """Modulo-11 check digit of a Chilean RUT number."""
    total, factor = 0, 2
    while number:
        total += (number % 10) * factor
        number //= 10
        factor = 2 if factor == 7 else factor + 1
    rest = 11 - total % 11
    return {11: "0", 10: "K"}.get(rest, str(rest))


def normalize_rut(value: str) -> str | None:
    """`12.345.678-5` -> `12345678-5`; None when the value is not RUT-shaped or its check digit is wrong."""
    match = _RUT_SHAPE.match(value or "")
    if not match:
        return None
    number = int(match.group(1).replace(".", ""))
    digit = match.group(2).upper()
    if rut_check_digit(number) != digit:
        return None
    return f"{number}-{digit}"


SEASONS = {
    12: "Verano",
    1: "Verano",
    2: "Verano",
    3: "Otoño",
    4: "Otoño",
    5: "Otoño",
    6: "Invierno",
    7: "Invierno",
    8: "Invierno",
    9: "Primavera",
    10: "Primavera",
    11: "Primavera",
}


def season_of(day: datetime.date) -> str:
    """Season in the southern hemisphere: Dec–Feb Verano, Mar–May Otoño, Jun–Aug Invierno, Sep–Nov Primavera."""
    return SEASONS[day.month]
