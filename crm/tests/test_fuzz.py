"""Hostile input on every URL pattern never gives a 500.

The walk covers every pattern of the URL configuration (CRM pages, the unsubscribe link, login, the admin
with its changelist filters), as an anonymous visitor, as staff in a role and as a superuser, with GET and
POST, and with the inputs that broke the site under attack: huge integers, digits that are not ASCII
(`²`), NUL bytes, very long strings, impossible dates, `next=abc`, and bodies that are not what the view
expects. Any answer is fine except a server error; the test reports every failing request at once.

`python -m pytest -q crm/tests/test_fuzz.py -s` prints the number of requests and of 500s.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from aremko.pytest_plugin import make_role_user
from crm.models import Campaign, CampaignRecipient
from crm.roles import ADMINISTRACION
from crm.services.mail import unsubscribe_token
from crm.tests.builders import add_history, make_cliente
from crm.tests.mailtools import make_proposal
from ventas.models import Cliente, ImportRun

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999"
NUL = "a\x00b"
LONG = "x" * 3000
# One value of each kind that broke a view before (or could): every parameter of a request gets the same one.
HOSTILE = [HUGE, "²", NUL, LONG, "2026-13-45", "abc", "-1", "' OR 1=1 --<script>"]
# Every query or form field a CRM page, the login or the admin reads.
PARAMETERS = [
    "q", "segmento", "page", "p", "estado", "motor", "desde", "hasta", "campana", "categoria", "anio", "formato",
    "propuesta", "next", "proposal_id", "confirmar", "limite", "sin_contacto_dias", "modo", "username",
    "password", "o", "e", "all", "_to_field", "_popup", "_changelist_filters", "term", "app_label", "model_name",
    "field_name", "segment", "action", "index", "select_across",
]  # fmt: skip
# Lookups the admin's filters and date hierarchy put in the query string, per kind of field.
DATE_LOOKUPS = ["__gte", "__lt", "__year", "__month", "__day", "__isnull"]
OTHER_LOOKUPS = ["", "__exact", "__isnull", "__in"]
RELATION_LOOKUPS = ["", "__exact", "__id__exact", "__isnull", "__in"]

HOSTILE_PATHS = [(HUGE, HUGE), ("²", "0"), (NUL, "0")]  # (text, number) for placeholders
CONVERTER = re.compile(r"<(?:(?P<kind>\w+):)?(?P<name>\w+)>")


@dataclass(frozen=True)
class Shot:
    identity: str
    method: str
    url: str
    data: dict | None = None
    body: bytes | None = None
    content_type: str = ""

    def __str__(self):
        shown = {k: (v if len(str(v)) < 40 else str(v)[:37] + "...") for k, v in (self.data or {}).items()}
        return f"{self.identity} {self.method} {self.url[:120]!r} {shown or self.body!r}"


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def routes() -> list[str]:
    return list(_walk(get_resolver().url_patterns))


def _fill(route: str, value) -> str:
    """A concrete path for a route; `value(kind, name, route)` gives each placeholder's text."""
    route = route.replace("^", "").replace("$", "")
    route = re.sub(r"\(\?P<app_label>[^)]*\)", "ventas", route)
    route = re.sub(r"\(\?P<url>[^)]*\)", "no-existe/", route)
    return "/" + CONVERTER.sub(lambda match: value(match.group("kind"), match.group("name"), route), route)


def _hostile(text: str, number: str):
    return lambda kind, name, route: number if kind == "int" else text


def admin_filter_parameters(model_admin: admin.ModelAdmin) -> list[tuple[str, list[str]]]:
    """Query-string parameters the changelist's filters and date hierarchy accept, from the model's fields,
    each with the hostile values that suit it."""
    names = []
    for entry in model_admin.list_filter:
        if isinstance(entry, str):
            names.append(entry)
        elif isinstance(entry, (tuple, list)):
            names.append(entry[0])
        elif getattr(entry, "parameter_name", None):
            names.append(entry.parameter_name)
    if model_admin.date_hierarchy:
        names.append(model_admin.date_hierarchy)
    opts = model_admin.model._meta
    parameters = []
    for name in dict.fromkeys(names):
        try:
            field = opts.get_field(name)
        except Exception:  # a SimpleListFilter's own parameter
            parameters.append((name, [HUGE, "²", NUL]))
            continue
        if isinstance(field, (models.DateField, models.DateTimeField)):
            parameters += [(name + lookup, [HUGE, "99999", "2026-13-45", NUL]) for lookup in DATE_LOOKUPS]
        else:
            lookups = RELATION_LOOKUPS if field.is_relation else OTHER_LOOKUPS
            parameters += [(name + lookup, [HUGE, "²", NUL]) for lookup in lookups]
    return parameters


def _requests(identities, path, hostile_sets) -> list[Shot]:
    return [
        Shot(identity, method, path, dict.fromkeys(PARAMETERS, hostile))
        for hostile in hostile_sets
        for identity in identities
        for method in ("GET", "POST")
    ]


