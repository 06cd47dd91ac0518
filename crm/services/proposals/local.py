"""The local recommendation engine: offline, deterministic, no API key. The default backend.

It ranks the ACTIVE catalogue services (`Servicio.activo`; history rows map to them by normalised name) for
one customer as of a date, from these signals (aggregated in the database, combined in Python):

- own:     share of the customer's services that were this one (they come back for what they like);
- co:      co-occurrence: how often everyone who takes the customer's services takes this one on the same
           day (P(s | t) over (customer, day) baskets, weighted by how much the customer uses t);
- cat:     share of the customer's services in this service's category (their favourite categories);
- season:  log-lift of the service in the season of the as-of date (southern hemisphere) vs. the year;
- pop:     overall popularity (log-scaled, 0–1): the cold-start prior for customers with no history;
- in_category: log of the service's popularity relative to the most popular service of its category;
- recent:  1 when the customer took it in the last 30 days (they just had it: a mild penalty).

Confidence = logistic(BIAS + Σ weight·signal): an estimate of the probability that the customer takes the
service on their next visit. The weights come from a logistic regression on the replay that
`manage.py evaluate_recommendations` runs (hide each customer's last visit day, label the services taken that
day); on the demo data the mean top-1 confidence (33.8%) is close to the observed top-1 hit rate (33.2%).
Each reason names the strongest evidence about this customer: their own repeats, what goes with their
services, their favourite category, the season, and popularity as the fallback.
Rows on HISTORY_PLACEHOLDER_DATE count for the customer's own shares, never for dates, seasons or baskets.
"""

from __future__ import annotations

import datetime
import math
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Case, Count, Max, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import ExtractMonth

from crm.services.proposals.schema import MAX_REASON, CatalogueService, Draft, OfferDraft, Recommendation
from ventas.formatting import format_clp, format_date, format_number
from ventas.models import ServiceHistory, Servicio
from ventas.normalize import SEASONS, search_key, season_of

# Logistic weights fitted on the demo data's replay (IRLS, leave-last-day-out; see module docstring), then
# season and recent set by hand: the demo's last visits are not seasonal, so the replay cannot measure them.
WEIGHTS = {
    "own": 0.5,
    "co": 9.9,
    "cat": 2.5,
    "season": 0.3,
    "pop": 2.8,
    "in_category": 0.5,
    "recent": -0.2,
}
BIAS = -5.9
RECENT_DAYS = 30
LAPSED_DAYS = 180
CANDIDATES = 6  # candidates handed to AI backends
DEFAULT_K = 3


# --- catalogue --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalogue:
    active: dict[int, CatalogueService]
    by_key: dict[str, CatalogueService]  # active services by normalised name
    category_of_key: dict[str, str]  # every catalogue service (active or not) -> category


def load_catalogue() -> Catalogue:
    """The catalogue in one query; only active services can ever be recommended."""
    active, by_key, category_of_key = {}, {}, {}
    for row in Servicio.objects.order_by("id").values("id", "nombre", "categoria__nombre", "precio_base", "activo"):
        key = search_key(row["nombre"])
        category_of_key[key] = row["categoria__nombre"]
        if row["activo"]:
            service = CatalogueService(row["id"], row["nombre"], row["categoria__nombre"], row["precio_base"])
            active[service.id] = service
            by_key[key] = service
    return Catalogue(active=active, by_key=by_key, category_of_key=category_of_key)


# --- the customer's history -------------------------------------------------------------------------------


@dataclass
class ServiceUse:
    name: str
    category: str
    rows: int = 0
    days: int = 0
    last: datetime.date | None = None
    spent: int = 0


