"""Deterministic, realistic demo data for Aremko: catalogue, customers and five years of service history.

Two halves:
- a pure generator (`demo_size`, `iter_client_chunks`): the same seed and scale always give the same customers and
  rows, whatever the machine; history dates are offsets in days before `today`, so the data stays alive (recent
  visits, every RFM segment populated) whenever it is loaded. Memory stays flat with the scale: customers are
  produced in chunks and every per-customer decision (has history? how many rows? which phone?) is a closed formula
  of its position, never a list of all customers.
- the loader (`load_demo_data`, `reset_demo_data`): bulk inserts, one transaction per chunk.

At scale 1 there are exactly 3,053 customers, 961 of them with history and 26,158 history rows (CLP 1,225
million with the default profile, 1,252 million with `popular`; the sizes do not depend on the profile). Visit
counts are long-tailed (one customer close to 400 services), tubs peak in the southern winter, tubs and massages
are booked together under one `reserva_id`, and two discontinued services appear only in old history (the proposal
engine must never recommend them).

Personal behaviour, so that a recommender has something to learn and something to get wrong (`PROFILES`):
each customer has a usual kind of visit, a first and a second favourite service per category and their own
probability of taking a favourite rather than what is popular (regulars usually do, the long tail of occasional
customers mostly follows popularity), and their own propensity to add a massage to a tub visit (some couples
always do, others never). With the `popular` profile habits are weak and favourites close to the popular
services, a second, differently shaped data set. On the default profile a customer's own three most frequent
services hit their next visit about 1.6 times as often as the three most popular ones; on `popular` they hit less
often than popularity.

Loaded here into the database with the demo catalogue (staff demo); `ventas.importing.synthetic.write_demo_exports`
writes the same history as the legacy system exports it (shared contacts, no catalogue) for the importer.
"""

import dataclasses
import datetime
import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from statistics import NormalDist
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone

from ventas.importing.writers import HISTORY_FIELDS, copy_rows
from ventas.models import CategoriaProducto, CategoriaServicio, Cliente, Producto, ServiceHistory, Servicio
from ventas.normalize import normalize_phone, rut_check_digit, search_key, season_of
from ventas.signals import history_written

logger = logging.getLogger(__name__)

BASE_CLIENTS = 3053
BASE_CLIENTS_WITH_HISTORY = 961
BASE_HISTORY_ROWS = 26158
HISTORY_DAYS = 5 * 365
DEFAULT_SEED = 42

TINAS, MASAJES, CABANAS, AMBIENTACIONES = "Tinas", "Masajes", "Cabañas", "Ambientaciones"


@dataclasses.dataclass(frozen=True)
class DemoService:
    nombre: str
    categoria: str
    tipo: str  # Servicio.Tipo value
    precio_base: int  # CLP: per person (tubs, massages), per night (cabins), per setting (ambientaciones)
    duracion: int  # minutes
    descripcion: str
    activo: bool = True


