"""Training the recommender on small synthetic histories where the answer is known."""

import datetime
import io
import random
import re
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from crm.models import Proposal, RecommenderModel
from crm.services.proposals import generate_proposal
from crm.services.recommender.catalogue import load_catalogue
from crm.services.recommender.dataset import build_datasets, default_cutoff
from crm.services.recommender.model import DEFAULT_MODEL, ENGINE, POPULARITY, current_model
from crm.services.recommender.training import TrainingError, train
from crm.tasks import train_recommender_task
from crm.tests.proposal_fixtures import AS_OF, catalogue_fixture, cliente  # noqa: F401
from ventas.models import Cliente, ServiceHistory, Servicio
from ventas.signals import history_imported

pytestmark = pytest.mark.django_db

SERVICES = ("Tina Calbuco", "Tina Osorno", "Masaje Relajación", "Cabaña Torre")
CUTOFF = AS_OF - datetime.timedelta(days=120)


def history(*, customers: int, seed: int = 7, loyalty: float = 0.7, days: int = 720, visits=(3, 8)):
    """`customers` synthetic customers, each with a favourite service taken with probability `loyalty` per
    visit (otherwise a popular one), on random days in the `days` before AS_OF. One bulk insert."""
    rng = random.Random(seed)
    people = Cliente.objects.bulk_create(
        Cliente(nombre=f"Sintético{index} Prueba", email=f"sintetico{index}@example.org") for index in range(customers)
    )
    rows = []
    for person in people:
        favourite = rng.choice(SERVICES)
        for _ in range(rng.randint(*visits)):
            day = AS_OF - datetime.timedelta(days=rng.randint(0, days))
            name = favourite if rng.random() < loyalty else rng.choices(SERVICES, weights=(6, 2, 3, 1))[0]
            rows.append(
                ServiceHistory(
                    cliente=person,
                    service_date=day,
                    service_type="Tinas",
                    service_name=name,
                    price_paid=Decimal(25_000),
                    year=day.year,
                )
            )
    ServiceHistory.objects.bulk_create(rows)
    return people


def test_the_default_cutoff_holds_out_the_most_recent_fifth_of_visit_days(catalogue):
    person = cliente()
    for offset in range(10):
        ServiceHistory.objects.create(
            cliente=person, service_date=AS_OF - datetime.timedelta(days=offset), service_type="Tinas",
            service_name="Tina Calbuco",
        )  # fmt: skip

    assert default_cutoff() == AS_OF - datetime.timedelta(days=1)  # 2 of 10 days held out


def test_held_out_visits_never_reach_the_fitted_weights_or_the_features(catalogue):
    history(customers=150)
    first = train(cutoff=CUTOFF, store=False)

    # Rewrite everything on or after the cutoff: every held-out visit becomes the least popular service.
    ServiceHistory.objects.filter(service_date__gte=CUTOFF).update(service_name="Cabaña Torre")
    history(customers=50, seed=99, days=100)  # and add new customers who only appear after the cutoff
    second = train(cutoff=CUTOFF, store=False)

    assert second.inner_cutoff == first.inner_cutoff
    assert second.training_customers == first.training_customers
    assert second.candidate(ENGINE).model.weights == first.candidate(ENGINE).model.weights
    assert second.candidate(ENGINE).model.bias == first.candidate(ENGINE).model.bias
    assert second.heldout.builder.stats.popularity == first.heldout.builder.stats.popularity
    assert first.candidate(POPULARITY).metrics != second.candidate(POPULARITY).metrics  # the labels did change


def test_training_and_held_out_sets_are_split_in_time(catalogue):
    history(customers=80)
    catalogue_ = load_catalogue()
    inner = default_cutoff(before=CUTOFF)

    training_set, heldout = build_datasets(catalogue_, [inner, CUTOFF])

    assert training_set.builder.as_of == inner
    assert heldout.builder.as_of == CUTOFF
    assert (
        sum(training_set.builder.stats.popularity.values())
        == ServiceHistory.objects.filter(service_date__lt=inner).count()
    )
    assert set(heldout.cliente_ids) == set(
        ServiceHistory.objects.filter(service_date__gte=CUTOFF, cliente__historial_servicios__service_date__lt=CUTOFF)
        .values_list("cliente_id", flat=True)
        .distinct()
    )


def test_the_best_baseline_is_served_when_the_engine_cannot_beat_it(catalogue):
    history(customers=60, loyalty=1.0)
    ServiceHistory.objects.update(service_name="Tina Calbuco")  # everyone always takes the same tub

    report = train(cutoff=CUTOFF)

    assert report.candidate(POPULARITY).metrics["hit_rate"] == 1.0
    assert report.chosen.kind == POPULARITY
    stored = RecommenderModel.objects.get()
    assert stored.kind == POPULARITY
    assert current_model().kind == POPULARITY


