"""CSV downloads as a Chilean-locale spreadsheet opens them: UTF-8 with a BOM (so accents survive) and `;` as
the separator (the comma is the decimal mark there); `?sep=,` gives comma-separated files with decimal points.

Every staff CSV download goes through `csv_response` + `csv_writer`; text cells still go through `csv_safe`.
"""

import csv

from django.http import HttpResponse

BOM = "\ufeff"
DEFAULT_SEPARATOR = ";"
SEPARATORS = (";", ",")
SEPARATOR_CHOICES = [("", "")] + [(sep, sep) for sep in SEPARATORS]
SEPARATOR_ERROR = "El separador del CSV debe ser «;» (por defecto) o «,»."


def csv_response(filename: str) -> HttpResponse:
    """An attachment response that starts with the UTF-8 BOM; write rows into it with `csv_writer`."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.write(BOM)
    return response


def csv_writer(out, sep: str = DEFAULT_SEPARATOR):
    if sep not in SEPARATORS:
        raise ValueError(f"unsupported CSV separator {sep!r}")
    return csv.writer(out, delimiter=sep)


def csv_decimal(value: float, sep: str = DEFAULT_SEPARATOR, places: int = 4) -> str:
    """A decimal for the file's locale: `0,2500` with `;` (Chilean spreadsheets), `0.2500` with `,`."""
    text = f"{value:.{places}f}"
    return text.replace(".", ",") if sep == ";" else text
