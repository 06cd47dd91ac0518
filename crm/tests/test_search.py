import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.services.search import PAGE_SIZE, search_customers
from crm.tests.builders import add_history, customer_with, make_cliente, many_customers
from ventas.models import Cliente

pytestmark = pytest.mark.django_db

URL = reverse("crm_buscar")


def names(result):
    return [cliente.nombre for cliente in result.page.object_list]


def search(client, **params):
    response = client.get(URL, params)
    return response, response.content.decode()


def test_search_ignores_case_and_accents():
    make_cliente("José Pérez")
    make_cliente("María Núñez")
    make_cliente("Otro Nombre")
    assert names(search_customers(query="perez")) == ["José Pérez"]
    assert names(search_customers(query="NUNEZ")) == ["María Núñez"]
    assert names(search_customers(query="Núñez")) == ["María Núñez"]


def test_search_by_email():
    make_cliente("Ana Soto", email="ana.soto@example.org")
    make_cliente("Ana Rojas", email="arojas@example.com")
    assert names(search_customers(query="soto@example")) == ["Ana Soto"]


@pytest.mark.parametrize(
    "typed", ["+56 9 1234 5678", "912345678", "56912345678", "9 1234 5678", "+56912345678", "1234 5678"]
)
def test_search_finds_a_phone_in_any_chilean_form(typed):
    make_cliente("Con Teléfono", telefono="+56912345678")
    make_cliente("Otro Teléfono", telefono="+56987654321")
    assert names(search_customers(query=typed)) == ["Con Teléfono"]


def test_name_starting_with_the_query_comes_before_a_word_inside_then_by_spend():
    customer_with(services=1, spent=5_000, last_days_ago=5, nombre="Rosa Marín")  # contains, low spend
    customer_with(services=1, spent=900_000, last_days_ago=5, nombre="Ana Marín")  # word start, high spend
    customer_with(services=1, spent=10_000, last_days_ago=5, nombre="Marín Soto")  # starts with the query
    customer_with(services=1, spent=50_000, last_days_ago=5, nombre="Rosamarina Pinto")  # only inside a word
    assert names(search_customers(query="marin")) == ["Marín Soto", "Ana Marín", "Rosa Marín", "Rosamarina Pinto"]


def test_query_shorter_than_three_characters_runs_no_search(staff_client):
    make_cliente("Ana Li")
    with CaptureQueriesContext(connection) as queries:
        response, html = search(staff_client, q="an")
    assert response.status_code == 200
    assert "Escribe al menos 3 caracteres" in html
    assert not any("ventas_cliente" in query["sql"] for query in queries.captured_queries)


def test_empty_search_page_offers_the_segments(staff_client):
    response, html = search(staff_client)
    assert response.status_code == 200
    assert "Escribe al menos" not in html
    assert 'href="/ventas/crm/buscar/?segmento=vip"' in html


def test_results_show_contact_services_spend_last_visit_and_segment(staff_client):
    cliente = customer_with(
        services=10, spent=1_246_535, last_days_ago=0, as_of=timezone.localdate(), nombre="Vera Vip"
    )
    Cliente.objects.filter(pk=cliente.pk).update(telefono="+56911112222")
    response, html = search(staff_client, q="vera")
    assert response.status_code == 200
    assert f'href="/ventas/crm/cliente/{cliente.pk}/"' in html
    assert "vera@example.org" in html and "+56911112222" in html
    assert "$1.246.535" in html
    assert timezone.localdate().strftime("%d-%m-%Y") in html
    assert ">VIP<" in html.replace("</svg>", ">")


def test_results_are_paginated_25_per_page(staff_client):
    many_customers(PAGE_SIZE + 5)
    first = search_customers(query="masivo")
    assert first.page.paginator.count == 30
    assert len(first.page.object_list) == 25
    second = search_customers(query="masivo", page_number=2)
    assert len(second.page.object_list) == 5
    assert not {c.pk for c in first.page.object_list} & {c.pk for c in second.page.object_list}
    _, html = search(staff_client, q="masivo", page=2)
    assert "Página 2 de 2" in html
    assert 'href="?q=masivo&amp;page=1"' in html


def test_out_of_range_or_bad_page_numbers_fall_back_to_a_real_page(staff_client):
    many_customers(3)
    for page in ("999", "abc", "-1", "0"):
        response, _ = search(staff_client, q="masivo", page=page)
        assert response.status_code == 200


def test_segment_filter_without_a_query(staff_client):
    today = timezone.localdate()
    customer_with(services=12, spent=2_000_000, last_days_ago=400, as_of=today, nombre="Rita Riesgo")
    customer_with(services=1, spent=10_000, last_days_ago=5, as_of=today, nombre="Pablo Prometedor")
    response, html = search(staff_client, segmento="at_risk")
    assert response.status_code == 200
    assert "Rita Riesgo" in html and "Pablo Prometedor" not in html
    assert " ".join(html.split()).count("1 cliente en") == 1


def test_segment_filter_combined_with_a_query():
    today = timezone.localdate()
    customer_with(services=12, spent=2_000_000, last_days_ago=400, as_of=today, nombre="Rita Riesgo")
    customer_with(services=12, spent=2_000_000, last_days_ago=400, as_of=today, nombre="Raúl Riesgo")
    customer_with(services=1, spent=10_000, last_days_ago=5, as_of=today, nombre="Rita Nueva")
    assert names(search_customers(query="rita", segment_key="at_risk")) == ["Rita Riesgo"]


