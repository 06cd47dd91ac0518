"""The signals of every active catalogue service for one customer as of a date, as a numpy matrix.

- own:         share of the customer's services that were this one (they come back for what they like);
- days_share:  share of the customer's visit days on which they took it;
- last_basket: 1 when they took it on their last visit day;
- co:          co-occurrence: how often everyone who takes the customer's services takes this one the same day
               (P(s | t) over (customer, day) baskets, weighted by how much the customer uses t);
- cat:         share of the customer's services in this service's category;
- season:      log-lift of the service in the season of the as-of date (southern hemisphere) vs. the year;
- pop:         overall popularity (log-scaled, 0–1);
- in_category: log of the service's popularity relative to the most popular service of its category;
- recent:      1 when the customer took it in the last 30 days;
- cold_pop:    pop for customers without history (the cold-start prior gets its own weight).
"""

from __future__ import annotations

import datetime
import math

import numpy as np

from crm.services.recommender.catalogue import Catalogue
from crm.services.recommender.history import CustomerHistory
from crm.services.recommender.stats import GlobalStats
from ventas.normalize import season_of

FEATURES = ("own", "days_share", "last_basket", "co", "cat", "season", "pop", "in_category", "recent", "cold_pop")
INDEX = {name: position for position, name in enumerate(FEATURES)}
RECENT_DAYS = 30


class FeatureBuilder:
    """Everything that does not depend on the customer, computed once per (statistics, catalogue, date)."""

    def __init__(self, stats: GlobalStats, catalogue: Catalogue, as_of: datetime.date):
        self.stats, self.catalogue, self.as_of = stats, catalogue, as_of
        self.keys = list(catalogue.by_key)
        self.services = [catalogue.by_key[key] for key in self.keys]
        self.position = {key: index for index, key in enumerate(self.keys)}
        self.ids = np.array([service.id for service in self.services], dtype=np.int64)
        n = len(self.keys)
        season = season_of(as_of)
        popularity = np.array([stats.popularity.get(key, 0) for key in self.keys], dtype=float)
        top_in_category: dict[str, float] = {}
        for service, value in zip(self.services, popularity, strict=True):
            top_in_category[service.category] = max(top_in_category.get(service.category, 0.0), value)
        self.popularity = popularity
        self.pop = np.log1p(popularity) / math.log1p(stats.max_popularity) if stats.max_popularity else np.zeros(n)
        self.in_category = np.array(
            [
                math.log((p + 1) / (top_in_category[s.category] + 1))
                for s, p in zip(self.services, popularity, strict=True)
            ]
        )
        self.season = np.array([stats.season_lift(key, season) for key in self.keys])
        self.categories = [service.category for service in self.services]
        self._conditional: dict[str, np.ndarray] = {}

    def conditional(self, given: str) -> np.ndarray:
        """P(service taken the same day | `given` taken) for every active service."""
        row = self._conditional.get(given)
        if row is None:
            row = np.zeros(len(self.keys))
            baskets = self.stats.baskets.get(given, 0)
            if baskets:
                for key, n in self.stats.pairs.get(given, {}).items():
                    position = self.position.get(key)
                    if position is not None and key != given:
                        row[position] = min(1.0, n / baskets)
            self._conditional[given] = row
        return row

    def matrix(self, history: CustomerHistory) -> np.ndarray:
        """(active services × FEATURES) for this customer."""
        n = len(self.keys)
        x = np.zeros((n, len(FEATURES)))
        total = history.rows
        x[:, INDEX["season"]] = self.season
        x[:, INDEX["pop"]] = self.pop
        x[:, INDEX["in_category"]] = self.in_category
        if not total:
            x[:, INDEX["cold_pop"]] = self.pop
            return x
        last_basket = history.last_basket()
        category_rows = history.category_rows()
        co = np.zeros(n)
        for key, use in history.uses.items():
            share = use.rows / total
            co += share * self.conditional(key)
            position = self.position.get(key)
            if position is None:
                continue
            x[position, INDEX["own"]] = share
            if history.visit_days:
                x[position, INDEX["days_share"]] = min(1.0, use.days / history.visit_days)
            x[position, INDEX["last_basket"]] = 1.0 if key in last_basket else 0.0
            if use.last and (self.as_of - use.last).days <= RECENT_DAYS:
                x[position, INDEX["recent"]] = 1.0
        x[:, INDEX["co"]] = co
        x[:, INDEX["cat"]] = [category_rows.get(category, 0) / total for category in self.categories]
        return x
