"""A ranking model: the fitted engine or a baseline, both a linear score plus a calibration.

score = bias + Σ weight·feature ranks the active services (ties by catalogue id); the confidence shown to
staff is Platt-calibrated: sigmoid(a·score + b + c·[first place]), fitted on the held-out period by
`training` (the first place gets its own shift: the top-1 is where staff look, and its hit rate differs from
what the score alone predicts). A confidence reads: the probability that the customer's next visit, whenever it
comes, includes this service. Baselines are
linear scores too (popularity ranks by `pop`; personal top-frequency by `own`; personal-then-global by `own`
then `pop`), so the served model is always one shape and proposals name which one produced them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from crm.models import RecommenderModel
from crm.services.recommender.features import FEATURES

ENGINE = "motor"
POPULARITY = "popularidad"
PERSONAL = "personal"
PERSONAL_GLOBAL = "personal_global"
LABELS = {
    ENGINE: "Motor local",
    POPULARITY: "Popularidad",
    PERSONAL: "Top personal",
    PERSONAL_GLOBAL: "Top personal + global",
}
BASELINE_WEIGHTS = {
    POPULARITY: {"pop": 1.0},
    PERSONAL: {"own": 1.0},
    PERSONAL_GLOBAL: {"own": 100.0, "pop": 1.0},  # own share first; popularity only breaks its ties
}

# Built-in fallback until `train_recommender` stores a model: the previous hand-set engine (fitted on the demo
# generator's replay, then season and recent set by hand). Only a fallback: the served model is learned here.
DEFAULT_WEIGHTS = {
    "own": 0.5,
    "co": 9.9,
    "cat": 2.5,
    "season": 0.3,
    "pop": 2.8,
    "in_category": 0.5,
    "recent": -0.2,
}
DEFAULT_BIAS = -5.9


@dataclass(frozen=True)
class RankingModel:
    kind: str  # ENGINE or a baseline
    weights: dict[str, float]
    bias: float = 0.0
    calibration: tuple[float, float, float] = (1.0, 0.0, 0.0)  # Platt (a, b) and the top-1 shift c
    name: str = ""  # provenance stored with each proposal
    metrics: dict = field(default_factory=dict, compare=False)

    @property
    def vector(self) -> np.ndarray:
        return np.array([self.weights.get(name, 0.0) for name in FEATURES])

    def scores(self, x: np.ndarray) -> np.ndarray:
        return x @ self.vector + self.bias

    def confidence(self, ranked_scores: np.ndarray) -> np.ndarray:
        """Calibrated confidence of scores ranked best first along the last axis (position 0 is the top-1)."""
        a, b, c = self.calibration
        logit = a * ranked_scores + b
        logit[..., :1] += c
        return 1 / (1 + np.exp(-np.clip(logit, -30, 30)))

    def with_calibration(self, a: float, b: float, c: float = 0.0) -> RankingModel:
        return RankingModel(self.kind, self.weights, self.bias, (a, b, c), self.name, self.metrics)

    @property
    def label(self) -> str:
        return LABELS.get(self.kind, self.kind)


DEFAULT_MODEL = RankingModel(ENGINE, DEFAULT_WEIGHTS, DEFAULT_BIAS, name="motor-predeterminado")


def baseline(kind: str) -> RankingModel:
    return RankingModel(kind, BASELINE_WEIGHTS[kind], name=kind)


def rank(model: RankingModel, x: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Row positions best first: by score, ties by catalogue id (deterministic)."""
    return np.lexsort((ids, -model.scores(x)))


def current_model() -> RankingModel:
    """The newest stored model, else the built-in defaults (one query)."""
    record = RecommenderModel.objects.order_by("-fitted_at", "-id").first()
    return from_record(record) if record else DEFAULT_MODEL


def from_record(record: RecommenderModel) -> RankingModel:
    return RankingModel(
        kind=record.kind,
        weights=dict(record.weights),
        bias=record.bias,
        calibration=(record.calibration_a, record.calibration_b, record.calibration_top1),
        name=record.name_for_proposals,
        metrics=record.metrics,
    )