def shots(valid) -> list[Shot]:
    """The whole campaign of requests; deterministic, so a failure reproduces.

    CRM and login routes get every hostile value in every parameter; admin routes, many and alike, get fewer.
    A route with placeholders is also called with hostile placeholders (a huge number, `²`, a NUL byte).
    """
    planned: list[Shot] = []
    for route in routes():
        valid_path = _fill(route, valid)
        hostile_paths = []
        if CONVERTER.search(route):
            hostile_paths = [_fill(route, _hostile(text, number)) for text, number in HOSTILE_PATHS]
            hostile_paths = list(dict.fromkeys(hostile_paths))
        if route.startswith("admin/") and "login" not in route:
            planned += _requests(["staff"], valid_path, [HUGE])[:1]
            planned += _requests(["superuser"], valid_path, [HUGE])
            planned += _requests(["superuser"], valid_path, [NUL, "²"])[::2]  # GET only
            planned += [Shot("superuser", "GET", path) for path in hostile_paths]
            continue
        # Anonymous visitors are mostly sent to the login page, which itself gets every value.
        planned += _requests(["anonymous"], valid_path, HOSTILE if "login" in route else HOSTILE[:2])
        planned += _requests(["staff"], valid_path, HOSTILE)
        planned += _requests(["superuser"], valid_path, HOSTILE[:2])
        for path in hostile_paths:
            planned += _requests(["anonymous", "staff"], path, [HUGE])
        planned.append(Shot("staff", "POST", valid_path, body=b"{no es json", content_type="application/json"))
        planned.append(Shot("staff", "POST", valid_path, body=b"\x00\xff\xfe", content_type="text/plain"))
    # Admin changelists: each filter parameter alone (one bad parameter makes the admin ignore the others).
    for model, model_admin in admin.site._registry.items():
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for parameter, values in admin_filter_parameters(model_admin):
            planned += [Shot("superuser", "GET", url, {parameter: hostile}) for hostile in values]
    # Lists with only the page number broken.
    for url in ["/ventas/crm/buscar/", "/ventas/crm/propuestas/", "/ventas/crm/campanas/", "/admin/crm/proposal/"]:
        for page in (HUGE, "-1", "²", NUL, "1e9"):
            planned.append(Shot("staff", "GET", url, {"page": page, "p": page}))
    return planned


@pytest.fixture
def world(django_user_model):
    """One of everything a URL can point at, so valid ids reach the views' deeper code."""
    cliente = make_cliente("Cliente Fuzz", email="fuzz@example.org")
    add_history(cliente, service_date=datetime.date(2026, 1, 10))
    proposal = make_proposal(cliente)
    campaign = Campaign.objects.create(segment="at_risk", status=Campaign.Status.REVIEW)
    recipient = CampaignRecipient.objects.create(
        campaign=campaign, cliente=cliente, proposal=proposal, status=CampaignRecipient.Status.GENERATED
    )
    run = ImportRun.objects.create(kind=ImportRun.Kind.CLIENTS, file_name="fuzz.csv")
    staff = make_role_user("fuzz-staff", ADMINISTRACION)
    superuser = django_user_model.objects.create_superuser("fuzz-root", password="clave-segura-123")
    by_name = {
        "cliente_id": cliente.pk,
        "proposal_id": proposal.pk,
        "campaign_id": campaign.pk,
        "recipient_id": recipient.pk,
        "pk": run.pk,
        "id": staff.pk,
        "token": unsubscribe_token(cliente.pk),
    }

    def valid(kind, name, route):
        """The id of an existing object for this placeholder (admin: of the route's model)."""
        if name in by_name:
            return str(by_name[name])
        admin_model = re.match(r"admin/(\w+)/(\w+)/", route)
        if admin_model:
            model = apps.get_model(*admin_model.groups())
            first = model._default_manager.order_by("pk").first()
            return str(first.pk) if first else "1"
        if name == "content_type_id":
            return str(ContentType.objects.get_for_model(Cliente).pk)
        return str(cliente.pk)

    return {"valid": valid, "staff": staff, "superuser": superuser}


def fire(clients: dict[str, Client], users: dict, shot: Shot):
    client = clients[shot.identity]
    if shot.identity != "anonymous" and "_auth_user_id" not in client.session:
        client.force_login(users[shot.identity])  # the walk passes through the logout URLs
    if shot.body is not None:
        return client.generic(shot.method, shot.url, shot.body, content_type=shot.content_type)
    if shot.method == "GET":
        return client.get(shot.url, shot.data)
    return client.post(shot.url, shot.data)


def test_no_url_answers_500_to_hostile_input(world, settings, capsys):
    settings.PROPOSAL_RATE_LIMIT_PER_MINUTE = 1_000_000  # reach the views, not the limiter
    settings.AXES_FAILURE_LIMIT = 1_000_000
    users = {"staff": world["staff"], "superuser": world["superuser"]}
    clients = {name: Client(raise_request_exception=True) for name in ("anonymous", "staff", "superuser")}
    planned = shots(world["valid"])
    failures = []
    for shot in planned:
        try:
            response = fire(clients, users, shot)
        except Exception as exc:  # the test client re-raises what would have been a 500
            failures.append(f"{shot} -> {type(exc).__name__}: {str(exc)[:160]}")
            continue
        if response.status_code >= 500 and response.status_code != 503:
            failures.append(f"{shot} -> {response.status_code}")
    with capsys.disabled():
        print(f"\nfuzz: {len(planned)} requests over {len(routes())} URL patterns, {len(failures)} × 500")
    assert len(planned) >= 1_500
    assert not failures, "\n".join(failures[:40]) + f"\n... {len(failures)} failing requests"
