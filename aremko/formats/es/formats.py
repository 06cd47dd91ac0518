"""Chilean Spanish formats for everything Django localizes (the admin above all): `25-11-2026`,
`25-11-2026 14:05`, `26.158`. Django's own `es` module writes "25 de noviembre de 2026" and a non-breaking
space for thousands; `FORMAT_MODULE_PATH` puts this module first for `es-cl` (and `es`). The CRM's pages
format with `ventas.formatting` and agree with it."""

from django.conf import settings

DATE_FORMAT = "d-m-Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "d-m-Y H:i"
YEAR_MONTH_FORMAT = "m-Y"
MONTH_DAY_FORMAT = "d-m"
SHORT_DATE_FORMAT = "d-m-Y"
SHORT_DATETIME_FORMAT = "d-m-Y H:i"
FIRST_DAY_OF_WEEK = 1  # Monday

# What staff type in forms (the first is also what date widgets write).
DATE_INPUT_FORMATS = settings.DATE_INPUT_FORMATS
DATETIME_INPUT_FORMATS = [
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d-%m-%Y",
    "%d/%m/%Y",
    "%Y-%m-%d",
]
DECIMAL_SEPARATOR = ","
THOUSAND_SEPARATOR = "."
NUMBER_GROUPING = 3