SERVICES = (
    DemoService("Tina Tronador", TINAS, "tina", 25000, 120, "Tina caliente de madera nativa con vista al bosque."),
    DemoService("Tina Hornopirén", TINAS, "tina", 25000, 120, "Tina caliente a leña junto al río, para 2 a 5."),
    DemoService("Tina Calbuco", TINAS, "tina", 22000, 120, "Tina caliente techada, ideal para días de lluvia."),
    DemoService("Tina Osorno", TINAS, "tina", 28000, 120, "Tina caliente con vista al volcán Osorno."),
    DemoService("Hidromasaje Villarrica", TINAS, "tina", 30000, 120, "Tina con hidromasaje y cromoterapia."),
    DemoService("Hidromasaje Llaima", TINAS, "tina", 28000, 120, "Tina con hidromasaje en terraza privada."),
    DemoService("Hidromasaje Puntiagudo", TINAS, "tina", 26000, 120, "Tina con hidromasaje rodeada de helechos."),
    DemoService("Hidromasaje Puyehue", TINAS, "tina", 24000, 120, "Tina con hidromasaje y ducha exterior."),
    DemoService(
        "Masaje Relajación o Descontracturante",
        MASAJES,
        "masaje",
        40000,
        60,
        "Masaje de cuerpo completo, suave o profundo según lo que necesites.",
    ),
    DemoService("Masaje Piedras Calientes", MASAJES, "masaje", 45000, 75, "Masaje con piedras volcánicas tibias."),
    DemoService("Drenaje Linfático", MASAJES, "masaje", 42000, 60, "Masaje suave que estimula la circulación."),
    DemoService("Reflexología", MASAJES, "masaje", 35000, 45, "Presión en puntos reflejos de los pies."),
    DemoService("Limpieza Facial", MASAJES, "masaje", 45000, 60, "Limpieza profunda con productos naturales."),
    DemoService("Cabaña Torre", CABANAS, "cabana", 140000, 1440, "Cabaña de dos pisos con mirador, para 4."),
    DemoService("Cabaña Acantilado", CABANAS, "cabana", 120000, 1440, "Cabaña sobre el río, para 2 a 4."),
    DemoService("Cabaña Tepa", CABANAS, "cabana", 90000, 1440, "Cabaña de madera de tepa para parejas."),
    DemoService("Cabaña Laurel", CABANAS, "cabana", 95000, 1440, "Cabaña con cocina equipada y terraza."),
    DemoService("Cabaña Arrayán", CABANAS, "cabana", 80000, 1440, "Cabaña acogedora entre arrayanes."),
    DemoService(
        "Ambientación Romántica",
        AMBIENTACIONES,
        "otro",
        45000,
        30,
        "Pétalos, velas y espumante para una ocasión especial.",
    ),
    DemoService(
        "Ambientación Cumpleaños", AMBIENTACIONES, "otro", 35000, 30, "Globos, torta y decoración de cumpleaños."
    ),
    # Discontinued: present only in old history.
    DemoService("Masaje Sueco", MASAJES, "masaje", 38000, 60, "Masaje clásico sueco (ya no se ofrece).", activo=False),
    DemoService("Tina Michimahuida", TINAS, "tina", 20000, 120, "Tina caliente retirada en 2023.", activo=False),
)

PRODUCTS = (
    ("Bebidas", "Jugo natural de frambuesa", 3500, "Jugo de frambuesas del sur, 500 ml."),
    ("Bebidas", "Cerveza artesanal Puerto Varas", 4500, "Cerveza rubia artesanal, 330 ml."),
    ("Bebidas", "Espumante brut", 18000, "Botella de espumante chileno, 750 ml."),
    ("Bebidas", "Té e infusiones", 2500, "Té o infusión de hierbas con miel."),
    ("Tablas", "Tabla de quesos", 16000, "Quesos de Frutillar y Osorno con frutos secos."),
    ("Tablas", "Tabla de carnes ahumadas", 19000, "Carnes ahumadas, pan amasado y pebre."),
    ("Cosmética", "Aceite de masaje de rosa mosqueta", 12000, "Aceite natural de rosa mosqueta, 100 ml."),
    ("Cosmética", "Bata de baño Aremko", 28000, "Bata de algodón con el logo de Aremko."),
)

FIRST_NAMES = (
    "José", "María", "Sebastián", "Martín", "Matías", "Tomás", "Benjamín", "Joaquín", "Agustín", "Vicente",
    "Cristóbal", "Andrés", "Ramón", "Héctor", "Julián", "Nicolás", "Felipe", "Ignacio", "Rodrigo", "Álvaro",
    "Óscar", "Rubén", "Raúl", "Germán", "Iván", "Jesús", "Ángel", "Simón", "Fabián", "Adrián",
    "María José", "Sofía", "Valentina", "Camila", "Martina", "Florencia", "Josefa", "Catalina", "Constanza",
    "Antonia", "Fernanda", "Javiera", "Daniela", "Inés", "Mónica", "Verónica", "Begoña", "Rocío", "Ximena",
    "Solange", "Pía", "Anaís", "Belén", "Maite", "Noemí", "Raquel", "Lucía", "Trinidad", "Dominga", "Isidora",
)  # fmt: skip

SURNAMES = (
    "Muñoz", "Núñez", "Peña", "González", "Rodríguez", "Pérez", "Sánchez", "Martínez", "Fernández", "López",
    "Díaz", "Gómez", "Hernández", "Álvarez", "Gutiérrez", "Jiménez", "Ramírez", "Vásquez", "Rojas", "Soto",
    "Contreras", "Silva", "Sepúlveda", "Morales", "Araya", "Fuentes", "Castillo", "Espinoza", "Valenzuela",
    "Cárdenas", "Carrasco", "Oyarzún", "Bórquez", "Cárcamo", "Barría", "Alvarado", "Mansilla", "Ñancupil",
    "Huenchul", "Catalán", "Santibáñez", "Ibáñez", "Yáñez", "Ortúzar", "Schwarzenberg", "Müller", "Kuschel",
    "Wetzel", "Hübner", "Andrade", "Vargas", "Navarro", "Tapia", "Paredes", "Bustamante", "Orellana",
)  # fmt: skip

