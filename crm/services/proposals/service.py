"""generate_proposal: pick the engine from settings, ask it, validate, render the email and store it."""

from __future__ import annotations

import datetime
import html
import logging
import re
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.module_loading import import_string
from django.utils.safestring import mark_safe

from crm.models import Proposal
from crm.services.proposals import local
from crm.services.proposals.errors import (
    NoActiveServices,
    ProfilingRestricted,
    ProposalBackendError,
    ProposalConfigurationError,
)
from crm.services.proposals.schema import MAX_RECOMMENDATIONS, UNSUBSCRIBE_MARKER, Draft, Recommendation
from crm.services.recommender import confidence, scoring
from crm.services.recommender.catalogue import Catalogue, load_catalogue
from crm.services.recommender.features import FeatureBuilder
from crm.services.recommender.history import customer_history
from crm.services.recommender.model import RankingModel, current_model
from crm.services.recommender.stats import cached_global_stats
from crm.services.rfm import RFMResult, customer_rfm
from ventas.models import Cliente

logger = logging.getLogger(__name__)

# PROPOSAL_BACKEND -> backend class; each class builds itself from settings with `from_settings()`.
BACKENDS = {
    "local": "crm.services.proposals.local.LocalBackend",
    "anthropic": "crm.services.proposals.anthropic_backend.AnthropicBackend",
    "remote": "crm.services.proposals.remote.RemoteBackend",
}

RESTRICTED_MESSAGE = (
    "Este cliente pidió bloquear el tratamiento de sus datos o se opuso al perfilamiento: "
    "no se generan propuestas hasta que se levante desde su perfil."
)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: codes are read aloud at reception


@dataclass(frozen=True)
class ProposalRequest:
    """Everything a backend may use, computed once by the recommender."""

    cliente: Cliente
    as_of: datetime.date
    rfm: RFMResult
    profile: dict[str, Any]
    insights: dict[str, str]
    candidates: list[Recommendation]  # the recommender's ranking, best first (never empty)
    catalogue: Catalogue
    max_discount: int
    ranking_model: RankingModel  # the stored model (or built-in defaults) that ranked the candidates


class ProposalBackend(Protocol):
    name: str

    def generate(self, request: ProposalRequest) -> Draft: ...


def get_backend(name: str | None = None) -> ProposalBackend:
    """The backend called `name` (default: settings.PROPOSAL_BACKEND), configured from settings."""
    name = name or settings.PROPOSAL_BACKEND
    try:
        path = BACKENDS[name]
    except KeyError:
        raise ProposalConfigurationError(
            f"El motor de propuestas «{name}» no existe: use {', '.join(BACKENDS)}.", detail="PROPOSAL_BACKEND"
        ) from None
    return import_string(path).from_settings()


def new_offer_code() -> str:
    """`ARK-` plus 8 random characters from `secrets` (32^8 ≈ 10^12 codes; uniqueness enforced by the DB)."""
    while True:
        code = "ARK-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
        if not Proposal.objects.filter(offer_code=code).exists():
            return code


def build_request(cliente: Cliente, as_of: datetime.date) -> ProposalRequest:
    """The customer's RFM, aggregated profile and the recommender's candidates.

    A few small queries for the customer, the catalogue and the served model; everyone's statistics come from
    the cache. Raises NoActiveServices (409) when no active service can be recommended.
    """
    catalogue = load_catalogue()
    if not catalogue.active:
        raise NoActiveServices()
    rfm = customer_rfm(cliente.pk, as_of)
    history = customer_history(cliente.pk, catalogue, before=as_of + datetime.timedelta(days=1))
    stats = cached_global_stats(catalogue, as_of)
    model = current_model()
    profile = local.customer_profile(cliente, rfm, history)
    builder = FeatureBuilder(stats, catalogue, as_of)
    return ProposalRequest(
        cliente=cliente,
        as_of=as_of,
        rfm=rfm,
        profile=profile,
        insights=local.local_insights(profile, rfm, as_of),
        candidates=[
            Recommendation(
                service_id=item.service.id,
                service_name=item.service.name,
                category=item.service.category,
                reason=item.reason,
                confidence=round(item.confidence, 2),
                estimated_price=item.service.price,
                customer_reason=item.customer_reason,
                base_rate=confidence.base_rate(model, item.service.id),
            )
            for item in scoring.score_services(builder, history, model, limit=scoring.CANDIDATES)
        ],
        catalogue=catalogue,
        max_discount=settings.PROPOSAL_MAX_DISCOUNT,
        ranking_model=model,
    )


