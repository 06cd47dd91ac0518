"""The catalogue learned from a history export.

The legacy exports carry service names and categories but no catalogue. While `import_history` streams a file
it feeds every line here (`CatalogueLearner.add`: a few counters per distinct service name, so memory grows
with the services, not with the lines); after the last batch `apply()` writes the catalogue:

- every service of the file that is not in the catalogue (names compared with `search_key`, aliases included)
  is added, named as written most often;
- its category is the one its lines carry most often (`categorize`), matched to an existing
  `CategoriaServicio` without case or accents (`tinas` = `Tinas`), else created with the nicest spelling seen;
- its reference price is the median unit price (`valor / cantidad`, zero values ignored) over the service's
  last 12 months in the file (calendar months, counted back from the month of its last sale);
- it is active when sold in the last 12 months of the file (on or after the same day a year before the file's
  last real date).

Services staff created or edited (`Servicio.Origen.ADMIN`) are never changed; services learned from an earlier
import (`Origen.HISTORIAL`) get the price and the active flag of the new file.

`merge_services` (admin action) makes several services one: the others become aliases of the one kept.
"""

import datetime
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction

from ventas.models import CategoriaServicio, ServiceHistory, Servicio, ServicioAlias
from ventas.normalize import search_key

TIPOS = {"tinas": Servicio.Tipo.TINA, "masajes": Servicio.Tipo.MASAJE, "cabanas": Servicio.Tipo.CABANA}
PRICE_MONTHS = 12


@dataclass(slots=True)
class _Seen:
    rows: int = 0
    last: datetime.date | None = None
    categories: Counter = field(default_factory=Counter)
    prices: dict[int, Counter] = field(default_factory=dict)  # month index -> unit price -> lines


@dataclass
class CatalogueChanges:
    added: int = 0
    updated: int = 0


def _year_before(day: datetime.date) -> datetime.date:
    return day.replace(year=day.year - 1, day=min(day.day, 28) if (day.month, day.day) == (2, 29) else day.day)


