"""Warm a fresh process before its first request (gunicorn calls `warm_up()` in every worker it starts).

A new worker would otherwise pay, on its first requests, for what every later request finds ready: importing the
URLconf and every view, building the template engine (it imports every template tag library) and compiling the
templates, loading the catalogue, the precomputed proposal statistics and the ranking model, the first
compilation of the RFM and history queries, and the dashboard's figures. `warm_up` does all of that once,
read-only: it builds one proposal for a customer with history with the local engine and renders its email, but
stores nothing (only the cache gets the dashboard figures).
"""

from __future__ import annotations

import datetime
import logging
import time
from dataclasses import dataclass

from django.template.loader import get_template
from django.urls import get_resolver
from django.utils import timezone

from crm.models import CustomerSummary
from crm.services.dashboard import warm_figures
from crm.services.proposals.errors import NoActiveServices
from crm.services.proposals.local import LocalBackend
from crm.services.proposals.service import build_request, render_email
from ventas.models import Cliente

logger = logging.getLogger(__name__)

# Templates every worker renders sooner or later: the proposal email and the pages staff open first.
TEMPLATES = [
    "crm/emails/propuesta.html",
    "crm/emails/propuesta.txt",
    "crm/emails/propuesta_asunto.txt",
    "base.html",
    "crm/dashboard.html",
    "crm/buscar.html",
    "crm/cliente_detalle.html",
]


@dataclass(frozen=True)
class WarmUpReport:
    seconds: float
    proposal: bool  # False when no customer has history yet (nothing to rehearse)


def warm_up(*, today: datetime.date | None = None) -> WarmUpReport:
    """Load what the first requests of a process need; rehearse one proposal without storing it."""
    started = time.perf_counter()
    today = today or timezone.localdate()
    get_resolver().url_patterns  # noqa: B018 imports crm.urls and every view
    for name in TEMPLATES:
        get_template(name)
    rehearsed = _rehearse_proposal(today)
    warm_figures(today)
    report = WarmUpReport(seconds=time.perf_counter() - started, proposal=rehearsed)
    logger.info("Process warmed up in %.0f ms (proposal rehearsed: %s)", report.seconds * 1000, rehearsed)
    return report


def _rehearse_proposal(today: datetime.date) -> bool:
    cliente_id = (
        CustomerSummary.objects.filter(frequency__gt=0).order_by("cliente_id").values_list("cliente_id", flat=True)
    ).first()
    if cliente_id is None:
        return False
    cliente = Cliente.objects.get(pk=cliente_id)
    try:
        request = build_request(cliente, today)
    except NoActiveServices:  # an empty catalogue: proposals answer 409 until services are activated
        return False
    draft = LocalBackend().generate(request)
    offer = {
        "title": draft.offer.title,
        "description": draft.offer.description,
        "discount": draft.offer.discount,
        "valid_until": today.isoformat(),
        "code": "WARMUP",
    }
    render_email(cliente=cliente, draft=draft, offer=offer)
    return True