def html_to_text(fragment: str) -> str:
    """Plain text of a sanitised HTML fragment: paragraphs and line breaks kept, entities decoded."""
    text = re.sub(r"(?i)<br\s*/?>|</(p|li|h2|h3|blockquote)>", "\n", fragment or "")
    text = html.unescape(strip_tags(text))
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def first_name(nombre: str) -> str:
    return (nombre or "").split(" ")[0] or "cliente"


def with_recommender_figures(draft: Draft, candidates: list[Recommendation]) -> None:
    """An engine's recommendations carry its staff-facing reason; for the same service the recommender gives the
    customer's wording for the email (an engine's own reason may quote statistics or use tú), and the calibrated
    confidence and base rate staff read (an engine's self-reported confidence is not a probability)."""
    by_id = {item.service_id: item for item in candidates}
    recommendations = []
    for item in draft.recommendations:
        candidate = by_id.get(item.service_id)
        if candidate is not None:
            item = replace(
                item,
                customer_reason=item.customer_reason or candidate.customer_reason,
                confidence=candidate.confidence,
                base_rate=candidate.base_rate,
            )
        recommendations.append(item)
    draft.recommendations = recommendations


def render_email(*, cliente: Cliente, draft: Draft, offer: dict) -> tuple[str, str, str]:
    """(subject, html, text) from templates/crm/emails/propuesta*; the unsubscribe link is UNSUBSCRIBE_MARKER."""
    context = {
        "nombre": first_name(cliente.nombre),
        "recommendations": draft.recommendations,
        "offer": offer,
        "valid_until": datetime.date.fromisoformat(offer["valid_until"]),
        "message_html": mark_safe(draft.message_html),  # noqa: S308 sanitised by schema.sanitize_html
        "message_text": html_to_text(draft.message_html),
        "unsubscribe_url": UNSUBSCRIBE_MARKER,
        "site_url": settings.SITE_URL,
    }
    subject = draft.email_subject or " ".join(render_to_string("crm/emails/propuesta_asunto.txt", context).split())
    html = render_to_string("crm/emails/propuesta.html", context)
    text = render_to_string("crm/emails/propuesta.txt", context).strip() + "\n"
    return subject[:200], html, text


def generate_proposal(
    *,
    cliente: Cliente,
    user=None,
    backend: ProposalBackend | str | None = None,
    as_of: datetime.date | None = None,
) -> Proposal:
    """Generate and store a proposal for `cliente`.

    `backend` is a backend object, a name from BACKENDS or None for settings.PROPOSAL_BACKEND. Raises
    ProposalConfigurationError, ProposalBackendError, ProposalTimeout or NoActiveServices; nothing is stored
    when it raises. Every stored proposal has 1 to 3 recommendations. ProfilingRestricted (409) when the customer
    blocked processing or objected to profiling: no engine is asked.
    """
    if cliente.profiling_restricted:
        raise ProfilingRestricted(RESTRICTED_MESSAGE)
    as_of = as_of or timezone.localdate()
    if backend is None or isinstance(backend, str):
        backend = get_backend(backend)
    started = time.perf_counter()
    request = build_request(cliente, as_of)
    draft = backend.generate(request)
    with_recommender_figures(draft, request.candidates)
    if not 1 <= len(draft.recommendations) <= MAX_RECOMMENDATIONS:
        raise ProposalBackendError(
            "El motor de propuestas no devolvió recomendaciones válidas.",
            detail=f"{len(draft.recommendations)} recommendations from {backend.name}",
        )
    offer = {
        "title": draft.offer.title,
        "description": draft.offer.description,
        "discount": draft.offer.discount,
        "valid_until": (as_of + datetime.timedelta(days=settings.PROPOSAL_CONVERSION_DAYS)).isoformat(),
    }
    with transaction.atomic():
        offer["code"] = new_offer_code()
        subject, html, text = render_email(cliente=cliente, draft=draft, offer=offer)
        proposal = Proposal.objects.create(
            cliente=cliente,
            created_by=user if getattr(user, "is_authenticated", False) else None,
            segment=request.rfm.segment.key,
            backend=backend.name,
            model=draft.model,
            customer_profile=request.profile,
            insights=draft.insights,
            recommendations=[item.as_dict() for item in draft.recommendations],
            offer=offer,
            offer_code=offer["code"],
            email_subject=subject,
            email_body=html,
            email_text=text,
            prompt_version=draft.prompt_version,
            input_snapshot=draft.input_snapshot,
            usage=draft.usage,
            cost_usd=draft.cost_usd,
            duration_ms=round((time.perf_counter() - started) * 1000),
        )
    logger.info(
        "proposal %s for cliente %s by %s in %s ms", proposal.pk, cliente.pk, backend.name, proposal.duration_ms
    )
    return proposal