@dataclass
class CustomerHistory:
    uses: dict[str, ServiceUse] = field(default_factory=dict)  # by normalised service name
    visit_days: int = 0  # distinct real dates

    @property
    def rows(self) -> int:
        return sum(use.rows for use in self.uses.values())

    @property
    def spent(self) -> int:
        return sum(use.spent for use in self.uses.values())

    @property
    def last_visit(self) -> datetime.date | None:
        return max((use.last for use in self.uses.values() if use.last), default=None)

    def category_rows(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for use in self.uses.values():
            totals[use.category] += use.rows
        return dict(totals)

    def add(self, row: dict, catalogue: Catalogue) -> None:
        key = search_key(row["service_name"])
        use = self.uses.get(key)
        if use is None:
            category = catalogue.category_of_key.get(key) or row["service_type"] or "Otros"
            use = self.uses[key] = ServiceUse(name=row["service_name"], category=category)
        use.rows += row["rows"]
        use.days += row["days"]
        use.spent += int(row["spent"] or 0)
        if row["last"] and (use.last is None or row["last"] > use.last):
            use.last = row["last"]


def real_date_q() -> Q:
    return ~Q(service_date=settings.HISTORY_PLACEHOLDER_DATE)


def per_service_totals(queryset, *extra_group):
    """Rows, distinct real days, last real date and spend per service (and per `extra_group` columns)."""
    return (
        queryset.order_by()
        .values(*extra_group, "service_name", "service_type")
        .annotate(
            rows=Count("id"),
            days=Count("service_date", distinct=True, filter=real_date_q()),
            last=Max("service_date", filter=real_date_q()),
            spent=Sum("price_paid"),
        )
    )


def customer_history(cliente_id: int, catalogue: Catalogue, *, before: datetime.date) -> CustomerHistory:
    """The customer's services strictly before `before`, aggregated per service (two grouped queries)."""
    rows = ServiceHistory.objects.filter(cliente_id=cliente_id, service_date__lt=before)
    history = CustomerHistory()
    for row in per_service_totals(rows):
        history.add(row, catalogue)
    history.visit_days = rows.filter(real_date_q()).aggregate(n=Count("service_date", distinct=True))["n"] or 0
    return history


def last_visit_day_subquery():
    """Correlated subquery: the customer's last real visit day (for leave-last-day-out replays).

    ORDER BY + LIMIT 1 instead of MAX(): one probe of the (cliente_id, service_date) index per row.
    """
    return Subquery(
        ServiceHistory.objects.filter(real_date_q(), cliente_id=OuterRef("cliente_id"))
        .order_by("-service_date")
        .values("service_date")[:1]
    )


# --- everyone's history -----------------------------------------------------------------------------------


@dataclass
class GlobalStats:
    """Popularity, seasonality and co-occurrence, keyed by normalised service name."""

    popularity: dict[str, int] = field(default_factory=dict)  # rows
    by_month: dict[str, dict[int, int]] = field(default_factory=dict)  # real dates only
    baskets: dict[str, int] = field(default_factory=dict)  # (customer, day) baskets containing the service
    pairs: dict[str, dict[str, int]] = field(default_factory=dict)  # a -> b -> baskets with both
    total_rows: int = 0
    month_totals: dict[int, int] = field(default_factory=dict)
    max_popularity: int = 0

    def season_lift(self, key: str, season: str) -> float:
        """log(share of the service's rows in `season` / share of all rows in `season`), clamped to ±1."""
        months = [month for month, name in SEASONS.items() if name == season]
        own = self.by_month.get(key)
        all_in_season = sum(self.month_totals.get(m, 0) for m in months)
        all_dated = sum(self.month_totals.values())
        if not own or not all_in_season or not all_dated:
            return 0.0
        own_dated = sum(own.values())
        own_in_season = sum(own.get(m, 0) for m in months)
        lift = ((own_in_season + 1) / (own_dated + 4)) / (all_in_season / all_dated)
        return max(-1.0, min(1.0, math.log(lift)))

    def conditional(self, given: str, key: str) -> float:
        """P(key taken the same day | given taken), over (customer, day) baskets."""
        baskets = self.baskets.get(given, 0)
        return self.pairs.get(given, {}).get(key, 0) / baskets if baskets else 0.0


def _basket_sql(*, before: datetime.date | None, leave_last_out: bool) -> tuple[str, list]:
    """Distinct (customer, day, service) baskets on real dates, as SQL for a CTE."""
    params: list = []
    join = ""
    if leave_last_out:
        join = (
            " JOIN (SELECT cliente_id, MAX(service_date) AS last_day FROM crm_service_history"
            " WHERE service_date <> %s GROUP BY cliente_id) l ON l.cliente_id = h.cliente_id"
        )
        params.append(settings.HISTORY_PLACEHOLDER_DATE)
    where = ["h.service_date <> %s"]
    params.append(settings.HISTORY_PLACEHOLDER_DATE)
    if before:
        where.append("h.service_date < %s")
        params.append(before)
    if leave_last_out:
        where.append("h.service_date < l.last_day")
    # Only fixed SQL fragments are joined here; every value travels as a parameter.
    sql = "SELECT DISTINCT h.cliente_id, h.service_date, h.service_name FROM crm_service_history h"
    sql += join + " WHERE " + " AND ".join(where)
    return sql, params


def global_stats(
    *, before: datetime.date | None = None, services: list[str] | None = None, leave_last_out: bool = False
) -> GlobalStats:
    """Aggregate everyone's history in three grouped queries.

    `before`: only rows strictly before this date. `services`: co-occurrence only from these service names
    (the customer's own; keeps the self-join small). `leave_last_out`: ignore every customer's last visit day,
    so that replaying that day (evaluate_recommendations) never sees the answer.
    """
    stats = GlobalStats()
    placeholder = settings.HISTORY_PLACEHOLDER_DATE

    rows = ServiceHistory.objects.all()
    if before:
        rows = rows.filter(service_date__lt=before)
    if leave_last_out:
        rows = rows.filter(service_date__lt=last_visit_day_subquery())
    month = Case(When(service_date=placeholder, then=Value(0)), default=ExtractMonth("service_date"))
    for row in (
        rows.order_by()
        .annotate(month=month)
        .values("service_name", "month")
        .annotate(n=Count("id"))
        .values_list("service_name", "month", "n")
    ):
        name, month_number, n = row
        key = search_key(name)
        stats.popularity[key] = stats.popularity.get(key, 0) + n
        stats.total_rows += n
        if month_number:
            months = stats.by_month.setdefault(key, {})
            months[month_number] = months.get(month_number, 0) + n
            stats.month_totals[month_number] = stats.month_totals.get(month_number, 0) + n
    stats.max_popularity = max(stats.popularity.values(), default=0)

    if services is not None and not services:
        return stats
    baskets_sql, params = _basket_sql(before=before, leave_last_out=leave_last_out)
    only, only_params = "", []
    if services is not None:
        only = f" WHERE a.service_name IN ({', '.join(['%s'] * len(services))})"
        only_params = list(services)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH b AS ({baskets_sql}) SELECT a.service_name, COUNT(*) FROM b a{only} GROUP BY a.service_name",  # noqa: S608
            params + only_params,
        )
        for name, n in cursor.fetchall():
            key = search_key(name)
            stats.baskets[key] = stats.baskets.get(key, 0) + n
        cursor.execute(
            f"WITH b AS ({baskets_sql}) SELECT a.service_name, o.service_name, COUNT(*) FROM b a"  # noqa: S608
            " JOIN b o ON o.cliente_id = a.cliente_id AND o.service_date = a.service_date"
            f" AND o.service_name <> a.service_name{only} GROUP BY a.service_name, o.service_name",
            params + only_params,
        )
        for name, other, n in cursor.fetchall():
            row = stats.pairs.setdefault(search_key(name), {})
            row[search_key(other)] = row.get(search_key(other), 0) + n
    return stats


