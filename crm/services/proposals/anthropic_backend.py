"""Claude as a proposal backend, through the official `anthropic` SDK.

Claude receives the customer's aggregated profile (no name, email, phone or ID number) and the recommender's
candidate services with their catalogue prices, and must answer by calling one strict tool whose
`service_id` is an enum of the candidate ids. The answer is validated by `schema.validate_answer` (only
candidates, catalogue prices, discount within PROPOSAL_MAX_DISCOUNT, bounded texts, sanitised HTML); anything
else is a ProposalBackendError and nothing is stored. Timeout 30 s and at most one retry: retries bill again.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import anthropic
from django.conf import settings

from crm.services.proposals.errors import ProposalBackendError, ProposalConfigurationError, ProposalTimeout
from crm.services.proposals.schema import (
    MAX_OFFER_DESCRIPTION,
    MAX_OFFER_TITLE,
    MAX_REASON,
    MAX_SUBJECT,
    CatalogueService,
    Draft,
    validate_answer,
)
from ventas.normalize import season_of

logger = logging.getLogger(__name__)

PROMPT_VERSION = "claude-propuesta-v1"
TOOL_NAME = "entregar_propuesta"
# USD per million tokens (input, output), for the cost estimate stored with each proposal.
PRICES_PER_MTOK = {
    "claude-haiku-4-5": (Decimal("1"), Decimal("5")),
    "claude-sonnet-4-5": (Decimal("3"), Decimal("15")),
    "claude-opus-4-5": (Decimal("5"), Decimal("25")),
}

SYSTEM_PROMPT = f"""Eres el equipo de relación con clientes de Aremko Spa, en Puerto Varas (sur de Chile): tinas
calientes al aire libre, masajes, cabañas en el bosque. Redactas propuestas personalizadas en español de Chile,
con un tono cálido, cercano y respetuoso (trato de "usted"), sin exageraciones ni promesas que no se puedan cumplir.

Recibes el perfil agregado de un cliente y una lista de servicios candidatos del catálogo con su precio.
Responde SOLO llamando a la herramienta `{TOOL_NAME}`:
- insights: tres frases breves (segmento, comportamiento, preferencias) para el personal de Aremko.
- recommendations: 2 o 3 servicios elegidos SOLO entre los candidatos (por su service_id), cada uno con un
  motivo de máximo {MAX_REASON} caracteres que nombre la evidencia, y una confianza entre 0 y 1.
- offer: título (máx. {MAX_OFFER_TITLE} caracteres), descripción (máx. {MAX_OFFER_DESCRIPTION}) y descuento
  entero en porcentaje, nunca mayor que max_discount, o null si no corresponde.
- email_subject: asunto del correo (máx. {MAX_SUBJECT} caracteres).
- email_html: uno a tres párrafos de HTML simple (<p>, <strong>, <em>, <ul>, <li>) con el mensaje central del
  correo; sin saludo ni despedida (la plantilla los agrega), sin imágenes, sin scripts, sin estilos, sin precios.
