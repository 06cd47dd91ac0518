"""How money and dates look to Aremko staff: `$1.246.535`, `26-10-2025`; and CSV cells safe to open."""

import datetime
from decimal import ROUND_HALF_UP, Decimal


def format_clp(amount) -> str:
    """CLP with dot thousands and no decimals: 1246535.4 -> "$1.246.535"; None -> "$0"."""
    if amount is None or amount == "":
        amount = 0
    value = int(Decimal(str(amount)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,}".replace(",", ".")


def format_number(value) -> str:
    """Whole numbers with dot thousands: 26158 -> "26.158"."""
    return f"{int(value or 0):,}".replace(",", ".")


def format_date(value) -> str:
    """Dates as day-month-year: 2025-10-26 -> "26-10-2025"; empty for None."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime.datetime):
        from django.utils import timezone

        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.strftime("%d-%m-%Y %H:%M")
    return value.strftime("%d-%m-%Y")


_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    """Text for a CSV cell that a spreadsheet will not run as a formula (OWASP CSV injection): a leading
    `= + - @`, tab or carriage return gets a `'` in front. Every CSV staff download goes through it."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text
