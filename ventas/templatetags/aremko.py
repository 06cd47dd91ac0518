"""Template filters that call the same formatting helpers as the Python code."""

from django import template

from ventas.formatting import format_clp, format_date, format_number

register = template.Library()

register.filter("clp", format_clp)
register.filter("num", format_number)
register.filter("fecha", format_date)
