"""Parsers for the cells of the legacy exports: dates, amounts, years, quantities, categories, service names.

Every parser takes the raw cell (a string from CSV, or a str/int/float/datetime from .xlsx) and either returns
a clean value or raises `CellError` with a Spanish message that ends up in the rejection report.
"""

import datetime
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from ventas.normalize import search_key


class CellError(ValueError):
    """A cell that cannot be understood; the message is shown to staff in the report."""


# Spreadsheet error values as Excel/LibreOffice/Google Sheets write them into exports.
SPREADSHEET_ERRORS = frozenset(
    {"#REF!", "#N/A", "#NA", "#VALUE!", "#DIV/0!", "#NAME?", "#NULL!", "#NUM!", "#ERROR!", "#SPILL!", "#CALC!"}
)


def cell_text(value) -> str:
    """The cell as trimmed text; numbers from .xlsx lose a trailing `.0` (phones, years, amounts)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def is_spreadsheet_error(value) -> bool:
    return isinstance(value, str) and "#" in value and value.strip().upper() in SPREADSHEET_ERRORS


# Dates ---------------------------------------------------------------------------------------------------------

_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_DAY_FIRST = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?$")
_EXCEL_EPOCH = datetime.date(1899, 12, 30)


def parse_date(value) -> datetime.date | None:
    """`2022-03-06`, `06/03/2022` (day first, as in Chile), `6-3-22`, xlsx dates or Excel serial numbers.

    Returns None for a blank cell; raises CellError for anything else that is not a real calendar date.
    """
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    text = cell_text(value)
    if not text:
        return None
    try:
        if match := _ISO_DATE.match(text):
            year, month, day = (int(g) for g in match.groups())
            return datetime.date(year, month, day)
        if match := _DAY_FIRST.match(text):
            day, month, year = (int(g) for g in match.groups())
            if year < 100:
                year += 2000
            return datetime.date(year, month, day)
    except ValueError as exc:
        raise CellError(f"fecha imposible: «{text}»") from exc
    if text.isdigit() and 30_000 <= int(text) <= 80_000:  # an Excel serial date that lost its format
        return _EXCEL_EPOCH + datetime.timedelta(days=int(text))
    raise CellError(f"fecha no reconocida: «{text}» (se espera 2022-03-06 o 06/03/2022)")


# Numbers -------------------------------------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
_QUANTITY = re.compile(r"(\d+)(?:[.,]0+)?")
_THOUSANDS = re.compile(r"^\d{1,3}(?:([.,])\d{3})(?:\1\d{3})*$")
_DECIMAL = re.compile(r"^\d+(?:[.,]\d{1,2})?$")
MAX_AMOUNT = Decimal("9999999999.99")  # NUMERIC(12, 2) in the legacy table


def parse_amount(value) -> Decimal:
    """CLP amount: `50000`, `50,000`, `50.000`, `$50.000`, `$ 50.000 CLP` and `0` all parse; blank is 0.

    A group of exactly three digits after `.` or `,` is a thousands separator (CLP has no cents in practice);
    one or two digits after it are decimals (`45000,5`, or `50000.0` from a spreadsheet float).
    """
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        amount = Decimal(str(value))
    else:
        text = cell_text(value)
        compact = _SPACES.sub("", text).replace("$", "").upper().removesuffix("CLP")
        if not compact:
            return Decimal(0)
        negative = compact.startswith("-")
        compact = compact.lstrip("-")
        if _THOUSANDS.match(compact):
            digits = compact.replace(".", "").replace(",", "")
        elif _DECIMAL.match(compact):
            digits = compact.replace(",", ".")
        else:
            raise CellError(f"valor no reconocido: «{text}»")
        try:
            amount = Decimal(digits)
        except InvalidOperation as exc:  # pragma: no cover - the regexes only let digits through
            raise CellError(f"valor no reconocido: «{text}»") from exc
        if negative:
            amount = -amount
    if amount < 0:
        raise CellError(f"valor negativo: «{cell_text(value)}»")
    if amount > MAX_AMOUNT:
        raise CellError(f"valor demasiado grande: «{cell_text(value)}»")
    return amount.quantize(Decimal("0.01"))


def parse_year(value) -> int | None:
    """`2022`, `2,022` or `2.022` (a year formatted as a number with thousands) -> 2022; blank -> None."""
    text = re.sub(r"[\s.,]", "", cell_text(value))
    if not text:
        return None
    if not text.isdigit() or not 1900 <= int(text) <= 2100:
        raise CellError(f"año no reconocido: «{cell_text(value)}»")
    return int(text)


def parse_quantity(value) -> int:
    """Whole quantity; blank means 1 (the legacy system left it empty for single services)."""
    text = cell_text(value)
    if not text:
        return 1
    if match := _QUANTITY.fullmatch(text):
        quantity = int(match.group(1))
        if quantity <= 100_000:
            return quantity
    raise CellError(f"cantidad no reconocida: «{text}»")


# Services and categories ---------------------------------------------------------------------------------------

_VOID = re.compile(r"\b(anulad[oa]s?|eliminad[oa]s?|cancelad[oa]s?)\b")


@lru_cache(maxsize=20_000)
def void_reason(service_name: str) -> str | None:
    """Lines the legacy system kept for cancelled services (`Servicio Anulado`, `tina eliminada`)."""
    if _VOID.search(search_key(service_name)):
        return f"línea anulada en el sistema anterior: «{service_name}»"
    return None


CATEGORY_RULES = [
    # Hot tubs first: "Hidromasaje" must never fall under massages.
    ("Tinas", re.compile(r"\b(tinas?|tinajas?|hidromasajes?)\b")),
    ("Cabañas", re.compile(r"\b(cabanas?)\b")),
    ("Masajes", re.compile(r"\b(masajes?|facial(es)?|drenajes?|reflexologias?)\b")),
    ("Ambientaciones", re.compile(r"\b(ambientacion(es)?|decoracion(es)?|decorad[oa]s?)\b")),
]
_FILE_CATEGORIES = {search_key(name): name for name, _ in CATEGORY_RULES} | {
    "tina": "Tinas",
    "cabana": "Cabañas",
    "masaje": "Masajes",
    "ambientacion": "Ambientaciones",
}


@lru_cache(maxsize=20_000)
def categorize(service_name: str, file_category: str = "") -> str:
    """Category of a history line: rules on the service name first, then the file's category, else `Otros`."""
    key = search_key(service_name)
    for category, pattern in CATEGORY_RULES:
        if pattern.search(key):
            return category
    file_key = search_key(file_category)
    if not file_key or is_spreadsheet_error(file_category):
        return "Otros"
    return _FILE_CATEGORIES.get(file_key) or " ".join(file_category.split()).title()[:100]


