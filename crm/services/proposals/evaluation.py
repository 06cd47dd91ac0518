"""Offline evaluation of the local engine by replaying history (`manage.py evaluate_recommendations`).

For every customer with at least two real visit days: hide the last visit day, recommend from the rest as
of that day (its season, its recency), and count a hit when a recommended service was taken that day.
Everyone's statistics are computed once, with every customer's last day left out, so no replay sees its
answer; the per-customer histories come from grouped queries too. The baseline recommends the k most
popular active services to everybody.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Max

from crm.services.proposals import local
from ventas.models import ServiceHistory
from ventas.normalize import search_key


@dataclass(frozen=True)
class Evaluation:
    k: int
    customers: int
    engine_hits: int
    baseline_hits: int
    mean_top_confidence: float  # calibration: compare with top1_hit_rate
    top1_hits: int

    @property
    def engine_hit_rate(self) -> float:
        return self.engine_hits / self.customers if self.customers else 0.0

    @property
    def baseline_hit_rate(self) -> float:
        return self.baseline_hits / self.customers if self.customers else 0.0

    @property
    def top1_hit_rate(self) -> float:
        return self.top1_hits / self.customers if self.customers else 0.0


@dataclass
class Replay:
    catalogue: local.Catalogue
    stats: local.GlobalStats
    hidden_days: dict[int, datetime.date]
    taken: dict[int, set[int]]
    histories: dict[int, local.CustomerHistory]


def load_replay() -> Replay:
    """Everything the replay needs, in a handful of grouped queries."""
    catalogue = local.load_catalogue()
    stats = local.global_stats(leave_last_out=True)
    real = ServiceHistory.objects.with_real_dates().order_by()

    hidden_days: dict[int, datetime.date] = dict(
        real.values("cliente_id")
        .annotate(days=Count("service_date", distinct=True), last=Max("service_date"))
        .filter(days__gte=2)
        .values_list("cliente_id", "last")
    )
    taken: dict[int, set[int]] = defaultdict(set)
    for cliente_id, name in (
        real.filter(service_date=local.last_visit_day_subquery()).values_list("cliente_id", "service_name").distinct()
    ):
        service = catalogue.by_key.get(search_key(name))
        if service:
            taken[cliente_id].add(service.id)

    before = ServiceHistory.objects.filter(service_date__lt=local.last_visit_day_subquery())
    histories: dict[int, local.CustomerHistory] = defaultdict(local.CustomerHistory)
    for row in local.per_service_totals(before, "cliente_id"):
        histories[row["cliente_id"]].add(row, catalogue)
    for cliente_id, days in (
        before.filter(local.real_date_q())
        .order_by()
        .values("cliente_id")
        .annotate(n=Count("service_date", distinct=True))
        .values_list("cliente_id", "n")
    ):
        histories[cliente_id].visit_days = days

    return Replay(catalogue, stats, hidden_days, dict(taken), dict(histories))


def evaluate(k: int = local.DEFAULT_K, replay: Replay | None = None) -> Evaluation:
    replay = replay or load_replay()
    catalogue, stats, hidden_days, taken, histories = (
        replay.catalogue,
        replay.stats,
        replay.hidden_days,
        replay.taken,
        replay.histories,
    )
    baseline = set(local.popularity_baseline(stats, catalogue, k))
    engine_hits = baseline_hits = top1_hits = 0
    confidence_sum = 0.0
    for cliente_id, day in hidden_days.items():
        answer = taken.get(cliente_id, set())
        history = histories.get(cliente_id) or local.CustomerHistory()
        recommendations = local.recommend(history, stats, catalogue, day, k)
        engine_hits += bool(answer & {item.service_id for item in recommendations})
        baseline_hits += bool(answer & baseline)
        if recommendations:
            confidence_sum += recommendations[0].confidence
            top1_hits += recommendations[0].service_id in answer
    return Evaluation(
        k=k,
        customers=len(hidden_days),
        engine_hits=engine_hits,
        baseline_hits=baseline_hits,
        mean_top_confidence=confidence_sum / len(hidden_days) if hidden_days else 0.0,
        top1_hits=top1_hits,
    )
