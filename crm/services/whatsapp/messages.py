"""The tray's messages: template variables per customer, template choice and filling, the stop line, the
optional rewrite by the proposal backend, and the click-to-chat link.

Rules:
- A template's variables must all be known and all non-empty for the customer, or the template is not used for
  them. Among the usable templates of the tier, those written for the customer's segment win over general ones;
  ties rotate deterministically by day and customer, so each template gets a comparable share.
- Every message ends with STOP_LINE (appended if the text does not already end with it).
- Rewrite (WHATSAPP_REWRITE): the backend's text replaces the template's only if it is plain text (no markup,
  no leftover variables) shorter than REWRITE_MAX_CHARS and still holds the offer code; on any error or other
  output the template text stays.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.db import connection
from django.db.models import Count, OuterRef, Subquery

from crm.models import PlantillaWhatsApp
from crm.services.proposals import ProposalError, get_backend
from ventas.formatting import format_date
from ventas.models import Cliente, ServiceHistory

logger = logging.getLogger(__name__)

STOP_LINE = "Si prefiere no recibir mensajes por WhatsApp, responda NO"
VARIABLES = ("nombre", "ultimo_servicio", "acompanante", "sugerencia", "codigo", "vigencia")
REWRITE_MAX_CHARS = 600
_NON_DIGITS = re.compile(r"\D")
_MARKUP = re.compile(r"[<>{}]|```|\*\*|https?://")

Rewriter = Callable[[str], str]


def template_variables(text: str) -> list[str] | None:
    """The variable names a template uses; None when the text is not a valid template (stray brace,
    format spec, unknown variable)."""
    names = []
    try:
        for _, name, spec, conversion in string.Formatter().parse(text):
            if name is None:
                continue
            if name not in VARIABLES or spec or conversion:
                return None
            names.append(name)
    except ValueError:
        return None
    return names


def fill(text: str, context: dict[str, str]) -> str | None:
    """The template filled for one customer, or None when a variable would be empty (or the text is invalid)."""
    names = template_variables(text)
    if names is None or any(not (context.get(name) or "").strip() for name in names):
        return None
    return text.format_map({name: context[name].strip() for name in names})


def with_stop_line(text: str) -> str:
    text = text.strip()
    if text.endswith(STOP_LINE) or text.endswith(STOP_LINE + "."):
        return text
    return f"{text}\n\n{STOP_LINE}."


def wa_link(phone: str, message: str) -> str:
    """`https://wa.me/<digits>?text=<url-encoded message>` (click-to-chat; no API needed)."""
    return f"https://wa.me/{_NON_DIGITS.sub('', phone or '')}?text={quote(message, safe='')}"


def draw(day: datetime.date, cliente_id: int, salt: str) -> float:
    """A number in [0, 1) fixed by day and customer: the same tray rebuilt draws the same."""
    digest = hashlib.sha256(f"{salt}:{day.isoformat()}:{cliente_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def offer_code(day: datetime.date, cliente_id: int) -> str:
    digest = hashlib.blake2b(
        f"{day.isoformat()}:{cliente_id}".encode(), key=settings.SECRET_KEY.encode()[:64], digest_size=4
    ).hexdigest()
    return f"WA-{digest.upper()}"


def first_name(nombre: str) -> str:
    parts = (nombre or "").split()
    return parts[0].capitalize() if parts else ""


def customer_facts(ids: list[int]) -> dict[int, dict]:
    """Name, phone, last service, favourite category and usual companion of each customer (two queries).

    The companion is the customer who most often shares a booking (same `reserva_id` on the same day) with them.
    """
    if not ids:
        return {}
    real = ServiceHistory.objects.with_real_dates()
    last_service = real.filter(cliente_id=OuterRef("pk")).order_by("-service_date", "-id").values("service_name")[:1]
    favourite = (
        ServiceHistory.objects.filter(cliente_id=OuterRef("pk"))
        .order_by()
        .values("service_type")
        .annotate(n=Count("id"))
        .order_by("-n", "service_type")
        .values("service_type")[:1]
    )
    rows = (
        Cliente.objects.filter(pk__in=ids)
        .annotate(last_service=Subquery(last_service), favourite=Subquery(favourite))
        .values("pk", "nombre", "telefono", "last_service", "favourite")
    )
    facts = {row["pk"]: {**row, "companion": ""} for row in rows}
    for cliente_id, nombre in _companions(list(facts)):
        if not facts[cliente_id]["companion"]:
            facts[cliente_id]["companion"] = nombre
    return facts


def _companions(ids: list[int]) -> list[tuple[int, str]]:
    """(customer, companion name) pairs, most shared bookings first per customer. Joining on the day as well as
    the booking lets the database use the history's date index (`reserva_id` has none)."""
    history, clientes = ServiceHistory._meta.db_table, Cliente._meta.db_table
    placeholders = ", ".join(["%s"] * len(ids))
    sql = (
        f"SELECT h1.cliente_id, c.nombre, COUNT(*) AS n FROM {history} h1 "  # noqa: S608 - fixed names; values are parameters
        f"JOIN {history} h2 ON h2.service_date = h1.service_date AND h2.reserva_id = h1.reserva_id "
        "AND h2.cliente_id <> h1.cliente_id "
        f"JOIN {clientes} c ON c.id = h2.cliente_id "
        f"WHERE h1.cliente_id IN ({placeholders}) AND h1.reserva_id IS NOT NULL AND h1.reserva_id <> '' "
        "GROUP BY h1.cliente_id, c.nombre ORDER BY h1.cliente_id, n DESC, c.nombre"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, ids)
        return [(cliente_id, nombre) for cliente_id, nombre, _ in cursor.fetchall()]