CITIES = (  # (city, country, weight)
    ("Puerto Varas", "Chile", 24),
    ("Puerto Montt", "Chile", 24),
    ("Osorno", "Chile", 9),
    ("Santiago", "Chile", 14),
    ("Frutillar", "Chile", 5),
    ("Valdivia", "Chile", 5),
    ("Llanquihue", "Chile", 4),
    ("Ensenada", "Chile", 2),
    ("Temuco", "Chile", 3),
    ("Concepción", "Chile", 3),
    ("Castro", "Chile", 2),
    ("Viña del Mar", "Chile", 2),
    ("San Carlos de Bariloche", "Argentina", 2),
    ("Buenos Aires", "Argentina", 1),
)
EMAIL_DOMAINS = ("example.org", "example.com", "example.net")

# Share of customers without email / without phone / with a RUT / who unsubscribed from proposals.
NO_EMAIL_SHARE = 0.30
NO_PHONE_SHARE = 0.07
RUT_SHARE = 0.45
UNSUBSCRIBED_SHARE = 0.04

# Visit counts: a customer's history rows are 1 + a share of the "extra" rows, following a mixture over the rank u
# (0 = heaviest customer): a lognormal tail for the regulars (u < REGULAR_SHARE) and 0..3 extra rows for the rest.
REGULAR_SHARE = 0.62
REGULAR_MU, REGULAR_SIGMA = 3.35, 0.78
LIGHT_EXTRA = 3.4

# Service prices: today's list price, less Chilean inflation for older visits, and occasional promotions.
YEARLY_INFLATION = 0.055
PRICE_LEVEL = 0.85  # calibrates the scale-1 total to CLP 1,225-1,252 million (by profile)

_NORMAL = NormalDist()
_SERVICES_BY_CATEGORY = {
    category: tuple(s for s in SERVICES if s.categoria == category and s.activo)
    for category in (TINAS, MASAJES, CABANAS, AMBIENTACIONES)
}
_RETIRED = {s.categoria: s for s in SERVICES if not s.activo}
RETIRED_BEFORE_DAYS = 700  # discontinued services only appear in history older than this


@dataclasses.dataclass(frozen=True)
class Profile:
    """How personal the customers' choices are; the sizes and everything else stay the same.

    Within a category a visit takes one of the customer's favourites with their own probability (`loyalty`, drawn
    from Beta(a, b); occasional customers from their own Beta), otherwise a service drawn by popularity
    (exponential over the catalogue order with `popularity_rate`: higher is more concentrated). `routine` is the
    share of visits of the customer's usual kind (tub, massage, cabin); `pairs` the Beta of the customer's
    propensity to book a massage with a tub visit (couples and groups), and vice versa.
    """

    regular_loyalty: tuple[float, float]
    occasional_loyalty: tuple[float, float]
    routine: float
    popularity_rate: float
    favourite_rate: float  # how spread favourites are over a category (lower: more personal, less popular)
    pairs: tuple[float, float]


PROFILES = {
    # Customers have their habits: a regular repeats a favourite three visits out of four, favourites spread over
    # the whole catalogue, some couples always add a massage to the tub. Occasional customers follow popularity.
    "default": Profile(
        regular_loyalty=(6.0, 2.0),
        occasional_loyalty=(1.2, 2.5),
        routine=0.75,
        popularity_rate=0.55,
        favourite_rate=0.2,
        pairs=(0.7, 1.1),
    ),
    # Everybody books what everybody books: weak habits, favourites close to the popular ones.
    "popular": Profile(
        regular_loyalty=(1.0, 6.0),
        occasional_loyalty=(0.5, 8.0),
        routine=0.5,
        popularity_rate=0.9,
        favourite_rate=0.9,
        pairs=(6.0, 10.0),
    ),
}
DEFAULT_PROFILE = "default"


