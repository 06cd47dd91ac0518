"""A recommendation's confidence as staff should read it: the chance that the customer takes the service on
their next visit, next to the same chance for an average returning customer.

The served model is Platt-calibrated on the held-out period (see `model` and `training`), so its confidence is
a probability. The average ("base rate") of a service is the share of held-out customers whose next visit
included it: the same event, for a customer about whom nothing is known. `training.store_model` keeps one
rate per service id with the model (`metrics["base_rates"]`); each proposal stores the rate of its services,
so a proposal always compares with the figures of the model that made it. A 24 % chance reads low as a bar
but is 3× what an average customer does: the comparison is the message, not the raw percentage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crm.services.recommender.model import RankingModel

# ratio to the average -> level: at least 1.5× is "Alta", at most 0.67× (two thirds) is "Baja"
HIGH_RATIO = 1.5
LOW_RATIO = 2 / 3
LEVELS = {"alta": "Alta", "media": "Media", "baja": "Baja"}
LEGEND = (
    "Probabilidad de que el cliente tome el servicio en su próxima visita, según el historial de visitas "
    "(calibrada con visitas reales), comparada con la de un cliente promedio que vuelve."
)


def base_rates_of(ids: np.ndarray, taken: np.ndarray) -> dict[str, float]:
    """{service id (as text, JSON keys): share of customers whose next visit included it} from a data set's
    service ids (columns) and its (customers, services) next-visit labels."""
    if not len(taken):
        return {}
    rates = taken.mean(axis=0)
    return {str(int(service_id)): round(float(rate), 4) for service_id, rate in zip(ids, rates, strict=True)}


def base_rate(model: RankingModel, service_id: int) -> float | None:
    """The average chance of `service_id` on a next visit stored with the model, or None when unknown
    (built-in defaults, a model stored before base rates were kept, a service added after the training)."""
    rate = (model.metrics or {}).get("base_rates", {}).get(str(service_id))
    return float(rate) if rate is not None else None


def _percent(value: float) -> str:
    """0.24 -> "24 %"; below 1 % one decimal ("0,4 %"), never "0 %" for a non-zero chance."""
    percent = value * 100
    text = f"{percent:.1f}".replace(".", ",") if 0 < percent < 1 else f"{round(percent)}"
    return f"{text}\u00a0%"


def _times(ratio: float) -> str:
    """3.14 -> "3,1×"; 12.3 -> "12×"."""
    return (f"{ratio:.1f}".replace(".", ",") if ratio < 10 else f"{round(ratio)}") + "×"


@dataclass(frozen=True)
class ConfidenceView:
    """What the staff pages show for one recommendation (templates and the page script only print it)."""

    probability: float
    average: float | None
    level: str  # "alta", "media", "baja", or "" without an average to compare with
    label: str  # "Alta", "Media", "Baja" or ""
    text: str  # "Probabilidad de tomarlo en la próxima visita: 24 % (3,1× el promedio)"
    title: str  # the explanation shown on hover

    @property
    def ratio(self) -> float | None:
        return self.probability / self.average if self.average else None

    def as_dict(self) -> dict:
        return {"level": self.level, "label": self.label, "text": self.text, "title": self.title}


def describe_confidence(probability: float, average: float | None) -> ConfidenceView:
    """The confidence of a recommendation put next to the average chance of the same service.

    Level: "alta" when at least HIGH_RATIO times the average, "baja" when at most LOW_RATIO times, "media"
    otherwise; no level (and no comparison) when the average is unknown or zero.
    """
    probability = min(1.0, max(0.0, float(probability)))
    text = f"Probabilidad de tomarlo en la próxima visita: {_percent(probability)}"
    if not average or average <= 0:
        title = f"{LEGEND} Sin promedio guardado para este servicio: se muestra solo la probabilidad."
        return ConfidenceView(probability, None, "", "", text, title)
    ratio = probability / average
    level = "alta" if ratio >= HIGH_RATIO else "baja" if ratio <= LOW_RATIO else "media"
    text += f" ({_times(ratio)} el promedio)"
    title = (
        f"{LEGEND} Un cliente promedio lo toma en el {_percent(average)} de sus próximas visitas; "
        f"este cliente, en el {_percent(probability)}."
    )
    return ConfidenceView(probability, float(average), level, LEVELS[level], text, title)


def recommendations_for_staff(recommendations: list[dict]) -> list[dict]:
    """A stored proposal's recommendations, each with `confidence_view` (a ConfidenceView) for staff pages.

    Proposals stored before base rates were kept show the probability alone. Never for customer email: the
    email templates read `customer_reason`, not these figures.
    """
    return [
        {**item, "confidence_view": describe_confidence(item.get("confidence") or 0.0, item.get("base_rate"))}
        for item in recommendations
    ]