"""


def proposal_tool(candidate_ids: list[int]) -> dict:
    """The strict tool Claude must call; `service_id` can only be one of the candidates."""
    text = {"type": "string"}
    return {
        "name": TOOL_NAME,
        "description": "Entrega la propuesta personalizada para el cliente.",
        "strict": True,
        "input_schema": {
            "type": "object",
            "additionalProperties": False,
            "required": ["insights", "recommendations", "offer", "email_subject", "email_html"],
            "properties": {
                "insights": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["segment", "behaviour", "preferences"],
                    "properties": {"segment": text, "behaviour": text, "preferences": text},
                },
                "recommendations": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["service_id", "reason", "confidence"],
                        "properties": {
                            "service_id": {"type": "integer", "enum": candidate_ids},
                            "reason": text,
                            "confidence": {"type": "number"},
                        },
                    },
                },
                "offer": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["title", "description", "discount"],
                    "properties": {"title": text, "description": text, "discount": {"type": ["integer", "null"]}},
                },
                "email_subject": text,
                "email_html": text,
            },
        },
    }


def input_snapshot(request) -> dict:
    """Exactly what Claude sees: aggregates only, never contact data or the ID number."""
    profile = request.profile
    return {
        "as_of": request.as_of.isoformat(),
        "season": season_of(request.as_of),
        "customer": {
            "segment": request.rfm.segment.key,
            "segment_label": request.rfm.segment.label,
            "segment_description": request.rfm.segment.description,
            "rfm_scores": {"r": request.rfm.r, "f": request.rfm.f, "m": request.rfm.m},
            "recency_days": profile["recency_days"],
            "total_services": profile["total_services"],
            "visit_days": profile["visit_days"],
            "total_spent_clp": profile["total_spent"],
            "favourite_categories": profile["favourite_categories"],
            "top_services": profile["services"],
        },
        "candidates": [
            {
                "service_id": item.service_id,
                "name": item.service_name,
                "category": item.category,
                "price_clp": item.estimated_price,
                "engine_reason": item.reason,
                "engine_confidence": item.confidence,
            }
            for item in request.candidates
        ],
        "max_discount": request.max_discount,
    }


def estimate_cost(model: str, usage: dict) -> Decimal | None:
    prices = next((value for name, value in PRICES_PER_MTOK.items() if model.startswith(name)), None)
    if prices is None:
        return None
    tokens_in = usage.get("input_tokens", 0) + usage.get("cache_creation_input_tokens", 0)
    tokens_in += usage.get("cache_read_input_tokens", 0)
    cost = (prices[0] * tokens_in + prices[1] * usage.get("output_tokens", 0)) / Decimal(1_000_000)
    return cost.quantize(Decimal("0.000001"))


class AnthropicBackend:
    name = "anthropic"

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 1,
        max_tokens: int = 2000,
    ):
        if not api_key:
            raise ProposalConfigurationError(
                "Falta configurar ANTHROPIC_API_KEY para generar propuestas con Claude.", detail="ANTHROPIC_API_KEY"
            )
        self.model = model
        self.max_tokens = max_tokens
        self.client = anthropic.Anthropic(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries)

    @classmethod
    def from_settings(cls) -> AnthropicBackend:
        return cls(
            api_key=settings.ANTHROPIC_API_KEY, model=settings.ANTHROPIC_MODEL, base_url=settings.ANTHROPIC_BASE_URL
        )

    def generate(self, request) -> Draft:
        candidates = {
            item.service_id: CatalogueService(item.service_id, item.service_name, item.category, item.estimated_price)
            for item in request.candidates
        }
        if len(candidates) < 2:
            raise ProposalBackendError("No hay suficientes servicios activos en el catálogo para una propuesta.")
        snapshot = input_snapshot(request)
        message = self._create(snapshot, list(candidates))
        usage = {
            key: value
            for key, value in (message.usage.model_dump() if message.usage else {}).items()
            if isinstance(value, int)
        }
        block = next((block for block in message.content if block.type == "tool_use" and block.name == TOOL_NAME), None)
        if block is None or message.stop_reason == "max_tokens":
            raise ProposalBackendError(
                "Claude no devolvió la propuesta en el formato esperado.",
                detail=f"stop_reason={message.stop_reason} blocks={[b.type for b in message.content]}",
            )
        answer = validate_answer(block.input, candidates=candidates, max_discount=request.max_discount)
        return answer.draft(
            model=message.model or self.model,
            prompt_version=PROMPT_VERSION,
            input_snapshot=snapshot,
            usage=usage,
            cost_usd=estimate_cost(message.model or self.model, usage),
        )

    def _create(self, snapshot: dict, candidate_ids: list[int]):
        try:
            return self.client.messages.create(
                model=self.model,
                max_tokens=self.max_tokens,
                system=SYSTEM_PROMPT,
                messages=[{"role": "user", "content": json.dumps(snapshot, ensure_ascii=False)}],
                tools=[proposal_tool(candidate_ids)],
                tool_choice={"type": "tool", "name": TOOL_NAME},
            )
        except anthropic.APITimeoutError as error:
            logger.warning("anthropic timeout: %s", error)
            raise ProposalTimeout("Claude no respondió a tiempo. Inténtalo de nuevo en unos minutos.") from error
        except anthropic.APIStatusError as error:
            logger.warning("anthropic HTTP %s: %s", error.status_code, error)
            raise ProposalBackendError(
                f"Claude respondió con un error ({error.status_code}). Inténtalo de nuevo más tarde.",
                detail=str(error),
            ) from error
        except (anthropic.APIError, ValueError) as error:  # connection errors, unparseable responses
            logger.warning("anthropic error: %s", error)
            raise ProposalBackendError(
                "No se pudo obtener una respuesta válida de Claude.", detail=str(error)
            ) from error