class _Habits(NamedTuple):
    kind: str  # the customer's usual kind of visit
    loyalty: float
    favourites: dict[str, tuple[DemoService, DemoService]]  # per category: first and second favourite
    pairs: float


@dataclasses.dataclass(frozen=True)
class DemoSize:
    clients: int
    clients_with_history: int
    history_rows: int


def demo_size(scale: float) -> DemoSize:
    """Exact counts at a scale: round(3,053 × scale) customers, round(961 × scale) with history, etc."""
    if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
        raise ValueError("scale must be a positive number")
    size = DemoSize(
        round(BASE_CLIENTS * scale), round(BASE_CLIENTS_WITH_HISTORY * scale), round(BASE_HISTORY_ROWS * scale)
    )
    if size.clients < 1:
        raise ValueError("scale is too small: it would create no customers")
    return size


class DemoHistoryRow(NamedTuple):  # a tuple: millions are built at scale 40
    reserva_id: str
    service_type: str
    service_name: str
    service_date: datetime.date
    quantity: int
    price_paid: int  # CLP, line total


@dataclasses.dataclass(frozen=True)
class DemoClient:
    position: int
    nombre: str
    email: str
    telefono: str | None  # E.164
    documento_identidad: str
    pais: str
    ciudad: str
    created_at: datetime.datetime
    acepta_marketing: bool
    fecha_baja: datetime.datetime | None
    history: tuple[DemoHistoryRow, ...]


# ----------------------------------------------------------------------------------------------------------------
# Visit counts: closed-form cumulative allocation, so every customer's count is known from its rank alone and the
# counts add up to exactly the requested number of rows.


def _regular_mass(v: float) -> float:
    """∫₀^v Q(s) ds for the lognormal quantile Q(s) = exp(μ + σ·Φ⁻¹(1 − s)) (the top-v share of its mass)."""
    if v <= 0:
        return 0.0
    if v >= 1:
        return math.exp(REGULAR_MU + REGULAR_SIGMA**2 / 2)
    return math.exp(REGULAR_MU + REGULAR_SIGMA**2 / 2) * _NORMAL.cdf(REGULAR_SIGMA - _NORMAL.inv_cdf(1 - v))


def _extra_cumulative(x: float) -> float:
    """Cumulative "extra rows" density up to rank x in [0, 1]."""
    h = REGULAR_SHARE
    if x <= h:
        return h * _regular_mass(x / h) - x
    tail = (1 - h) / 3 * LIGHT_EXTRA * (1 - (1 - (x - h) / (1 - h)) ** 3)
    return h * _regular_mass(1) - h + tail


class _VisitCounts:
    def __init__(self, customers: int, rows: int):
        self.customers = customers
        self.extra = rows - customers
        self.total = _extra_cumulative(1.0)

    def _allocated(self, rank: int) -> int:
        if rank >= self.customers:
            return self.extra
        return math.floor(self.extra * _extra_cumulative(rank / self.customers) / self.total)

    def rows_for(self, rank: int) -> int:
        return 1 + self._allocated(rank + 1) - self._allocated(rank)


