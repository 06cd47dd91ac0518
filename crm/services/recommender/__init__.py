"""The recommender: which active catalogue services a customer is likely to take on their next visit.

Floors, each a small module (training and evaluation import these alone, never the proposal backends):

- `catalogue`: the active catalogue and the one mapping from a history row's service name to a service;
- `history`:   a customer's history aggregated per service (one customer live, many in bulk for training);
- `stats`:     everyone's popularity, seasonality and same-day co-occurrence (grouped SQL);
- `features`:  the signals of every active service for one customer, as a numpy matrix;
- `models`:    a ranking model (engine weights or a baseline, plus calibration) and the one being served;
- `scoring`:   ranking, calibrated confidence and the reason shown to staff;
- `dataset`, `metrics`, `training`: the time-split training and evaluation (`train_recommender`,
  `evaluate_recommendations`).
"""