_PRICE_SUFFIX = re.compile(r"\s*\$?\s*\d{1,3}(?:[.,]\d{3})+\s*$|\s*\$?\s*\d{4,}\s*$")
# Abbreviations the front desk used for catalogue services.
_ABBREVIATIONS = {"rel.": "Relajación", "rel": "Relajación", "desc.": "Descontracturante", "desc": "Descontracturante"}
# Words that belong to service names; a trailing capitalised word outside this set, after "Masaje", is a therapist.
_SERVICE_WORDS_TEXT = """
masaje masajes relajación relajacion descontracturante descontracturantes piedras calientes pareja parejas
deportivo mixto reductivo prenatal express exprés facial drenaje linfático reflexología podal cuerpo completo
espalda piernas aromaterapia aromático tina tinas hidromasaje cabaña premium vip individual doble o y con de del
la el en para sueco tailandés thai shiatsu hot stone
"""
SERVICE_WORDS = frozenset(search_key(word) for word in _SERVICE_WORDS_TEXT.split())


class ServiceCatalog:
    """Maps cleaned service names to the catalogue's `Servicio.nombre` when they clearly match.

    Aliases (`ServicioAlias`) map to their service like its own name. `key_name` cleans with `key_names` only
    (the services staff created, without aliases): history keys stored by earlier imports were computed that
    way, so learning services or merging them never changes the natural key of a line already imported.
    """

    def __init__(self, names, aliases: dict[str, str] | None = None, key_names=None):
        self.by_key = {search_key(name): name for name in names}
        for alias_key, target in (aliases or {}).items():
            self.by_key.setdefault(alias_key, target)
        self.words = SERVICE_WORDS | {word for key in self.by_key for word in key.split()}
        self._cleaned: dict[str, str] = {}
        self._keys = ServiceCatalog(key_names) if key_names is not None else None

    @classmethod
    def load(cls) -> "ServiceCatalog":
        from ventas.models import Servicio, ServicioAlias

        services = Servicio.objects.values_list("nombre", "origen")
        aliases = dict(ServicioAlias.objects.values_list("clave", "servicio__nombre"))
        staff = [name for name, origen in services if origen == Servicio.Origen.ADMIN]
        return cls([name for name, _ in services], aliases=aliases, key_names=staff)

    def clean(self, raw: str) -> str:
        if raw not in self._cleaned:
            if len(self._cleaned) > 100_000:  # bounded: free-text names must not grow memory with the file
                self._cleaned.clear()
            self._cleaned[raw] = self._clean(raw)
        return self._cleaned[raw]

    def key_name(self, raw: str) -> str:
        """The cleaned name that goes into a history line's natural key (see the class docstring)."""
        return self._keys.clean(raw) if self._keys is not None else self.clean(raw)

    def _clean(self, raw: str) -> str:
        """`Masaje Rel. o Desc. Diana` -> `Masaje Relajación o Descontracturante` (the catalogue name);
        `Masaje Valentina 35.000` -> `Masaje`. Unknown services keep their name without the price.
        """
        name = " ".join(raw.split())
        name = _PRICE_SUFFIX.sub("", name).strip() or name
        tokens = [_ABBREVIATIONS.get(token.lower(), token) for token in name.split()]
        # Drop up to two trailing words (therapist, "35.000" already gone) while looking for a catalogue name.
        for drop in range(min(3, len(tokens))):
            candidate = search_key(" ".join(tokens[: len(tokens) - drop]))
            if candidate in self.by_key:
                return self.by_key[candidate]
        if len(tokens) >= 2 and search_key(tokens[0]) in {"masaje", "masajes"}:
            last = tokens[-1]
            if last[:1].isupper() and last.isalpha() and search_key(last) not in self.words:
                tokens = tokens[:-1]
        return " ".join(tokens)[:255]
