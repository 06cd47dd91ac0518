"""Everyone's history in a few grouped queries: popularity, seasonality and same-day co-occurrence."""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import connection
from django.db.models import Case, Count, Value, When
from django.db.models.functions import ExtractMonth

from crm.services.recommender.catalogue import Catalogue
from ventas.models import ServiceHistory
from ventas.normalize import SEASONS


@dataclass
class GlobalStats:
    """Popularity, seasonality and co-occurrence, keyed by catalogue key (Catalogue.key_of)."""

    popularity: dict[str, int] = field(default_factory=dict)  # rows
    by_month: dict[str, dict[int, int]] = field(default_factory=dict)  # real dates only
    baskets: dict[str, int] = field(default_factory=dict)  # rows on real dates (~ (customer, day) baskets)
    pairs: dict[str, dict[str, int]] = field(default_factory=dict)  # a -> b -> same customer, same day
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
        return min(1.0, self.pairs.get(given, {}).get(key, 0) / baskets) if baskets else 0.0


def _period(bounds: list[datetime.date]):
    """Period index of a row: 0 before bounds[0], 1 before bounds[1], ... (rows after the last bound excluded)."""
    if not bounds:
        return Value(0)
    return Case(
        *(When(service_date__lt=bound, then=Value(index)) for index, bound in enumerate(bounds)),
        default=Value(len(bounds)),
    )


def _rows(bounds: list[datetime.date]):
    rows = ServiceHistory.objects.all()
    return rows.filter(service_date__lt=bounds[-1]) if bounds else rows


def _baskets_sql(bounds: list[datetime.date], services: list[str] | None) -> tuple[str, tuple]:
    """(period, customer, day, service) of every row on a real date, as the SQL of a queryset.

    Built by the ORM from `with_real_dates()`, so the placeholder-date rule has one definition. Rows, not
    DISTINCT baskets: a service booked twice the same day is rare (<1% of rows in the exports seen so far),
    and de-duplicating a million rows costs PostgreSQL several times the whole join.
    """
    rows = _rows(bounds).filter(ServiceHistory.objects.real_date_q())
    if services is not None:
        rows = rows.filter(service_name__in=services)
    rows = rows.order_by().annotate(period=_period(bounds))
    return rows.values("period", "cliente_id", "service_date", "service_name").query.sql_with_params()


def stats_by_period(
    catalogue: Catalogue, bounds: list[datetime.date], *, services: list[str] | None = None
) -> list[GlobalStats]:
    """Everyone's statistics strictly before each of `bounds` (ascending), from one pass of three grouped queries.

    A (customer, day) basket falls in exactly one period, so the statistics before bounds[i] are the sums of
    periods 0..i. `services`: co-occurrence only from these service names (keeps the self-join small). Rows on
    the placeholder date count for popularity, never for months or baskets.
    """
    periods = [GlobalStats() for _ in bounds or [None]]
    month = Case(When(ServiceHistory.objects.real_date_q(), then=ExtractMonth("service_date")), default=Value(0))
    for period, name, month_number, n in (
        _rows(bounds)
        .order_by()
        .annotate(period=_period(bounds), month=month)
        .values("period", "service_name", "month")
        .annotate(n=Count("id"))
        .values_list("period", "service_name", "month", "n")
    ):
        stats = periods[period]
        key = catalogue.key_of(name)
        stats.popularity[key] = stats.popularity.get(key, 0) + n
        stats.total_rows += n
        if month_number:
            months = stats.by_month.setdefault(key, {})
            months[month_number] = months.get(month_number, 0) + n
            stats.month_totals[month_number] = stats.month_totals.get(month_number, 0) + n

    if services is None or services:
        own_sql, own_params = _baskets_sql(bounds, services)
        # Without a service filter both sides are the same baskets: one CTE, computed once.
        others_sql, others_params = _baskets_sql(bounds, None) if services is not None else ("SELECT * FROM a", ())
        with connection.cursor() as cursor:
            # Only SQL generated by the ORM is interpolated here; every value travels as a parameter.
            cursor.execute(
                f"WITH a AS ({own_sql}), o AS ({others_sql})"  # noqa: S608
                " SELECT a.period, a.service_name, NULL, COUNT(*) FROM a GROUP BY a.period, a.service_name"
                " UNION ALL"
                " SELECT a.period, a.service_name, o.service_name, COUNT(*) FROM a"
                " JOIN o ON o.cliente_id = a.cliente_id AND o.service_date = a.service_date"
                " AND o.service_name <> a.service_name GROUP BY a.period, a.service_name, o.service_name",
                (*own_params, *others_params),
            )
            for period, name, other, n in cursor.fetchall():
                key = catalogue.key_of(name)
                if other is None:
                    periods[period].baskets[key] = periods[period].baskets.get(key, 0) + n
                else:
                    row = periods[period].pairs.setdefault(key, {})
                    other_key = catalogue.key_of(other)
                    row[other_key] = row.get(other_key, 0) + n
    return _cumulative(periods)


def _cumulative(periods: list[GlobalStats]) -> list[GlobalStats]:
    result, total = [], GlobalStats()
    for period in periods:
        total = GlobalStats(
            popularity=_add(total.popularity, period.popularity),
            by_month=_add_nested(total.by_month, period.by_month),
            baskets=_add(total.baskets, period.baskets),
            pairs=_add_nested(total.pairs, period.pairs),
            total_rows=total.total_rows + period.total_rows,
            month_totals=_add(total.month_totals, period.month_totals),
        )
        total.max_popularity = max(total.popularity.values(), default=0)
        result.append(total)
    return result


def _add(a: dict, b: dict) -> dict:
    merged = dict(a)
    for key, value in b.items():
        merged[key] = merged.get(key, 0) + value
    return merged


def _add_nested(a: dict, b: dict) -> dict:
    merged = {key: dict(value) for key, value in a.items()}
    for key, value in b.items():
        merged[key] = _add(merged.get(key, {}), value)
    return merged


def global_stats(
    catalogue: Catalogue, *, before: datetime.date | None = None, services: list[str] | None = None
) -> GlobalStats:
    """Everyone's statistics strictly before `before` (all history when None); see `stats_by_period`."""
    return stats_by_period(catalogue, [before] if before else [], services=services)[0]


# Everyone's statistics move slowly (a day of bookings barely changes them) and cost a few table scans, so
# live proposals share them through the cache: per as-of date, for an hour. Training computes its own.
STATS_CACHE_SECONDS = 3600


def cached_global_stats(catalogue: Catalogue, as_of: datetime.date) -> GlobalStats:
    """Everyone's statistics for a live proposal as of `as_of`.

    From the precomputed table when it has been built (`stored_stats`, rebuilt by the refresh/training job);
    otherwise (fresh install, or `as_of` before the last build) global_stats() of the history up to and
    including `as_of`, from the cache when possible.
    """
    from crm.services.recommender import stored_stats  # it builds on this module

    stored = stored_stats.load(catalogue, as_of)
    if stored is not None:
        return stored
    key = f"recommender:stats:v2:{as_of.isoformat()}"
    stats = cache.get(key)
    if stats is None:
        stats = global_stats(catalogue, before=as_of + datetime.timedelta(days=1))
        cache.set(key, stats, STATS_CACHE_SECONDS)
    return stats