def test_the_proposal_names_the_model_that_produced_it(catalogue):
    history(customers=60)
    person = Cliente.objects.first()

    assert generate_proposal(cliente=person, as_of=AS_OF).model == DEFAULT_MODEL.name
    stored = train(cutoff=CUTOFF).stored
    proposal = generate_proposal(cliente=person, as_of=AS_OF)

    assert proposal.model == stored.name_for_proposals
    assert proposal.model.startswith(stored.kind)
    assert 1 <= len(proposal.recommendations) <= 3


def test_top1_confidence_is_calibrated_on_the_held_out_period(catalogue):
    history(customers=1200, loyalty=0.5)

    report = train(cutoff=CUTOFF, store=False)

    for candidate in report.candidates:
        figures = candidate.metrics
        assert abs(figures["top1_confidence"] - figures["top1_hit_rate"]) <= 0.03, candidate.kind


def test_the_engine_learns_habits_that_popularity_cannot_see(catalogue):
    history(customers=400, loyalty=0.9)

    report = train(cutoff=CUTOFF, store=False)

    engine = report.candidate(ENGINE).metrics["hit_rate"]
    assert engine > report.candidate(POPULARITY).metrics["hit_rate"]
    assert report.candidate(ENGINE).model.weights["own"] > 0


def test_training_without_history_is_a_clear_error(catalogue):
    with pytest.raises(TrainingError, match="días de visita"):
        train()
    with pytest.raises(CommandError, match="días de visita"):
        call_command("train_recommender")


def test_train_recommender_prints_every_model_and_stores_the_chosen_one(catalogue):
    history(customers=120)
    out = io.StringIO()

    call_command("train_recommender", "--cutoff", CUTOFF.isoformat(), stdout=out)

    text = out.getvalue()
    assert re.search(r"^Motor local\s+\d+\s+\d+\.\d%", text, re.MULTILINE)
    assert re.search(r"^Popularidad\s+\d+\s+\d+\.\d%", text, re.MULTILINE)
    assert re.search(r"^Top personal\s+\d+", text, re.MULTILINE)
    assert "Calibración top-1" in text
    assert f"Modelo #{RecommenderModel.objects.get().pk} guardado" in text


def test_evaluate_recommendations_reports_metrics_and_stores_nothing(catalogue):
    history(customers=120)
    out = io.StringIO()

    call_command("evaluate_recommendations", "--k", "2", stdout=out)

    text = out.getvalue()
    assert "hit-rate@2" in text and "recall@2" in text and "NDCG@2" in text
    assert re.search(r"Motor local\s+\d+\s+\d+,?\d*\.?\d*%", text)
    assert re.search(r"Popularidad\s+\d+\s+\d+,?\d*\.?\d*%", text)
    assert "repetidos" in text and "nuevos" in text
    assert re.search(r"^\s+\d+%–\s*\d+%: +\d+ recomendaciones", text, re.MULTILINE)  # reliability table
    assert not RecommenderModel.objects.exists()


def test_evaluate_recommendations_rejects_a_silly_k_or_cutoff(catalogue):
    with pytest.raises(CommandError, match="--k"):
        call_command("evaluate_recommendations", "--k", "0")
    with pytest.raises(CommandError, match="--cutoff"):
        call_command("evaluate_recommendations", "--cutoff", "25-11-2026")


def test_evaluate_recommendations_without_history_says_so(catalogue):
    out = io.StringIO()

    call_command("evaluate_recommendations", stdout=out)

    assert "Nada que evaluar" in out.getvalue()


def test_a_history_import_retrains_after_commit(catalogue, django_capture_on_commit_callbacks):
    history(customers=60)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        history_imported.send(sender=None)

    assert len(callbacks) == 1
    assert RecommenderModel.objects.count() == 1


def test_the_training_task_reports_when_there_is_nothing_to_learn(catalogue):
    result = train_recommender_task.enqueue().return_value

    assert result["trained"] is False
    assert not RecommenderModel.objects.exists()
    assert not Proposal.objects.exists()


def test_training_works_with_a_catalogue_smaller_than_k(catalogue):
    history(customers=60)
    Servicio.objects.exclude(nombre="Tina Calbuco").update(activo=False)

    report = train(cutoff=CUTOFF, k=3)

    assert report.stored is not None
    assert all(item.metrics["hit_rate"] == report.candidates[0].metrics["hit_rate"] for item in report.candidates)
