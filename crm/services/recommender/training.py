"""Fit, select and calibrate the recommender on this installation's own history, with a time split.

    cutoff C (default: the first of the most recent 20% of real visit days)
    training cutoffs C3 < C2 < C1 < C (each the same rule applied to the days before the next one)

1. Fit: logistic regression (IRLS, light L2) of "service taken on the customer's next visit" on the features,
   with one example set per training window: features as of Ci and labels from each customer's first visit in
   [Ci, Ci-1). Nothing on or after C.
2. Select: the fitted engine and the baselines (popularity, personal top-frequency, personal-then-global) rank
   every customer with history before C for their first visit on or after C, features as of C. The engine is
   served only when its hit-rate@k beats the best baseline; otherwise that baseline is served until the next
   training, and proposals name it.
3. Calibrate: Platt scaling of the chosen model's score on its top-k recommendations in the held-out period.
   The reported calibration is cross-fitted (fitted on half of the held-out customers, measured on the other
   half, and vice versa), so it is never measured on the visits it was fitted on.

Serving: the stored weights are the ones fitted before C and measured after it; they are not refitted on the
held-out visits, so the figures reported are the figures of the served model. Its features are computed live
from all history up to the day of the proposal. The next training (after each import, nightly) moves C forward.
"""

from __future__ import annotations

import datetime
import logging
import time
from dataclasses import dataclass, field

import numpy as np
from django.db.models import Max, Min
from django.utils import timezone

from crm.models import RecommenderModel
from crm.services.recommender import metrics, stored_stats
from crm.services.recommender.catalogue import load_catalogue
from crm.services.recommender.confidence import base_rates_of
from crm.services.recommender.dataset import Dataset, build_datasets, default_cutoff, training_cutoffs
from crm.services.recommender.features import FEATURES
from crm.services.recommender.model import (
    DEFAULT_MODEL,
    ENGINE,
    PERSONAL,
    PERSONAL_GLOBAL,
    POPULARITY,
    RankingModel,
    baseline,
)
from ventas.models import ServiceHistory

logger = logging.getLogger(__name__)

BASELINES = (POPULARITY, PERSONAL, PERSONAL_GLOBAL)
TRAINING_WINDOWS = 3
L2 = 1e-2


class TrainingError(Exception):
    """Not enough history to train or evaluate; `message` is Spanish."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = L2, iterations: int = 50) -> tuple[np.ndarray, float]:
    """Weights and bias of a logistic regression by IRLS (Newton), with an L2 penalty on the weights."""
    n, d = x.shape
    design = np.hstack([x, np.ones((n, 1))])
    beta = np.zeros(d + 1)
    beta[-1] = np.log((y.mean() + 1e-6) / (1 - y.mean() + 1e-6))
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(design @ beta, -30, 30)))
        gradient = design.T @ (y - p) - penalty * beta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty) + 1e-9 * np.eye(d + 1)
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]  # tolerates a singular Hessian
        if not np.isfinite(step).all():
            break
        beta += step
        if np.abs(step).max() < 1e-7:
            break
    return beta[:-1], float(beta[-1])


def fit_engine(training_sets: list[Dataset]) -> RankingModel:
    """The engine's weights fitted on the training windows (or the built-in defaults when it cannot be fitted)."""
    x = np.concatenate([data.x.reshape(-1, len(FEATURES)) for data in training_sets])
    y = np.concatenate([data.y.reshape(-1) for data in training_sets]).astype(float)
    if not len(y) or y.min() == y.max():
        return DEFAULT_MODEL
    weights, bias = fit_logistic(x, y)
    return RankingModel(ENGINE, {name: float(w) for name, w in zip(FEATURES, weights, strict=True)}, bias)


