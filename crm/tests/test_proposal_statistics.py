"""The live proposals' statistics, precomputed in a table: same figures as the history, no history scan."""

import datetime
import io
import random
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import ProposalStatistic, ProposalStatisticsBuild
from crm.services.recommender import stored_stats
from crm.services.recommender.catalogue import load_catalogue
from crm.services.recommender.stats import cached_global_stats, global_stats
from crm.services.recommender.training import TrainingError, train
from crm.tests.proposal_fixtures import AS_OF, catalogue_fixture, cliente, visit  # noqa: F401
from ventas.models import Cliente, ServiceHistory

pytestmark = pytest.mark.django_db

NAMES = ("Tina Calbuco", "Tina Osorno", "Masaje Relajación", "Cabaña Torre", "Tina Antigua", "Servicio Retirado")


@pytest.fixture(autouse=True)
def _fresh_process_copy():
    stored_stats._loaded = None
    yield
    stored_stats._loaded = None


def generated_history(*, customers=60, seed=11):
    """Random visits of several services (some on the placeholder date, some the same day, one after AS_OF)."""
    rng = random.Random(seed)
    people = Cliente.objects.bulk_create(
        Cliente(nombre=f"Generado{index} Prueba", email=f"generado{index}@example.org") for index in range(customers)
    )
    rows = []
    for person in people:
        for _ in range(rng.randint(1, 6)):
            if rng.random() < 0.1:
                day = settings.HISTORY_PLACEHOLDER_DATE
            else:
                day = AS_OF - datetime.timedelta(days=rng.randint(-30, 900))  # a few booked after AS_OF
            for name in rng.sample(NAMES, rng.randint(1, 3)):
                rows.append(
                    ServiceHistory(
                        cliente=person,
                        service_date=day,
                        service_type="Tinas",
                        service_name=name,
                        price_paid=Decimal(20_000),
                        year=day.year,
                    )
                )
    ServiceHistory.objects.bulk_create(rows)


def test_the_table_gives_the_same_statistics_as_the_history(catalogue):
    generated_history()
    catalogue_now = load_catalogue()
    live = global_stats(catalogue_now, before=AS_OF + datetime.timedelta(days=1))
    assert live.pairs and live.baskets and live.by_month  # the data exercises every statistic

    report = stored_stats.rebuild(as_of=AS_OF)

    assert report.rows == ProposalStatistic.objects.count() > 0
    assert stored_stats.load(catalogue_now, AS_OF) == live
    assert cached_global_stats(catalogue_now, AS_OF) == live


def test_the_live_path_does_not_read_the_history_once_the_table_is_built(catalogue):
    generated_history(customers=20)
    stored_stats.rebuild(as_of=AS_OF)
    catalogue_now = load_catalogue()

    with CaptureQueriesContext(connection) as first:
        cached_global_stats(catalogue_now, AS_OF)
    with CaptureQueriesContext(connection) as warm:
        cached_global_stats(catalogue_now, AS_OF + datetime.timedelta(days=3))

    assert not [query for query in first.captured_queries if "crm_service_history" in query["sql"]]
    assert len(first.captured_queries) == 2  # the build row, then the statistics
    assert len(warm.captured_queries) == 1  # only the freshness check


def test_a_new_build_is_picked_up_by_a_running_process(catalogue):
    person = cliente()
    visit(person, AS_OF - datetime.timedelta(days=10), "Tina Calbuco", "Masaje Relajación")
    stored_stats.rebuild(as_of=AS_OF)
    catalogue_now = load_catalogue()
    before = cached_global_stats(catalogue_now, AS_OF)

    visit(person, AS_OF - datetime.timedelta(days=5), "Tina Calbuco")
    stored_stats.rebuild(as_of=AS_OF)

    after = cached_global_stats(catalogue_now, AS_OF)
    assert after.popularity["tina calbuco"] == before.popularity["tina calbuco"] + 1


def test_without_a_build_the_statistics_come_from_the_history(catalogue):
    generated_history(customers=20)
    catalogue_now = load_catalogue()

    with CaptureQueriesContext(connection) as queries:
        stats = cached_global_stats(catalogue_now, AS_OF)

    assert not ProposalStatisticsBuild.objects.exists()
    assert stats == global_stats(catalogue_now, before=AS_OF + datetime.timedelta(days=1))
    assert any("crm_service_history" in query["sql"] for query in queries.captured_queries)


def test_a_build_newer_than_the_proposal_date_is_not_used(catalogue):
    """A proposal dated before the build must not see the visits after its date."""
    person = cliente()
    visit(person, AS_OF - datetime.timedelta(days=10), "Tina Calbuco")
    visit(person, AS_OF + datetime.timedelta(days=10), "Tina Osorno")
    stored_stats.rebuild(as_of=AS_OF + datetime.timedelta(days=20))
    catalogue_now = load_catalogue()

    assert stored_stats.load(catalogue_now, AS_OF) is None
    assert "tina osorno" not in cached_global_stats(catalogue_now, AS_OF).popularity


def test_refresh_summaries_rebuilds_the_proposal_statistics(catalogue):
    generated_history(customers=10)
    out = io.StringIO()

    call_command("refresh_summaries", "--full", stdout=out)

    assert ProposalStatisticsBuild.objects.get().rows == ProposalStatistic.objects.count() > 0
    assert "Estadísticas de propuestas reconstruidas" in out.getvalue()


def test_the_command_can_rebuild_only_the_proposal_statistics(catalogue):
    generated_history(customers=10)
    out = io.StringIO()

    call_command("refresh_summaries", "--proposal-stats-only", stdout=out)

    assert ProposalStatistic.objects.exists()
    assert "Resúmenes" not in out.getvalue()


def test_training_rebuilds_the_proposal_statistics_even_without_a_model(catalogue):
    generated_history(customers=10)

    with pytest.raises(TrainingError):
        train(cutoff=AS_OF + datetime.timedelta(days=365), store=True)  # nobody came back after this cutoff

    assert ProposalStatisticsBuild.objects.get().rows == ProposalStatistic.objects.count() > 0


def test_evaluation_leaves_the_proposal_statistics_alone(catalogue):
    generated_history(customers=10)

    with pytest.raises(TrainingError):
        train(cutoff=AS_OF + datetime.timedelta(days=365), store=False)

    assert not ProposalStatisticsBuild.objects.exists()
