"""Ranking metrics of a model on a data set: hit-rate@k, recall@k, NDCG@k, repeat vs new, calibration."""

from __future__ import annotations

import itertools

import numpy as np

from crm.services.recommender.dataset import Dataset
from crm.services.recommender.model import RankingModel

RELIABILITY_BINS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0001)


def scores(model: RankingModel, data: Dataset) -> np.ndarray:
    """(customers, services) scores."""
    return data.x @ model.vector + model.bias


def top_k(score: np.ndarray, k: int) -> np.ndarray:
    """Column positions of the k best services per row; ties by catalogue id (columns are in id order)."""
    return np.argsort(-score, axis=1, kind="stable")[:, :k]


def evaluate(model: RankingModel, data: Dataset, k: int) -> dict:
    """The model's figures on `data`; confidences come from the model's calibration."""
    n = data.customers
    k = min(k, data.y.shape[1])  # a catalogue smaller than k
    if not n or not k:
        return {"customers": 0}
    score = scores(model, data)
    top = top_k(score, k)
    rows = np.arange(n)[:, None]
    picked = data.y[rows, top]  # (n, k) bool
    hits = picked.any(axis=1)
    basket = data.y.sum(axis=1)
    recall = picked.sum(axis=1) / np.maximum(basket, 1)
    discounts = 1 / np.log2(np.arange(k) + 2)
    dcg = (picked * discounts).sum(axis=1)
    ideal = np.array([discounts[: min(k, int(size))].sum() for size in basket])
    ndcg = np.where(ideal > 0, dcg / np.where(ideal > 0, ideal, 1), 0.0)

    repeat = data.y & data.taken_before
    new = data.y & ~data.taken_before
    repeat_customers = repeat.any(axis=1)
    new_customers = new.any(axis=1)
    repeat_hits = repeat[rows, top].any(axis=1)
    new_hits = new[rows, top].any(axis=1)

    confidence = model.confidence(score[rows, top])  # (n, k)
    reliability = []
    flat_conf, flat_hit = confidence.ravel(), picked.ravel()
    for low, high in itertools.pairwise(RELIABILITY_BINS):
        inside = (flat_conf >= low) & (flat_conf < high)
        if inside.any():
            reliability.append(
                {
                    "from": low,
                    "to": min(high, 1.0),
                    "n": int(inside.sum()),
                    "confidence": float(flat_conf[inside].mean()),
                    "observed": float(flat_hit[inside].mean()),
                }
            )
    return {
        "k": k,
        "customers": n,
        "hits": int(hits.sum()),
        "hit_rate": float(hits.mean()),
        "recall": float(recall.mean()),
        "ndcg": float(ndcg.mean()),
        "repeat_customers": int(repeat_customers.sum()),
        "repeat_hit_rate": float(repeat_hits[repeat_customers].mean()) if repeat_customers.any() else 0.0,
        "new_customers": int(new_customers.sum()),
        "new_hit_rate": float(new_hits[new_customers].mean()) if new_customers.any() else 0.0,
        "top1_confidence": float(confidence[:, 0].mean()),
        "top1_hit_rate": float(picked[:, 0].mean()),
        "reliability": reliability,
    }
