"""Rank the active services for one customer with a ranking model; calibrated confidence and a reason."""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass

from crm.services.recommender.catalogue import CatalogueService
from crm.services.recommender.features import INDEX, FeatureBuilder
from crm.services.recommender.history import CustomerHistory
from crm.services.recommender.model import RankingModel, rank
from ventas.formatting import format_date, format_number
from ventas.normalize import season_of

MAX_REASON = 100  # characters of a recommendation's reason (the proposal schema's limit too)
LAPSED_DAYS = 180
DEFAULT_K = 3
CANDIDATES = 6  # candidates handed to AI backends


def _pct(value: float) -> str:
    return f"{round(value * 100)}%"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1].rstrip() + "…"


@dataclass(frozen=True)
class Scored:
    service: CatalogueService
    confidence: float
    signals: dict[str, float]
    reason: str
    customer_reason: str = ""  # the same evidence worded for the customer's email: usted, no statistics


def reason_for(
    builder: FeatureBuilder, history: CustomerHistory, key: str, signals: dict[str, float], as_of: datetime.date
) -> str:
    """The strongest evidence about this customer, for staff (see `reasons_for`)."""
    return reasons_for(builder, history, key, signals, as_of)[0]


def reasons_for(
    builder: FeatureBuilder, history: CustomerHistory, key: str, signals: dict[str, float], as_of: datetime.date
) -> tuple[str, str]:
    """(staff reason, customer reason). The strongest evidence about this customer: their own repeats, what
    goes with their services, their favourite category, the season, and popularity as the fallback. Staff read
    the figures; the customer's email says the same thing in usted and without internal statistics."""
    service = builder.catalogue.by_key[key]
    use = history.uses.get(key)
    own, cat, lift = signals["own"], signals["cat"], signals["season"]
    best_partner, best_p = None, 0.0
    for other_key, other in history.uses.items():
        if other_key == key:
            continue
        p = builder.stats.conditional(other_key, key)
        if p * other.rows > best_p * (best_partner.rows if best_partner else 0):
            best_partner, best_p = other, p
    season = season_of(as_of).lower()
    if use and own >= 0.2:
        customer = "Uno de sus favoritos en Aremko."
        if use.last and (as_of - use.last).days > LAPSED_DAYS:
            reason = f"Lo tomó {use.rows} veces y no lo disfruta desde el {format_date(use.last)}"
            customer = "Hace un tiempo que no lo disfruta: le esperamos para repetirlo."
        elif history.visit_days == 1 and use.days:
            reason = "Lo eligió en su única visita"
            customer = "Lo eligió en su visita anterior."
        elif history.visit_days and use.days == history.visit_days:
            reason = f"Lo eligió en todas sus {history.visit_days} visitas"
        elif history.visit_days and use.days:
            reason = f"Lo eligió en {use.days} de sus {history.visit_days} visitas"
        else:
            reason = f"Lo eligió {use.rows} veces: {_pct(own)} de sus servicios"
    elif best_partner and best_p >= 0.15:
        reason = f"Quienes toman {best_partner.name} lo suman el mismo día en el {_pct(best_p)} de las visitas"
        customer = f"Combina muy bien con {best_partner.name}, que usted ya conoce."
    elif cat >= 0.3:
        reason = f"Su categoría favorita es {service.category}: {_pct(cat)} de sus servicios"
        customer = f"De su categoría favorita: {service.category}."
    elif lift >= 0.15:
        factor = f"{math.exp(lift):.1f}".replace(".", ",")
        reason = f"Muy pedido en {season}: {factor} veces más que el resto del año"
        customer = f"Muy pedido en {season}."
    else:
        popularity = builder.stats.popularity.get(key, 0)
        if popularity:
            reason = f"De los más elegidos por nuestros clientes: {format_number(popularity)} reservas"
            customer = "Uno de los favoritos de nuestros clientes."
        else:  # new in the catalogue: "a favourite" would be untrue
            reason = "Servicio nuevo o aún sin reservas en el historial"
            customer = "Una novedad que vale la pena conocer."
    return _clip(reason), _clip(customer)


def score_services(
    builder: FeatureBuilder, history: CustomerHistory, model: RankingModel, *, limit: int | None = None
) -> list[Scored]:
    """The active services ranked for this customer, best first (ties by catalogue id); `limit` of them."""
    if not builder.keys:
        return []
    x = builder.matrix(history)
    order = rank(model, x, builder.ids)[:limit]
    confidences = model.confidence(model.scores(x[order]))
    scored = []
    for position, confidence in zip(order, confidences, strict=True):
        signals = {name: float(x[position, column]) for name, column in INDEX.items()}
        key = builder.keys[position]
        reason, customer_reason = reasons_for(builder, history, key, signals, builder.as_of)
        scored.append(Scored(builder.services[position], float(confidence), signals, reason, customer_reason))
    return scored
