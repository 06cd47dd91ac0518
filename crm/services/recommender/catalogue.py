"""The catalogue as the recommender sees it, and the one mapping from history names to services."""

from __future__ import annotations

from dataclasses import dataclass, field

from ventas.models import Servicio
from ventas.normalize import search_key


@dataclass(frozen=True)
class CatalogueService:
    """An active catalogue service as the recommender and the proposal engines see it."""

    id: int
    name: str
    category: str
    price: int


@dataclass(frozen=True)
class Catalogue:
    active: dict[int, CatalogueService]
    by_key: dict[str, CatalogueService]  # active services by key
    category_of_key: dict[str, str]  # every catalogue service (active or not) -> category
    aliases: dict[str, str] = field(default_factory=dict)  # alias key -> catalogue key
    _keys: dict[str, str] = field(default_factory=dict, compare=False, repr=False)  # memo: a few dozen names

    def key_of(self, service_name: str) -> str:
        """The key of a history row's service name: normalised name, then aliases (the ONE mapping)."""
        key = self._keys.get(service_name)
        if key is None:
            key = search_key(service_name or "")
            key = self._keys[service_name] = self.aliases.get(key, key)
        return key

    def service_of(self, service_name: str) -> CatalogueService | None:
        """The active catalogue service a history row's name stands for, or None."""
        return self.by_key.get(self.key_of(service_name))


def load_catalogue(*, aliases: dict[str, str] | None = None) -> Catalogue:
    """The catalogue in one query; only active services can ever be recommended.

    `aliases` maps alias names to catalogue names (both normalised); it is where service merges plug in.
    """
    active, by_key, category_of_key = {}, {}, {}
    for row in Servicio.objects.order_by("id").values("id", "nombre", "categoria__nombre", "precio_base", "activo"):
        key = search_key(row["nombre"])
        category_of_key[key] = row["categoria__nombre"]
        if row["activo"]:
            service = CatalogueService(row["id"], row["nombre"], row["categoria__nombre"], row["precio_base"])
            active[service.id] = service
            by_key[key] = service
    return Catalogue(active=active, by_key=by_key, category_of_key=category_of_key, aliases=dict(aliases or {}))
