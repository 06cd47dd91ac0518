"""The one proposal shape shared by every backend, its validation and the HTML allow-list.

A backend returns a `Draft`; `crm.services.proposals.service.generate_proposal` adds the offer code and
validity, renders the email and stores it. Answers from AI engines (Claude, the legacy proposal server) go
through `validate_answer`, which accepts only candidate catalogue services, takes prices from the catalogue
(never from the engine), caps the discount and bounds every text, and `sanitize_html`, an nh3 allow-list
(no script, no event handlers, no images: nothing external can load when the customer opens the email).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

import nh3

from crm.services.proposals.errors import ProposalBackendError
from crm.services.recommender.catalogue import CatalogueService
from crm.services.recommender.scoring import MAX_REASON
from ventas.normalize import search_key

MIN_RECOMMENDATIONS = 2
MAX_RECOMMENDATIONS = 3
MAX_INSIGHT = 300
MAX_OFFER_TITLE = 80
MAX_OFFER_DESCRIPTION = 400
MAX_SUBJECT = 150
MAX_MESSAGE_HTML = 4000
INSIGHT_KEYS = ("segment", "behaviour", "preferences")

# Marker for the unsubscribe link in the stored email; the mail service replaces it at send time and the
# preview page with "#".
UNSUBSCRIBE_MARKER = "[[BAJA_URL]]"

ALLOWED_TAGS = {"p", "br", "strong", "b", "em", "i", "u", "ul", "ol", "li", "a", "h2", "h3", "blockquote", "span"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
ALLOWED_URL_SCHEMES = {"https", "mailto"}


@dataclass(frozen=True)
class Recommendation:
    service_id: int
    service_name: str
    category: str
    reason: str
    confidence: float
    estimated_price: int
    customer_reason: str = ""  # what the customer's email says (usted, no statistics); `reason` is for staff
    # An average customer's chance of taking the service on their next visit (recommender.confidence); staff
    # pages compare `confidence` with it. None when the served model has no base rates.
    base_rate: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OfferDraft:
    title: str
    description: str
    discount: int | None


@dataclass
class Draft:
    """What a backend produces; everything else (code, validity, email) is added by the service."""

    insights: dict[str, str]
    recommendations: list[Recommendation]
    offer: OfferDraft
    email_subject: str = ""  # empty: the service renders the default subject
    message_html: str = ""  # sanitised HTML fragment written by an AI engine; empty: the template's own copy
    model: str = ""
    prompt_version: str = ""
    input_snapshot: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    cost_usd: Decimal | None = None


def sanitize_html(html: str) -> str:
    """Allow-list sanitiser for HTML written by an engine: formatting and https/mailto links only."""
    return nh3.clean(
        html or "",
        tags=ALLOWED_TAGS,
        clean_content_tags={
            "script",
            "style",
            "head",
            "title",
            "iframe",
            "object",
            "embed",
            "svg",
            "math",
            "noscript",
            "template",
        },
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    ).strip()


_SPACES = re.compile(r"\s+")


def plain_text(value: Any, *, max_length: int, what: str, required: bool = True) -> str:
    """A single-line text without markup, or ProposalBackendError when missing or too long."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ProposalBackendError(
            "El motor de propuestas respondió con un formato inválido.", detail=f"{what}: not text"
        )
    text = _SPACES.sub(" ", nh3.clean(value, tags=set())).strip()
    # nh3 escapes &, < and > in text; the stored value is plain text, templates escape it again.
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    if required and not text:
        raise ProposalBackendError("El motor de propuestas omitió datos obligatorios.", detail=f"{what}: empty")
    if len(text) > max_length:
        raise ProposalBackendError(
            "El motor de propuestas respondió textos demasiado largos.", detail=f"{what}: {len(text)} > {max_length}"
        )
    return text


@dataclass(frozen=True)
class ValidAnswer:
    """An AI engine's answer after `validate_answer`: safe to store."""

    insights: dict[str, str]
    recommendations: list[Recommendation]
    offer: OfferDraft
    subject: str
    message_html: str

    def draft(self, **provenance: Any) -> Draft:
        """The Draft of this answer; `provenance` sets model, prompt_version, input_snapshot, usage, cost_usd."""
        return Draft(
            insights=self.insights,
            recommendations=self.recommendations,
            offer=self.offer,
            email_subject=self.subject,
            message_html=self.message_html,
            **provenance,
        )