# Everyone's statistics move slowly (a day of bookings barely changes them) and cost a few table scans, so
# live proposals share them through the cache: per as-of date, for an hour. Replays compute their own.
STATS_CACHE_SECONDS = 3600


def cached_global_stats(as_of: datetime.date) -> GlobalStats:
    """global_stats() of the history up to and including `as_of`, from the cache when possible."""
    key = f"proposals:stats:v1:{as_of.isoformat()}"
    stats = cache.get(key)
    if stats is None:
        stats = global_stats(before=as_of + datetime.timedelta(days=1))
        cache.set(key, stats, STATS_CACHE_SECONDS)
    return stats


# --- ranking ----------------------------------------------------------------------------------------------


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


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


def score_services(
    history: CustomerHistory, stats: GlobalStats, catalogue: Catalogue, as_of: datetime.date
) -> list[Scored]:
    """Every active service scored for this customer, best first (ties broken by catalogue id)."""
    season = season_of(as_of)
    total = history.rows
    category_rows = history.category_rows()
    top_in_category: dict[str, int] = {}
    for key, service in catalogue.by_key.items():
        popularity = stats.popularity.get(key, 0)
        top_in_category[service.category] = max(top_in_category.get(service.category, 0), popularity)
    scored = []
    for key, service in catalogue.by_key.items():
        use = history.uses.get(key)
        own = use.rows / total if use and total else 0.0
        co, best_partner, best_p = 0.0, None, 0.0
        for other_key, other in history.uses.items():
            if other_key == key:
                continue
            p = stats.conditional(other_key, key)
            co += (other.rows / total) * p
            if p * other.rows > best_p * (best_partner.rows if best_partner else 0):
                best_partner, best_p = other, p
        cat = category_rows.get(service.category, 0) / total if total else 0.0
        lift = stats.season_lift(key, season)
        popularity = stats.popularity.get(key, 0)
        pop = math.log1p(popularity) / math.log1p(stats.max_popularity) if stats.max_popularity else 0.0
        in_category = math.log((popularity + 1) / (top_in_category[service.category] + 1))
        recent = 1.0 if use and use.last and (as_of - use.last).days <= RECENT_DAYS else 0.0
        signals = {
            "own": own,
            "co": co,
            "cat": cat,
            "season": lift,
            "pop": pop,
            "in_category": in_category,
            "recent": recent,
        }
        logit = BIAS + sum(WEIGHTS.get(name, 0.0) * value for name, value in signals.items())

        # The reason names the strongest piece of evidence about this customer; popularity is the fallback.
        if use and own >= 0.2:
            if use.last and (as_of - use.last).days > LAPSED_DAYS:
                reason = f"Lo tomó {use.rows} veces y no lo disfruta desde el {format_date(use.last)}"
            elif history.visit_days == 1 and use.days:
                reason = "Lo eligió en su única visita"
            elif history.visit_days and use.days == history.visit_days:
                reason = f"Lo eligió en todas sus {history.visit_days} visitas"
            elif history.visit_days and use.days:
                reason = f"Lo eligió en {use.days} de sus {history.visit_days} visitas"
            else:
                reason = f"Lo eligió {use.rows} veces: {_pct(own)} de sus servicios"
        elif best_partner and best_p >= 0.15:
            reason = f"Quienes toman {best_partner.name} lo suman el mismo día en el {_pct(best_p)} de las visitas"
        elif cat >= 0.3:
            reason = f"Su categoría favorita es {service.category}: {_pct(cat)} de sus servicios"
        elif lift >= 0.15:
            factor = f"{math.exp(lift):.1f}".replace(".", ",")
            reason = f"Muy pedido en {season.lower()}: {factor} veces más que el resto del año"
        else:
            reason = f"De los más elegidos por nuestros clientes: {format_number(popularity)} reservas"
        scored.append(Scored(service, _sigmoid(logit), signals, _clip(reason)))
    scored.sort(key=lambda item: (-item.confidence, item.service.id))
    return scored