def platt(model: RankingModel, data: Dataset, k: int) -> tuple[float, float, float]:
    """(a, b, c) so that sigmoid(a·score + b + c·[first place]) matches the hit rates of the model's top-k
    recommendations: by the logistic likelihood equations, the mean confidence of the first places equals their
    hit rate on the data it is fitted on. c is dropped when negative (the first place never looks worse)."""
    k = min(k, data.y.shape[1])
    if not data.customers or not k:
        return model.calibration
    score = metrics.scores(model, data)
    top = metrics.top_k(score, k)
    rows = np.arange(data.customers)[:, None]
    s, hit = score[rows, top], data.y[rows, top].astype(float)
    first = np.zeros_like(s)
    first[:, 0] = 1.0
    design = np.column_stack([s.reshape(-1), first.reshape(-1)]) if k > 1 else s.reshape(-1, 1)
    flat = hit.reshape(-1)
    if flat.min() == flat.max():
        return (0.0, float(np.log((flat.mean() + 1e-3) / (1 - flat.mean() + 1e-3))), 0.0)
    weights, b = fit_logistic(design, flat, l2=1e-6)
    a, c = float(weights[0]), (float(weights[1]) if k > 1 else 0.0)
    if a > 0 and c >= 0:
        return (a, float(b), c)
    # The constrained fit (a >= 0, c >= 0) lies on the boundary of whichever went negative.
    if k > 1 and a <= 0:
        (c,), b = fit_logistic(design[:, 1:], flat, l2=1e-6)
        if c >= 0:
            return (0.0, float(b), float(c))
    (a,), b = fit_logistic(design[:, :1], flat, l2=1e-6)
    if a > 0:
        return (float(a), float(b), 0.0)
    return (0.0, float(np.log(flat.mean() / (1 - flat.mean()))), 0.0)


def cross_fitted_metrics(model: RankingModel, data: Dataset, k: int) -> dict:
    """metrics.evaluate with confidences calibrated on the other half of the customers (never their own)."""
    result = metrics.evaluate(model.with_calibration(*platt(model, data, k)), data, k)
    halves = data.cliente_ids % 2 == 0
    if halves.sum() < 2 or (~halves).sum() < 2:
        return result
    figures = []
    for fit_on in (halves, ~halves):
        calibrated = model.with_calibration(*platt(model, data.subset(fit_on), k))
        figures.append(metrics.evaluate(calibrated, data.subset(~fit_on), k))
    total = sum(figure["customers"] for figure in figures)
    result["top1_confidence"] = sum(f["top1_confidence"] * f["customers"] for f in figures) / total
    bins: dict[float, dict] = {}
    for figure in figures:
        for row in figure["reliability"]:
            merged = bins.setdefault(row["from"], {**row, "n": 0, "confidence": 0.0, "observed": 0.0})
            merged["confidence"] += row["confidence"] * row["n"]
            merged["observed"] += row["observed"] * row["n"]
            merged["n"] += row["n"]
    result["reliability"] = [
        {**row, "confidence": row["confidence"] / row["n"], "observed": row["observed"] / row["n"]}
        for _, row in sorted(bins.items())
    ]
    return result


@dataclass
class Candidate:
    model: RankingModel
    metrics: dict

    @property
    def kind(self) -> str:
        return self.model.kind


@dataclass
class TrainingReport:
    k: int
    cutoff: datetime.date
    inner_cutoff: datetime.date  # the oldest training cutoff
    data_from: datetime.date | None
    data_to: datetime.date | None
    training_customers: int
    heldout: Dataset
    candidates: list[Candidate]
    chosen: Candidate
    seconds: float = 0.0
    stored: RecommenderModel | None = None
    notes: list[str] = field(default_factory=list)

    def candidate(self, kind: str) -> Candidate:
        return next(item for item in self.candidates if item.kind == kind)