def _coprime_multiplier(rng: random.Random, modulus: int) -> int:
    if modulus <= 2:
        return 1
    multiplier = rng.randrange(modulus // 3, modulus)
    while math.gcd(multiplier, modulus) != 1:
        multiplier += 1
    return multiplier % modulus or 1


class _Plan:
    """Seed-wide decisions: who has history (an affine permutation of positions) and unique phone/RUT numbers."""

    def __init__(self, seed: int, size: DemoSize, profile: Profile):
        rng = random.Random(f"aremko-demo:{seed}")
        self.seed = seed
        self.size = size
        self.profile = profile
        self.rank_a = _coprime_multiplier(rng, size.clients)
        self.rank_b = rng.randrange(size.clients)
        self.phone_a = _coprime_multiplier(rng, 10**8)
        self.phone_b = rng.randrange(10**8)
        self.rut_a = _coprime_multiplier(rng, 17_000_000)
        self.rut_b = rng.randrange(17_000_000)
        self.counts = _VisitCounts(size.clients_with_history, size.history_rows)

    def history_rank(self, position: int) -> int | None:
        rank = (self.rank_a * position + self.rank_b) % self.size.clients
        return rank if rank < self.size.clients_with_history else None

    def phone_digits(self, position: int) -> str:
        return f"{(self.phone_a * position + self.phone_b) % 10**8:08d}"

    def rut_number(self, position: int) -> int:
        return 6_000_000 + (self.rut_a * position + self.rut_b) % 17_000_000


# ----------------------------------------------------------------------------------------------------------------
# One customer.


def _weighted_city(rng: random.Random) -> tuple[str, str]:
    city, country, _ = rng.choices(CITIES, weights=[c[2] for c in CITIES])[0]
    return city, country


def _ascii(text: str) -> str:
    return search_key(text).replace(" ", "")


def _raw_phone(rng: random.Random, digits: str, country: str) -> str:
    """A phone as a person would type it; the loader stores it normalised."""
    if country == "Argentina":
        return f"+54 9 11 {digits[:4]} {digits[4:]}"
    return rng.choice(
        (
            f"+56 9 {digits[:4]} {digits[4:]}",
            f"9{digits}",
            f"569{digits}",
            f"9 {digits[:4]} {digits[4:]}",
            f"+569{digits}",
        )
    )


def _email(rng: random.Random, first: str, surname: str, position: int) -> str:
    first_ascii, surname_ascii = _ascii(first.split()[0]), _ascii(surname)
    local = rng.choice(
        (
            f"{first_ascii}.{surname_ascii}{position}",
            f"{first_ascii[0]}{surname_ascii}{position}",
            f"{surname_ascii}.{first_ascii}{position}",
        )
    )
    return f"{local}@{rng.choice(EMAIL_DOMAINS)}"


def _aware(day: datetime.date, rng: random.Random) -> datetime.datetime:
    naive = datetime.datetime.combine(day, datetime.time(rng.randrange(9, 21), rng.randrange(60)))
    return timezone.make_aware(naive, timezone.get_default_timezone())


# Month weights for the visit date: tubs peak in the southern winter, cabins in summer, massages are flat.
_MONTH_WEIGHTS = {
    TINAS: {1: 0.45, 2: 0.45, 3: 0.55, 4: 0.7, 5: 0.85, 6: 1.0, 7: 1.0, 8: 1.0, 9: 0.8, 10: 0.6, 11: 0.5, 12: 0.5},
    MASAJES: dict.fromkeys(range(1, 13), 1.0),
    CABANAS: {1: 1.0, 2: 1.0, 3: 0.7, 4: 0.6, 5: 0.5, 6: 0.6, 7: 0.8, 8: 0.6, 9: 0.7, 10: 0.6, 11: 0.7, 12: 0.9},
}


def _between(rng: random.Random, low: int, high: int) -> int:
    """Uniform integer in [low, high]; cheaper than `randint`, which matters a million times over."""
    return low + int(rng.random() * (high - low + 1))


def _visit_offset(rng: random.Random, low: int, high: int, kind: str, today: datetime.date) -> int:
    weights = _MONTH_WEIGHTS[kind]
    placeholder = settings.HISTORY_PLACEHOLDER_DATE
    while True:
        offset = _between(rng, low, high)
        day = today - datetime.timedelta(days=offset)
        # The business grew: recent years are busier than five years ago.
        growth = 0.65 + 0.35 * (1 - offset / HISTORY_DAYS)
        if day != placeholder and rng.random() < weights[day.month] * growth:
            return offset


def _price(rng: random.Random, service: DemoService, quantity: int, offset: int) -> int:
    years_ago = offset / 365
    unit = service.precio_base * PRICE_LEVEL / (1 + YEARLY_INFLATION) ** years_ago
    if rng.random() < 0.12:  # promotions and gift-card discounts
        unit *= rng.choice((0.8, 0.85, 0.9))
    return round(unit * quantity / 100) * 100


def _popular(rng: random.Random, category: str, rate: float) -> DemoService:
    """A service drawn by popularity: the catalogue order is the popularity order."""
    options = _SERVICES_BY_CATEGORY[category]
    return options[min(int(rng.expovariate(rate)), len(options) - 1)]


def _habits(rng: random.Random, profile: Profile, tourist: bool) -> _Habits:
    kind = rng.choices((TINAS, MASAJES, CABANAS), cum_weights=(40, 65, 100) if tourist else (55, 87, 100))[0]
    loyalty = rng.betavariate(*(profile.occasional_loyalty if tourist else profile.regular_loyalty))
    favourites = {}
    for category, options in _SERVICES_BY_CATEGORY.items():
        first = _popular(rng, category, profile.favourite_rate)
        second = first if len(options) == 1 else rng.choice([s for s in options if s is not first])
        favourites[category] = (first, second)
    return _Habits(kind, loyalty, favourites, rng.betavariate(*profile.pairs))


def _pick(rng: random.Random, category: str, offset: int, habits: _Habits, profile: Profile) -> DemoService:
    retired = _RETIRED.get(category)
    if retired and offset > RETIRED_BEFORE_DAYS and rng.random() < 0.18:
        return retired
    if rng.random() < habits.loyalty:
        first, second = habits.favourites[category]
        return first if rng.random() < 0.75 else second
    return _popular(rng, category, profile.popularity_rate)


def _visit(
    rng: random.Random, kind: str, offset: int, day: datetime.date, tourist: bool, habits: _Habits, profile: Profile
) -> list[tuple[DemoService, int]]:
    """Services booked together on one day, with quantities (people, or nights for cabins).

    Tourists (few visits, cabin guests) stay longer: they are the big one-off spenders ("Hibernating" later).
    Couples and groups add a massage to their tub (or a tub to their massage) with their own propensity.
    """
    winter = day.month in (5, 6, 7, 8, 9)
    people = rng.choices((2, 3, 4, 5), cum_weights=(60, 78, 92, 100))[0]
    lines: list[tuple[DemoService, int]] = []

    def pick(category: str) -> DemoService:
        return _pick(rng, category, offset, habits, profile)

    if kind == CABANAS:
        nights = rng.choices((1, 2, 3), cum_weights=(10, 50, 100) if tourist else (55, 88, 100))[0]
        lines.append((pick(CABANAS), nights))
        if rng.random() < 0.6:
            lines.append((pick(TINAS), people))
        if rng.random() < 0.25:
            lines.append((pick(AMBIENTACIONES), 1))
        if rng.random() < 0.5 * habits.pairs:
            lines.append((pick(MASAJES), rng.choice((1, 2))))
    elif kind == TINAS:
        lines.append((pick(TINAS), people))
        if rng.random() < habits.pairs + (0.08 if winter else 0):
            lines.append((pick(MASAJES), rng.choice((1, 1, 2))))
        if rng.random() < 0.06:
            lines.append((pick(AMBIENTACIONES), 1))
    else:
        lines.append((pick(MASAJES), 1))
        if rng.random() < 0.6 * habits.pairs + (0.1 if winter else 0):
            lines.append((pick(TINAS), rng.choice((2, 2, 3))))
    return lines


def _recency(rng: random.Random, rows: int) -> int:
    """Days since the last visit: regulars are more often recent, so every RFM segment stays populated."""
    recent, middle = (0.36, 0.16) if rows >= 5 else (0.13, 0.12)
    draw = rng.random()
    if draw < recent:
        return _between(rng, 0, 90)
    if draw < recent + middle:
        return _between(rng, 91, 180)
    return _between(rng, 181, HISTORY_DAYS - 30)


def _history(
    rng: random.Random, rows: int, position: int, today: datetime.date, profile: Profile
) -> list[DemoHistoryRow]:
    tourist = rows < 5
    habits = _habits(rng, profile, tourist)
    last = _recency(rng, rows)
    # Heavier customers have been coming for longer.
    span = min(HISTORY_DAYS - last, int(rng.uniform(60, 400) + rows * rng.uniform(15, 60)))
    first = last + max(span, 0)
    result: list[DemoHistoryRow] = []
    visit = 0
    while len(result) < rows:
        # Mostly the customer's usual kind of visit, sometimes another one.
        if rng.random() < profile.routine:
            kind = habits.kind
        else:
            kind = rng.choices((TINAS, MASAJES, CABANAS), cum_weights=(55, 90, 100))[0]
        offset = last if visit == 0 else _visit_offset(rng, last, first, kind, today)
        day = today - datetime.timedelta(days=offset)
        reserva = f"DEMO-{position:06d}-{visit:03d}"
        for service, quantity in _visit(rng, kind, offset, day, tourist, habits, profile)[: rows - len(result)]:
            result.append(
                DemoHistoryRow(
                    reserva_id=reserva,
                    service_type=service.categoria,
                    service_name=service.nombre,
                    service_date=day,
                    quantity=quantity,
                    price_paid=_price(rng, service, quantity, offset),
                )
            )
        visit += 1
    result.sort(key=lambda row: (row.service_date, row.reserva_id))
    return result


def _client(plan: _Plan, position: int, today: datetime.date) -> DemoClient:
    rng = random.Random(f"aremko-demo:{plan.seed}:{position}")
    first = rng.choice(FIRST_NAMES)
    surname, second_surname = rng.sample(SURNAMES, 2)
    nombre = f"{first} {surname} {second_surname}"
    city, country = _weighted_city(rng)
    email = "" if rng.random() < NO_EMAIL_SHARE else _email(rng, first, surname, position)
    telefono = (
        None
        if rng.random() < NO_PHONE_SHARE
        else normalize_phone(_raw_phone(rng, plan.phone_digits(position), country))
    )
    documento = ""
    if country == "Chile" and rng.random() < RUT_SHARE:
        number = plan.rut_number(position)
        documento = f"{number}-{rut_check_digit(number)}"

    rank = plan.history_rank(position)
    history = _history(rng, plan.counts.rows_for(rank), position, today, plan.profile) if rank is not None else []
    if history:
        first_day = history[0].service_date - datetime.timedelta(days=rng.randint(0, 30))
    else:
        first_day = today - datetime.timedelta(days=rng.randint(0, HISTORY_DAYS))
    created_at = _aware(first_day, rng)
    fecha_baja = None
    if rng.random() < UNSUBSCRIBED_SHARE:
        fecha_baja = _aware(today - datetime.timedelta(days=rng.randint(1, max((today - first_day).days, 1))), rng)
    return DemoClient(
        position=position,
        nombre=nombre,
        email=email,
        telefono=telefono,
        documento_identidad=documento,
        pais=country,
        ciudad=city,
        created_at=created_at,
        acepta_marketing=fecha_baja is None,
        fecha_baja=fecha_baja,
        history=tuple(history),
    )


def iter_client_chunks(
    *,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    today: datetime.date,
    chunk_size: int = 500,
    profile: str = DEFAULT_PROFILE,
) -> Iterator[list[DemoClient]]:
    """Yield the demo customers (with their history) in position order, `chunk_size` at a time.

    `profile` is a key of `PROFILES`; it shapes the choices in the history, never the customers or the sizes.
    """
    size = demo_size(scale)
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: use one of {', '.join(PROFILES)}")
    plan = _Plan(seed, size, PROFILES[profile])
    for start in range(0, size.clients, chunk_size):
        yield [_client(plan, position, today) for position in range(start, min(start + chunk_size, size.clients))]


# ----------------------------------------------------------------------------------------------------------------
# Loading into the database.


@dataclasses.dataclass(frozen=True)
class LoadResult:
    clients: int
    clients_with_history: int
    history_rows: int
    total_paid: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.history_rows / self.seconds if self.seconds else 0.0


def database_has_customers() -> bool:
    return Cliente.objects.exists() or ServiceHistory.objects.exists()


def load_catalogue() -> None:
    """Create or update the demo catalogue (idempotent: matched by name)."""
    for service in SERVICES:
        categoria, _ = CategoriaServicio.objects.get_or_create(nombre=service.categoria)
        Servicio.objects.update_or_create(
            nombre=service.nombre,
            defaults={
                "categoria": categoria,
                "tipo_servicio": service.tipo,
                "precio_base": service.precio_base,
                "duracion": service.duracion,
                "activo": service.activo,
                "descripcion": service.descripcion,
            },
        )
    for category, nombre, precio, descripcion in PRODUCTS:
        categoria, _ = CategoriaProducto.objects.get_or_create(nombre=category)
        Producto.objects.update_or_create(
            nombre=nombre, defaults={"categoria": categoria, "precio_base": precio, "descripcion": descripcion}
        )


def _customers_referenced_elsewhere() -> bool:
    """Whether any table other than the history points at customers (proposals, campaigns, imports...)."""
    for relation in Cliente._meta.related_objects:
        model = relation.through if relation.many_to_many else relation.related_model
        if model is ServiceHistory:
            continue
        field = relation.field.m2m_reverse_field_name() if relation.many_to_many else relation.field.name
        if model._base_manager.filter(**{f"{field}__isnull": False}).exists():
            return True
    return False


def reset_demo_data() -> None:
    """Delete all customers, their history and the catalogue.

    The history table is unmanaged and large: one raw DELETE. Customers go in one raw DELETE too unless other
    tables (proposals, campaigns...) point at them; then Django's cascade runs, in slices so it never holds every
    customer in memory. The catalogue stays when something protects it (loading updates it by name anyway).
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {ServiceHistory._meta.db_table}")  # noqa: S608 constant table name
        history_written.send(sender=ServiceHistory, cliente_ids=None, dates=None)  # derived tables empty too
        if _customers_referenced_elsewhere():
            while ids := list(Cliente.objects.order_by().values_list("pk", flat=True)[:2000]):
                Cliente.objects.filter(pk__in=ids).delete()
        else:
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {Cliente._meta.db_table}")  # noqa: S608 constant table name
    try:
        with transaction.atomic():
            Servicio.objects.all().delete()
            CategoriaServicio.objects.all().delete()
            Producto.objects.all().delete()
            CategoriaProducto.objects.all().delete()
    except (ProtectedError, RestrictedError) as error:
        logger.info("Demo catalogue kept, other records refer to it: %s", error)


def _insert_history(rows: list[tuple]) -> None:
    """Insert history tuples (in `HISTORY_FIELDS` order): COPY on PostgreSQL, executemany elsewhere."""
    table = ServiceHistory._meta.db_table
    if connection.vendor == "postgresql":
        copy_rows(table, HISTORY_FIELDS, rows)
        return
    columns = ", ".join(HISTORY_FIELDS)
    placeholders = ", ".join(["%s"] * len(HISTORY_FIELDS))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", rows)  # noqa: S608


def load_demo_data(
    *,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    today: datetime.date | None = None,
    progress: Callable[[int, int, int], None] | None = None,
    chunk_size: int | None = None,
    profile: str = DEFAULT_PROFILE,
) -> LoadResult:
    """Insert the catalogue and the demo customers with their history; returns counts, total CLP and duration.

    Expects a database without customers (see `database_has_customers`, `reset_demo_data`). Each chunk of customers
    and their history is one transaction; `progress(customers_done, customers_total, rows_done)` runs after each.
    The default chunk is about 2 % of the customers (200 to 2,000 customers: ~1,700 to ~17,000 history rows).
    Customers are bulk-created (their ids come back for the history); history rows skip the ORM (see
    `_insert_history`), so `busqueda`, the E.164 phone, season and year are filled here, as `save()` would.
    """
    today = today or timezone.localdate()
    size = demo_size(scale)
    chunk_size = chunk_size or min(max(size.clients // 50, 200), 2000)
    started = time.perf_counter()
    load_catalogue()
    clients_done = rows_done = with_history = 0
    total_paid = 0
    chunks = iter_client_chunks(seed=seed, scale=scale, today=today, chunk_size=chunk_size, profile=profile)
    for chunk in chunks:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # Demo data can be reloaded after a crash: no need to wait for each chunk's WAL flush.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            created = Cliente.objects.bulk_create(
                [
                    Cliente(
                        nombre=c.nombre,
                        email=c.email,
                        telefono=c.telefono,
                        documento_identidad=c.documento_identidad,
                        pais=c.pais,
                        ciudad=c.ciudad,
                        created_at=c.created_at,
                        acepta_marketing=c.acepta_marketing,
                        fecha_baja=c.fecha_baja,
                        busqueda=Cliente.search_text(c.nombre, c.email),
                    )
                    for c in chunk
                ],
                batch_size=2000,
            )
            history = [
                (
                    cliente.pk,
                    row.reserva_id,
                    row.service_type,
                    row.service_name,
                    row.service_date.isoformat(),
                    row.quantity,
                    row.price_paid,
                    season_of(row.service_date),
                    row.service_date.year,
                )
                for demo_client, cliente in zip(chunk, created, strict=True)
                for row in demo_client.history
            ]
            if history:
                _insert_history(history)
        with_history += sum(1 for c in chunk if c.history)
        total_paid += sum(row[6] for row in history)
        clients_done += len(chunk)
        rows_done += len(history)
        if progress:
            progress(clients_done, size.clients, rows_done)
    with transaction.atomic():
        history_written.send(sender=ServiceHistory, cliente_ids=None, dates=None)  # one rebuild, not per chunk
    return LoadResult(clients_done, with_history, rows_done, total_paid, time.perf_counter() - started)
