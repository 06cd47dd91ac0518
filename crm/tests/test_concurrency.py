"""The per-process cap on AI generations: one more than the cap gets a 503 at once, pages keep answering."""

import threading
import time

import pytest
from django.urls import reverse

from crm.services.concurrency import AiSlots, EngineBusy, process_slots
from crm.tests.builders import make_cliente

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


def test_a_slot_is_refused_at_once_when_all_are_taken_and_given_back_after():
    slots = AiSlots(2)
    with slots.slot(), slots.slot(), pytest.raises(EngineBusy) as busy, slots.slot():
        pass
    with slots.slot():
        pass

    assert "inténtalo en unos segundos" in busy.value.message


def test_a_cap_of_zero_means_no_cap():
    slots = AiSlots(0)
    with slots.slot(), slots.slot(), slots.slot():
        pass


def test_twelve_threads_at_once_get_three_slots_and_nine_refusals_without_waiting():
    slots, release, start = AiSlots(3), threading.Event(), threading.Barrier(12)
    got, refused = [], []

    def generate():
        start.wait()
        try:
            with slots.slot():
                got.append(1)
                release.wait(10)  # a slow AI call
        except EngineBusy:
            refused.append(1)

    threads = [threading.Thread(target=generate) for _ in range(12)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(got) + len(refused) < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join()

    assert (len(got), len(refused)) == (3, 9)


@pytest.fixture
def full_engine(settings):
    """Every AI slot of this process taken, as by slow generations in other threads (a network engine)."""
    settings.PROPOSAL_BACKEND = "remote"
    settings.AI_MAX_CONCURRENT_GENERATIONS = 1
    with process_slots().slot():
        yield


def test_generate_answers_503_json_with_retry_after_when_the_engine_is_full(staff_client, full_engine):
    cliente = make_cliente("Ana Ocupada")

    response = staff_client.post(reverse("generar_propuesta", args=[cliente.pk]), **JSON)

    assert response.status_code == 503
    assert response.json()["error"] == "El motor de propuestas está ocupado: inténtalo en unos segundos."
    assert int(response["Retry-After"]) > 0


def test_generate_without_javascript_answers_a_503_page(staff_client, full_engine):
    cliente = make_cliente("Ana Formulario")

    response = staff_client.post(reverse("generar_propuesta", args=[cliente.pk]), HTTP_ACCEPT="text/html")

    assert response.status_code == 503
    assert "inténtalo en unos segundos" in response.content.decode()
    assert response["Retry-After"]


def test_send_that_must_generate_first_answers_503_when_the_engine_is_full(staff_client, full_engine):
    cliente = make_cliente("Ana Envío", email="ana.envio@example.org")

    response = staff_client.post(reverse("crm_enviar_propuesta", args=[cliente.pk]), **JSON)

    assert response.status_code == 503
    assert response["Retry-After"]


def test_pages_keep_answering_while_the_engine_is_full(staff_client, full_engine):
    cliente = make_cliente("Ana Páginas")

    assert staff_client.get(reverse("crm_dashboard")).status_code == 200
    assert staff_client.get(reverse("cliente_detalle", args=[cliente.pk])).status_code == 200


def test_the_offline_local_engine_takes_no_slot(staff_client, settings):
    """It calls no network and answers in milliseconds: a full cap of network calls never refuses it."""
    from crm.tests.builders import make_service

    settings.AI_MAX_CONCURRENT_GENERATIONS = 1
    settings.PROPOSAL_BACKEND = "local"
    make_service()
    cliente = make_cliente("Ana Local")
    with process_slots().slot():
        response = staff_client.post(reverse("generar_propuesta", args=[cliente.pk]), **JSON)
    assert response.status_code == 200, response.content


def test_the_rate_limit_lives_in_the_database_so_every_worker_counts_together(settings):
    """A second DatabaseCache object on the same table stands for another gunicorn worker's cache."""
    from django.core.cache.backends.db import DatabaseCache

    from crm.services.ratelimit import hit

    other_worker = DatabaseCache(settings.CACHES["shared"]["LOCATION"], {})
    results = [hit("prueba", 7, limit=3).allowed for _ in range(4)]
    seen_elsewhere = [other_worker.has_key(f"ratelimit:prueba:7:{window}:1") for window in _current_windows()]

    assert results == [True, True, True, False]
    assert any(seen_elsewhere)  # the count is in the table, not in this process's memory


def _current_windows():
    now = int(time.time())
    return [now - now % 60, now - now % 60 - 60]


@pytest.mark.django_db
def test_a_high_limit_costs_a_few_reads_per_hit_not_one_per_earlier_hit(django_assert_max_num_queries):
    """Slots are taken in order, so the first free one is found by bisection (bench_http raises the limit)."""
    from crm.services.ratelimit import hit

    for _ in range(40):
        assert hit("bisect", 9, limit=1_000_000).allowed
    with django_assert_max_num_queries(30):  # ~20 reads + one add; a linear search would make ~120 queries
        assert hit("bisect", 9, limit=1_000_000).allowed
    assert [hit("small", 9, limit=5).allowed for _ in range(6)] == [True] * 5 + [False]