def choose(candidates: list[Candidate]) -> Candidate:
    """The engine when its hit-rate@k beats every baseline; else the best baseline (hit rate, then NDCG)."""
    engine = next(item for item in candidates if item.kind == ENGINE)
    baselines = [item for item in candidates if item.kind != ENGINE]
    best = max(baselines, key=lambda item: (item.metrics["hit_rate"], item.metrics["ndcg"]))
    return engine if engine.metrics["hit_rate"] > best.metrics["hit_rate"] else best


def train(*, cutoff: datetime.date | None = None, k: int = 3, store: bool = True) -> TrainingReport:
    """Fit on the visits before `cutoff`, select and calibrate on the visits after it; store the chosen model.

    Raises TrainingError when there are too few real visit days or customers on either side of the split.
    """
    started = time.perf_counter()
    if store:  # the live proposals' statistics (whole history up to today), even when no model can be fitted
        stored_stats.rebuild()
    span = ServiceHistory.objects.with_real_dates().aggregate(first=Min("service_date"), last=Max("service_date"))
    cutoff = cutoff or default_cutoff()
    if cutoff is None:
        raise TrainingError("No hay suficientes días de visita en el historial para entrenar.")
    bounds = training_cutoffs(cutoff, TRAINING_WINDOWS)
    if not bounds:
        raise TrainingError(f"No hay suficientes días de visita antes del corte {cutoff:%d-%m-%Y}.")
    catalogue = load_catalogue()
    if not catalogue.active:
        raise TrainingError("El catálogo no tiene servicios activos: no hay nada que recomendar.")

    *training_sets, heldout = build_datasets(catalogue, [*bounds, cutoff])
    engine = fit_engine(training_sets)
    if not heldout.customers:
        raise TrainingError(f"Ningún cliente con historial volvió desde el {cutoff:%d-%m-%Y}: nada que evaluar.")

    candidates = []
    for model in (engine, *(baseline(kind) for kind in BASELINES)):
        calibrated = model.with_calibration(*platt(model, heldout, k))
        candidates.append(Candidate(calibrated, cross_fitted_metrics(model, heldout, k)))
    chosen = choose(candidates)
    report = TrainingReport(
        k=k,
        cutoff=cutoff,
        inner_cutoff=bounds[0],
        data_from=span["first"],
        data_to=span["last"],
        training_customers=sum(data.customers for data in training_sets),
        heldout=heldout,
        candidates=candidates,
        chosen=chosen,
    )
    if engine is DEFAULT_MODEL:
        report.notes.append("No se pudo ajustar el motor (sin ejemplos antes del corte): se evaluaron los pesos base.")
    if store:
        report.stored = store_model(report)
    report.seconds = time.perf_counter() - started
    logger.info(
        "recommender trained: cutoff %s, chose %s (hit-rate@%s %.3f) in %.1f s",
        cutoff,
        chosen.kind,
        k,
        chosen.metrics["hit_rate"],
        report.seconds,
    )
    return report


def store_model(report: TrainingReport) -> RecommenderModel:
    model = report.chosen.model
    summary = {
        "k": report.k,
        "inner_cutoff": report.inner_cutoff.isoformat(),
        "training_customers": report.training_customers,
        "heldout_customers": report.heldout.customers,
        "candidates": {
            item.kind: {key: value for key, value in item.metrics.items() if key != "reliability"}
            for item in report.candidates
        },
        "engine_weights": report.candidate(ENGINE).model.weights,
        "engine_bias": report.candidate(ENGINE).model.bias,
        # Per service id: the share of held-out customers whose next visit included it (what staff compare
        # each recommendation's calibrated confidence with).
        "base_rates": base_rates_of(report.heldout.builder.ids, report.heldout.y),
    }
    return RecommenderModel.objects.create(
        fitted_at=timezone.now(),
        kind=model.kind,
        weights=model.weights,
        bias=model.bias,
        calibration_a=model.calibration[0],
        calibration_b=model.calibration[1],
        calibration_top1=model.calibration[2],
        data_from=report.data_from,
        data_to=report.data_to,
        cutoff=report.cutoff,
        metrics=summary,
    )