def test_segment_with_a_too_short_query_lists_the_whole_segment():
    customer_with(services=1, spent=10_000, last_days_ago=5, as_of=timezone.localdate(), nombre="Pablo Prometedor")
    result = search_customers(query="zz", segment_key="promising")
    assert names(result) == ["Pablo Prometedor"]
    assert "muy corto" in result.message


def test_unknown_segment_answers_400_in_spanish(staff_client):
    response, html = search(staff_client, segmento="amigos")
    assert response.status_code == 400
    assert "Ese segmento no existe" in html


@pytest.mark.parametrize(
    "hostile",
    [
        "'; DROP TABLE ventas_cliente; --",
        "x" * 10_000,
        "%%%",
        "___",
        "😀😀😀",
        "<script>alert(1)</script>",
        "Robert'); --",
        "\\\\\\",
    ],
)
def test_hostile_input_answers_200_without_errors(staff_client, hostile):
    make_cliente("Ana Normal")
    response, html = search(staff_client, q=hostile)
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in html
    assert Cliente.objects.filter(nombre="Ana Normal").exists()


def test_null_bytes_are_refused_with_a_400(staff_client):
    response, _ = search(staff_client, q="ana\x00")
    assert response.status_code == 400


def test_percent_and_underscore_are_literal_not_wildcards():
    make_cliente("Ana_Maria Test")
    make_cliente("Anaxmaria Otra")
    make_cliente("Descuento 100% real")
    assert names(search_customers(query="a_m")) == ["Ana_Maria Test"]
    assert names(search_customers(query="%%%")) == []
    assert names(search_customers(query="00%")) == ["Descuento 100% real"]


def test_long_queries_are_truncated_to_100_characters():
    result = search_customers(query="a" * 10_000)
    assert len(result.query) == 100


def test_emoji_in_names_are_searchable():
    make_cliente("Cata 🌊 Lago")
    assert names(search_customers(query="🌊 lago")) == ["Cata 🌊 Lago"]


@pytest.mark.parametrize("customers", [1, 50])
@pytest.mark.parametrize(
    "params", [{"q": "masivo"}, {"q": "91000000"}, {"segmento": "promising"}, {"q": "mas", "segmento": "promising"}]
)
def test_search_query_count_does_not_grow_with_customers(
    staff_client, django_assert_max_num_queries, customers, params
):
    many_customers(customers)
    with django_assert_max_num_queries(12):
        response = staff_client.get(URL, params)
    assert response.status_code == 200


def test_pagination_counts_once_per_page(staff_client):
    many_customers(30)
    with CaptureQueriesContext(connection) as queries:
        staff_client.get(URL, {"q": "masivo", "page": 2})
    counts = [q["sql"] for q in queries.captured_queries if q["sql"].upper().startswith("SELECT COUNT(")]
    assert len(counts) == 1
    assert "crm_service_history" not in counts[0]  # counted on the plain filter, not the RFM aggregate


def test_customers_without_history_are_found_too():
    make_cliente("Sin Servicios")
    result = search_customers(query="servicios")
    assert names(result) == ["Sin Servicios"]
    assert result.page.object_list[0].segment == "no_history"


def test_services_after_today_do_not_count(settings):
    cliente = make_cliente("Futuro Fuentes")
    add_history(cliente, service_date=timezone.localdate() + datetime.timedelta(days=3))
    assert search_customers(query="futuro").page.object_list[0].frequency == 0


def test_a_segment_lists_biggest_spenders_first_across_pages():
    today = timezone.localdate()
    for index in range(PAGE_SIZE + 2):
        customer_with(services=12, spent=1_000_000 + index * 1_000, last_days_ago=400, as_of=today, nombre=f"R{index}")
    customer_with(services=1, spent=10_000, last_days_ago=5, as_of=today, nombre="Otro Segmento")
    first = search_customers(segment_key="at_risk")
    assert first.page.paginator.count == PAGE_SIZE + 2
    assert names(first)[:2] == [f"R{PAGE_SIZE + 1}", f"R{PAGE_SIZE}"]
    assert all(cliente.segment == "at_risk" for cliente in first.page.object_list)
    second = search_customers(segment_key="at_risk", page_number=2)
    assert names(second) == ["R1", "R0"]


def test_sin_historial_lists_customers_without_services_by_name():
    make_cliente("Zoe Zamora")
    make_cliente("Alba Alarcón")
    customer_with(services=1, spent=10_000, last_days_ago=5, as_of=timezone.localdate(), nombre="Con Historia")
    result = search_customers(segment_key="no_history")
    assert names(result) == ["Alba Alarcón", "Zoe Zamora"]
    assert {cliente.frequency for cliente in result.page.object_list} == {0}


def test_segment_pages_past_the_end_show_the_last_page():
    today = timezone.localdate()
    for index in range(PAGE_SIZE + 1):
        customer_with(services=12, spent=1_000_000 + index, last_days_ago=400, as_of=today, nombre=f"R{index}")
    late = search_customers(segment_key="at_risk", page_number="99")
    assert late.page.number == 2 and names(late) == ["R0"]
    assert search_customers(segment_key="at_risk", page_number="abc").page.number == 1
    assert search_customers(segment_key="lost").page.paginator.count == 0


@pytest.mark.parametrize("params", [{"segmento": "at_risk"}, {"segmento": "no_history"}, {"q": "rita"}])
def test_segment_and_search_pages_never_read_the_history(staff_client, params):
    customer_with(services=12, spent=1_000_000, last_days_ago=400, as_of=timezone.localdate(), nombre="Rita")
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(URL, params)
    assert response.status_code == 200
    assert "Rita" in response.content.decode() or params == {"segmento": "no_history"}
    assert not [q["sql"] for q in queries.captured_queries if "crm_service_history" in q["sql"]]