def context_for(facts: dict, *, suggestion: str, code: str, valid_until: datetime.date) -> dict[str, str]:
    favourite = facts.get("favourite") or ""
    return {
        "nombre": first_name(facts.get("nombre") or ""),
        "ultimo_servicio": facts.get("last_service") or "",
        "acompanante": first_name(facts.get("companion") or ""),
        "sugerencia": suggestion or (f"volver a disfrutar de {favourite}" if favourite else ""),
        "codigo": code,
        "vigencia": format_date(valid_until),
    }


@dataclass(frozen=True)
class Written:
    text: str
    template: PlantillaWhatsApp | None


def choose_and_fill(
    templates: list[PlantillaWhatsApp], *, tier: str, segment: str, context: dict, day: datetime.date, cliente_id: int
) -> Written | None:
    """The message from the best usable template of the tier (rules in the module docstring); None if none."""
    usable = []
    for template in templates:
        if template.tier != tier or (template.segment and template.segment != segment):
            continue
        text = fill(template.texto, context)
        if text is not None:
            usable.append((0 if template.segment else 1, template.pk, template, text))
    if not usable:
        return None
    best = min(rank for rank, *_ in usable)
    usable = [row for row in usable if row[0] == best]
    _, _, template, text = usable[int(draw(day, cliente_id, "template") * len(usable))]
    return Written(text, template)


def active_templates() -> list[PlantillaWhatsApp]:
    return list(PlantillaWhatsApp.objects.filter(activa=True).order_by("pk"))


def rewrite(text: str, *, rewriter: Rewriter | None, code: str = "") -> str:
    """The backend's rewrite of `text` when acceptable, else `text` (rules in the module docstring)."""
    if rewriter is None:
        return text
    try:
        candidate = rewriter(text)
    except Exception as error:  # any backend failure keeps the template text (logged)
        logger.warning("WhatsApp rewrite failed, template text kept: %s", error)
        return text
    if not isinstance(candidate, str):
        return text
    candidate = candidate.strip()
    if not candidate or len(candidate) >= REWRITE_MAX_CHARS or _MARKUP.search(candidate):
        return text
    if code and code not in candidate:
        return text
    return candidate


def configured_rewriter() -> Rewriter | None:
    """The proposal backend's `rewrite_whatsapp(text) -> str` when WHATSAPP_REWRITE is on and it offers one."""
    if not settings.WHATSAPP_REWRITE:
        return None
    try:
        backend = get_backend()
    except ProposalError as error:  # a misconfigured backend must not stop the tray
        logger.warning("WhatsApp rewrite disabled: %s", error)
        return None
    return getattr(backend, "rewrite_whatsapp", None)
