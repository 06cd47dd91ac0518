"""The local backend: offline, deterministic, no API key. The default proposal backend.

Its recommendations are the recommender's ranking (`crm.services.recommender`, computed once per request by
`service.build_request`); this module only words the proposal: the customer's profile, the insights staff
read, and the offer of the customer's RFM segment.
"""

from __future__ import annotations

import datetime

from crm.services.proposals.schema import Draft, OfferDraft, Recommendation
from crm.services.recommender.history import CustomerHistory
from crm.services.recommender.scoring import DEFAULT_K
from ventas.formatting import format_clp, format_date, format_number
from ventas.normalize import season_of

# --- offers and insights ----------------------------------------------------------------------------------

# Segment -> (title, description, base discount %). `{servicio}` is the first recommendation. Customer text:
# Spanish, usted; the description never sounds like a gift, the discount sentence says what it applies to.
OFFERS = {
    "vip": (
        "Experiencia exclusiva Aremko",
        "Le reservamos {servicio} con atención preferente en su próxima visita.",
        10,
    ),
    "champions": ("Para nuestros mejores clientes", "Sume {servicio} a su próxima visita.", 10),
    "loyal": ("Gracias por su fidelidad", "Como agradecimiento, le proponemos {servicio} para su próxima visita.", 10),
    "promising": ("Su segunda experiencia", "Le esperamos para su segunda visita, con {servicio}.", 15),
    "occasional": ("Le esperamos de vuelta", "Una buena excusa para volver al sur: {servicio}.", 10),
    "at_risk": ("Le echamos de menos", "Vuelva a desconectarse con {servicio}, como en sus mejores visitas.", 20),
    "hibernating": ("Es hora de volver", "Reencuéntrese con el bosque y el agua caliente: {servicio}.", 20),
    "lost": ("Una invitación para volver", "Le invitamos a regresar con {servicio}.", 20),
    "no_history": ("Bienvenida a Aremko", "Para su primera experiencia le sugerimos {servicio}.", 10),
}


def segment_offer(segment_key: str, recommendations: list[Recommendation], max_discount: int) -> OfferDraft:
    """The offer for a segment; the discount never exceeds `max_discount` (None when it would be 0)."""
    title, description, base = OFFERS.get(segment_key, OFFERS["occasional"])
    discount = min(base, max(0, max_discount)) or None
    servicio = recommendations[0].service_name if recommendations else "nuestras tinas calientes"
    text = description.format(servicio=servicio)
    if discount:
        text += f" Con su código tiene un {discount}% de descuento en {servicio}."
    return OfferDraft(title=title, description=text, discount=discount)


def customer_profile(cliente, rfm, history: CustomerHistory) -> dict:
    favourite_categories = sorted(history.category_rows().items(), key=lambda item: (-item[1], item[0]))
    services = sorted(history.uses.values(), key=lambda use: (-use.rows, use.name))[:5]
    return {
        "name": cliente.nombre,
        "segment": rfm.segment.key,
        "segment_label": rfm.segment.label,
        "services": [{"name": use.name, "count": use.rows} for use in services],
        "favourite_categories": [name for name, _ in favourite_categories[:3]],
        "total_services": history.rows,
        "visit_days": history.visit_days,
        "total_spent": history.spent,
        "last_visit": history.last_visit.isoformat() if history.last_visit else None,
        "recency_days": rfm.recency_days,
    }


def local_insights(profile: dict, rfm, as_of: datetime.date) -> dict[str, str]:
    segment = f"{rfm.segment.label}: {rfm.segment.description}"
    if profile["total_services"]:
        services, visits = profile["total_services"], profile["visit_days"]
        behaviour = (
            f"{format_number(services)} servicio{'s' if services != 1 else ''} en {format_number(visits)}"
            f" visita{'s' if visits != 1 else ''} y {format_clp(profile['total_spent'])} en total."
        )
        if profile["last_visit"]:
            last = datetime.date.fromisoformat(profile["last_visit"])
            behaviour += f" Última visita el {format_date(last)} (hace {(as_of - last).days} días)."
        top = profile["services"][0]
        preferences = f"Prefiere {', '.join(profile['favourite_categories'])}; su favorito es {top['name']}."
    else:
        behaviour = "Aún no registra servicios en Aremko."
        preferences = f"Sin preferencias registradas: le sugerimos los favoritos de {season_of(as_of).lower()}."
    return {"segment": segment, "behaviour": behaviour, "preferences": preferences}


class LocalBackend:
    """The offline engine as a proposal backend: recommendations, offer and insights from the database."""

    name = "local"

    def __init__(self, *, k: int = DEFAULT_K):
        self.k = k

    @classmethod
    def from_settings(cls) -> LocalBackend:
        return cls()

    def generate(self, request) -> Draft:
        recommendations = list(request.candidates[: self.k])
        return Draft(
            insights=request.insights,
            recommendations=recommendations,
            offer=segment_offer(request.rfm.segment.key, recommendations, request.max_discount),
            model=request.ranking_model.name,
        )