def recommend(
    history: CustomerHistory, stats: GlobalStats, catalogue: Catalogue, as_of: datetime.date, k: int = DEFAULT_K
) -> list[Recommendation]:
    """The top `k` active services for this customer."""
    return [
        Recommendation(
            service_id=item.service.id,
            service_name=item.service.name,
            category=item.service.category,
            reason=item.reason,
            confidence=round(item.confidence, 2),
            estimated_price=item.service.price,
        )
        for item in score_services(history, stats, catalogue, as_of)[:k]
    ]


def popularity_baseline(stats: GlobalStats, catalogue: Catalogue, k: int = DEFAULT_K) -> list[int]:
    """Ids of the `k` most popular active services: the baseline the engine must beat."""
    ranked = sorted(catalogue.by_key.items(), key=lambda item: (-stats.popularity.get(item[0], 0), item[1].id))
    return [service.id for _, service in ranked[:k]]


# --- offers and insights ----------------------------------------------------------------------------------

# Segment -> (title, description, base discount %). `{servicio}` is the first recommendation.
OFFERS = {
    "vip": (
        "Experiencia exclusiva Aremko",
        "Le reservamos un upgrade exclusivo: {servicio} con atención preferente.",
        10,
    ),
    "champions": ("Upgrade para nuestros mejores clientes", "Sume {servicio} a su próxima visita con un upgrade.", 10),
    "loyal": ("Gracias por su fidelidad", "Como agradecimiento, le ofrecemos {servicio} en su próxima visita.", 10),
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
        text += f" {discount}% de descuento presentando su código."
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
            model="local-v1",
        )
