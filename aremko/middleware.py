"""Refuse query strings no page can use, before they reach a database that would fail on them.

Every CRM form validates its own input, but the Django admin passes changelist filters (`?created_at__year=`,
`?categoria__exact=`, ...) straight to the ORM: a number beyond 64 bits overflows SQLite and PostgreSQL, a
year past 9999 overflows Python's dates, and a NUL byte is refused by PostgreSQL. Those were 500s under
fuzzing; here they become a 400 with a Spanish message, for every URL at once.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.http import HttpResponseBadRequest, HttpResponseNotFound, JsonResponse
from django.template.loader import render_to_string

from crm.views.access import wants_json

INTEGER = re.compile(r"\s*[-+]?[0-9]+\s*")
LARGEST_INTEGER = 2**63 - 1  # a BIGINT column
LARGEST_YEAR = 9999
MESSAGE = "La dirección tiene un valor no válido (un número demasiado grande o un carácter nulo)."
# Free text where a long number is a legitimate search (the form or the admin's search handle it).
FREE_TEXT = {"q"}


def bad_query_value(name: str, value: str) -> bool:
    if "\x00" in name or "\x00" in value:
        return True
    if name in FREE_TEXT or not INTEGER.fullmatch(value):
        return False
    number = abs(int(value))
    return number > LARGEST_INTEGER or (name.endswith("__year") and number > LARGEST_YEAR)


class RejectUnusableQueryMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if any(bad_query_value(name, value) for name, values in request.GET.lists() for value in values):
            if wants_json(request):
                return JsonResponse({"ok": False, "error": MESSAGE}, status=400)
            return HttpResponseBadRequest(render_to_string("400.html", {"message": MESSAGE}, request))
        return self.get_response(request)


class SpanishNotFoundMiddleware:
    """In DEBUG, Django answers an unknown URL or an Http404 with its yellow English technical page; show the
    project's Spanish 404 instead (the technical page stays for 500s). Without DEBUG it does nothing: Django
    already renders templates/404.html. Place it after AuthenticationMiddleware (the page shows the menu)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.DEBUG and response.status_code == 404 and _technical_page(response):
            return HttpResponseNotFound(render_to_string("404.html", request=request))
        return response


def _technical_page(response) -> bool:
    return (
        not response.streaming
        and response.get("Content-Type", "").startswith("text/html")
        and b"<code>DEBUG = True</code>" in response.content
    )