def _median(prices: Counter) -> int:
    total = sum(prices.values())
    if not total:
        return 0
    ordered = sorted(prices)
    # Median of the expanded list without expanding it: the middle one or the mean of the two middle ones.
    wanted = [(total - 1) // 2, total // 2]
    found, seen = [], 0
    for price in ordered:
        seen += prices[price]
        while wanted and wanted[0] < seen:
            found.append(price)
            wanted.pop(0)
    return round(sum(found) / len(found))


def _nicest(spellings: Counter) -> str:
    """The spelling with accents when there is one (`Cabañas` over `Cabanas`), else the most frequent."""
    return max(spellings, key=lambda name: (sum(not ch.isascii() for ch in name), spellings[name]))


class CatalogueLearner:
    def __init__(self, placeholder: datetime.date):
        self.placeholder = placeholder
        # (name, category, month index or None for the placeholder day, amount, quantity) -> lines: one counter
        # increment per line; the entries grow with services × months × prices, not with the lines.
        self.counts: Counter = Counter()
        self.last: dict[str, datetime.date] = {}  # name -> last real date

    def add(self, name: str, category: str, day: datetime.date, amount: Decimal, quantity: int) -> None:
        if day == self.placeholder:  # an unknown date tells neither when it was sold nor its recent price
            self.counts[(name, category, None, amount, quantity)] += 1
            return
        self.counts[(name, category, day.year * 12 + day.month - 1, amount, quantity)] += 1
        last = self.last.get(name)
        if last is None or day > last:
            self.last[name] = day

    @property
    def seen(self) -> dict[str, _Seen]:
        seen: dict[str, _Seen] = {}
        for (name, category, month, amount, quantity), lines in self.counts.items():
            item = seen.get(name)
            if item is None:
                item = seen[name] = _Seen(last=self.last.get(name))
            item.rows += lines
            item.categories[category] += lines
            if month is not None and amount and quantity:
                item.prices.setdefault(month, Counter())[amount / quantity] += lines
        return seen

    @property
    def last_day(self) -> datetime.date | None:
        return max(self.last.values(), default=None)

    def apply(self) -> CatalogueChanges:
        """Add the services of the file that the catalogue lacks; refresh those learned before."""
        changes = CatalogueChanges()
        if not self.counts:
            return changes
        grouped: dict[str, list[tuple[str, _Seen]]] = {}
        for name, seen in self.seen.items():
            grouped.setdefault(search_key(name), []).append((name, seen))
        services = {search_key(s.nombre): s for s in Servicio.objects.select_related("categoria")}
        for clave, servicio_id in ServicioAlias.objects.values_list("clave", "servicio_id"):
            services.setdefault(clave, next((s for s in services.values() if s.pk == servicio_id), None))
        categories = self._categories(grouped)
        last_day = self.last_day
        active_since = _year_before(last_day) if last_day else None
        new, changed = [], []
        for key, variants in grouped.items():
            existing = services.get(key)
            if existing is not None and existing.origen != Servicio.Origen.HISTORIAL:
                continue
            stats = _merge([seen for _, seen in variants])
            price = self._price(stats)
            active = bool(stats.last and active_since and stats.last >= active_since)
            if existing is None:
                name = max(variants, key=lambda item: item[1].rows)[0][:200]
                category = categories[search_key(stats.categories.most_common(1)[0][0])]
                tipo = TIPOS.get(search_key(category.nombre), Servicio.Tipo.OTRO)
                new.append(
                    Servicio(nombre=name, categoria=category, tipo_servicio=tipo, precio_base=price, activo=active)
                )
                new[-1].origen = Servicio.Origen.HISTORIAL
            elif (existing.precio_base, existing.activo) != (price, active):
                existing.precio_base, existing.activo = price, active
                changed.append(existing)
        Servicio.objects.bulk_create(new)
        Servicio.objects.bulk_update(changed, ["precio_base", "activo"])
        changes.added, changes.updated = len(new), len(changed)
        return changes

    def _categories(self, grouped) -> dict[str, CategoriaServicio]:
        """Folded category name -> CategoriaServicio, creating the missing ones."""
        spellings: dict[str, Counter] = {}
        for variants in grouped.values():
            for _, seen in variants:
                for category, rows in seen.categories.items():
                    spellings.setdefault(search_key(category), Counter())[category] += rows
        existing = {search_key(c.nombre): c for c in CategoriaServicio.objects.all()}
        missing = [CategoriaServicio(nombre=_nicest(s)[:100]) for key, s in spellings.items() if key not in existing]
        CategoriaServicio.objects.bulk_create(missing)
        existing.update({search_key(c.nombre): c for c in missing})
        return existing

    @staticmethod
    def _price(stats: _Seen) -> int:
        if not stats.prices:
            return 0
        newest = max(stats.prices)
        window = Counter()
        for month, prices in stats.prices.items():
            if newest - month < PRICE_MONTHS:
                window.update(prices)
        return _median(window)


def _merge(parts: list[_Seen]) -> _Seen:
    if len(parts) == 1:
        return parts[0]
    merged = _Seen()
    for part in parts:
        merged.rows += part.rows
        merged.categories.update(part.categories)
        if part.last and (merged.last is None or part.last > merged.last):
            merged.last = part.last
        for month, prices in part.prices.items():
            merged.prices.setdefault(month, Counter()).update(prices)
    return merged


@dataclass
class MergeResult:
    aliases: int
    history_rows: int


def merge_services(*, target: Servicio, others: list[Servicio]) -> MergeResult:
    """Make `others` aliases of `target`: their names (and their own aliases) map to `target` from now on, the
    history lines written with them take `target`'s name, and they leave the catalogue. One transaction.

    `target` counts as edited by staff from then on, so later imports never change it. History natural keys do
    not depend on aliases (`ServiceCatalog.key_name`), so re-importing a file after a merge adds nothing.
    """
    others = [other for other in others if other.pk != target.pk]
    with transaction.atomic():
        target_key = search_key(target.nombre)
        merged_keys = {search_key(other.nombre) for other in others}
        merged_keys |= set(ServicioAlias.objects.filter(servicio__in=others).values_list("clave", flat=True))
        ServicioAlias.objects.filter(servicio__in=others).update(servicio=target)
        existing = set(ServicioAlias.objects.filter(clave__in=merged_keys).values_list("clave", flat=True))
        new = [
            ServicioAlias(nombre=other.nombre, clave=search_key(other.nombre), servicio=target)
            for other in others
            if search_key(other.nombre) not in existing | {target_key}
        ]
        ServicioAlias.objects.bulk_create(new)
        # Distinct names only (a few hundred): fold them here, then one UPDATE for the lines that carry them.
        names = ServiceHistory.objects.values_list("service_name", flat=True).distinct().order_by()
        renamed = [name for name in names if search_key(name) in merged_keys and name != target.nombre]
        rows = ServiceHistory.objects.filter(service_name__in=renamed).update(service_name=target.nombre)
        Servicio.objects.filter(pk__in=[other.pk for other in others]).delete()
        Servicio.objects.filter(pk=target.pk).update(origen=Servicio.Origen.ADMIN)
    return MergeResult(aliases=len(new), history_rows=rows)