def validate_answer(
    answer: Any,
    *,
    candidates: dict[int, CatalogueService],
    max_discount: int,
    names: dict[str, int] | None = None,
) -> ValidAnswer:
    """Validate an engine's answer.

    `answer` has keys `insights` ({segment, behaviour, preferences}), `recommendations` (2–3 items with
    `service_id` or, when `names` maps normalised names to ids, `service_name`; `reason`; `confidence` 0–1),
    `offer` ({title, description, discount}), `email_subject` and `email_html`. Raises ProposalBackendError
    for anything outside the contract: nothing half-valid is ever stored.
    """

    def invalid(detail: str) -> ProposalBackendError:
        return ProposalBackendError("El motor de propuestas respondió con datos inválidos.", detail=detail)

    if not isinstance(answer, dict):
        raise invalid("answer is not an object")

    raw_insights = answer.get("insights")
    if not isinstance(raw_insights, dict):
        raise invalid("insights is not an object")
    insights = {
        key: plain_text(raw_insights.get(key), max_length=MAX_INSIGHT, what=f"insights.{key}") for key in INSIGHT_KEYS
    }

    raw_recommendations = answer.get("recommendations")
    if not isinstance(raw_recommendations, list):
        raise invalid("recommendations is not a list")
    if not MIN_RECOMMENDATIONS <= len(raw_recommendations) <= MAX_RECOMMENDATIONS:
        raise invalid(f"{len(raw_recommendations)} recommendations")
    recommendations, seen = [], set()
    for item in raw_recommendations:
        if not isinstance(item, dict):
            raise invalid("recommendation is not an object")
        service_id = item.get("service_id")
        if (service_id is None or service_id == "") and names is not None:
            service_id = names.get(search_key(str(item.get("service_name") or "")))
        try:
            service = candidates[int(service_id)]
        except (KeyError, TypeError, ValueError):
            raise ProposalBackendError(
                "El motor de propuestas recomendó un servicio que no está en el catálogo activo.",
                detail=f"unknown service {service_id!r}",
            ) from None
        if service.id in seen:
            raise invalid(f"service {service.id} recommended twice")
        seen.add(service.id)
        confidence = item.get("confidence")
        if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
            raise invalid(f"confidence {confidence!r}")
        recommendations.append(
            Recommendation(
                service_id=service.id,
                service_name=service.name,
                category=service.category,
                reason=plain_text(item.get("reason"), max_length=MAX_REASON, what="reason"),
                confidence=round(float(confidence), 2),
                estimated_price=service.price,  # the catalogue's price, never the engine's
            )
        )

    raw_offer = answer.get("offer")
    if not isinstance(raw_offer, dict):
        raise invalid("offer is not an object")
    discount = raw_offer.get("discount")
    if discount is not None:
        if isinstance(discount, bool) or not isinstance(discount, int | float) or discount != int(discount):
            raise invalid(f"discount {discount!r}")
        discount = int(discount)
        if not 0 <= discount <= max_discount:
            raise ProposalBackendError(
                f"El motor de propuestas ofreció un descuento fuera del máximo permitido ({max_discount}%).",
                detail=f"discount {discount} > {max_discount}",
            )
        discount = discount or None
    offer = OfferDraft(
        title=plain_text(raw_offer.get("title"), max_length=MAX_OFFER_TITLE, what="offer.title"),
        description=plain_text(
            raw_offer.get("description"), max_length=MAX_OFFER_DESCRIPTION, what="offer.description"
        ),
        discount=discount,
    )

    subject = plain_text(answer.get("email_subject"), max_length=MAX_SUBJECT, what="email_subject")
    raw_html = answer.get("email_html")
    if not isinstance(raw_html, str) or len(raw_html) > MAX_MESSAGE_HTML * 2:
        raise invalid("email_html missing or too long")
    message_html = sanitize_html(raw_html)
    if not message_html or len(message_html) > MAX_MESSAGE_HTML:
        raise invalid("email_html empty or too long after sanitising")
    return ValidAnswer(insights, recommendations, offer, subject, message_html)
