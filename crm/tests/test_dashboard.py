import datetime
import re
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.models import SummaryState
from crm.services import dashboard
from crm.services.charts import bar_chart, compact_clp
from crm.services.dashboard import add_months, dashboard_stats, dashboard_version
from crm.services.retention import due_back
from crm.tests.builders import AS_OF, add_history, make_cliente, many_customers

pytestmark = pytest.mark.django_db


def _figure_queries(queries) -> list[str]:
    """Queries computing dashboard figures (sums and counts); the version token only reads highest ids."""
    return [q["sql"] for q in queries.captured_queries if "SUM(" in q["sql"].upper() or "COUNT(" in q["sql"].upper()]


@pytest.fixture
def small_spa(settings):
    """Five customers whose figures are computed by hand in the tests below (as of 30-06-2026)."""
    ana = make_cliente("Ana Araya")
    add_history(
        ana, service_date=datetime.date(2026, 6, 10), price=50_000, service_type="Tinas", service_name="Tina Calbuco"
    )
    add_history(
        ana,
        service_date=datetime.date(2026, 6, 20),
        price=30_000,
        service_type="Masajes",
        service_name="Masaje Relajación",
    )
    bruno = make_cliente("Bruno Bravo")
    add_history(
        bruno, service_date=datetime.date(2025, 6, 15), price=40_000, service_type="Tinas", service_name="Tina Calbuco"
    )
    add_history(
        bruno,
        service_date=datetime.date(2025, 1, 5),
        price=120_000,
        service_type="Cabañas",
        service_name="Cabaña Laurel",
    )
    carla = make_cliente("Carla Cerda")
    add_history(
        carla,
        service_date=settings.HISTORY_PLACEHOLDER_DATE,
        price=20_000,
        service_type="Masajes",
        service_name="Masaje Relajación",
    )
    make_cliente("Diego Díaz")
    eva = make_cliente("Eva Escobar")
    add_history(
        eva, service_date=datetime.date(2024, 7, 1), price=10_000, service_type="Tinas", service_name="Tina Hornopirén"
    )


def test_customer_cards_count_with_and_without_history(small_spa):
    stats = dashboard_stats(as_of=AS_OF)
    assert (stats.total_customers, stats.customers_with_history, stats.customers_without_history) == (5, 4, 1)


def test_this_month_and_same_month_last_year(small_spa):
    stats = dashboard_stats(as_of=AS_OF)
    assert stats.this_month.month == datetime.date(2026, 6, 1)
    assert (stats.this_month.services, stats.this_month.revenue) == (2, Decimal(80_000))
    assert stats.same_month_last_year.month == datetime.date(2025, 6, 1)
    assert (stats.same_month_last_year.services, stats.same_month_last_year.revenue) == (1, Decimal(40_000))
    assert stats.this_month.name == "junio 2026"


def test_average_ticket_is_total_revenue_over_all_services(small_spa):
    stats = dashboard_stats(as_of=AS_OF)
    assert (stats.total_services, stats.total_revenue) == (6, Decimal(270_000))
    assert stats.average_ticket == Decimal(45_000)


def test_top_services_by_revenue(small_spa):
    top = [(s.name, s.services, s.revenue) for s in dashboard_stats(as_of=AS_OF).top_services]
    assert top == [
        ("Cabaña Laurel", 1, Decimal(120_000)),
        ("Tina Calbuco", 2, Decimal(90_000)),
        ("Masaje Relajación", 2, Decimal(50_000)),
        ("Tina Hornopirén", 1, Decimal(10_000)),
    ]


def test_services_by_category_with_revenue_share(small_spa):
    categories = dashboard_stats(as_of=AS_OF).categories
    assert [(c.name, c.services, c.revenue) for c in categories] == [
        ("Cabañas", 1, Decimal(120_000)),
        ("Tinas", 3, Decimal(100_000)),
        ("Masajes", 2, Decimal(50_000)),
    ]
    assert [round(c.revenue_share, 4) for c in categories] == [0.4444, 0.3704, 0.1852]


def test_revenue_per_month_covers_24_months_with_zeros_and_without_placeholder_dates(small_spa):
    months = dashboard_stats(as_of=AS_OF).months
    assert len(months) == 24
    assert months[0].month == datetime.date(2024, 7, 1)
    assert months[-1].month == datetime.date(2026, 6, 1)
    non_zero = {m.month: (m.services, m.revenue) for m in months if m.services}
    assert non_zero == {
        datetime.date(2024, 7, 1): (1, Decimal(10_000)),
        datetime.date(2025, 1, 1): (1, Decimal(120_000)),
        datetime.date(2025, 6, 1): (1, Decimal(40_000)),
        datetime.date(2026, 6, 1): (2, Decimal(80_000)),
    }


def test_customers_and_revenue_per_segment(small_spa):
    shares = {s.segment.key: (s.customers, s.revenue) for s in dashboard_stats(as_of=AS_OF).segments}
    assert shares["promising"] == (1, Decimal(80_000))  # Ana: 10 days ago, 2 services
    assert shares["lost"] == (3, Decimal(190_000))  # Bruno, Carla (placeholder date only), Eva
    assert shares["no_history"] == (1, Decimal(0))  # Diego
    assert sum(customers for customers, _ in shares.values()) == 5


def test_add_months_crosses_years():
    assert add_months(datetime.date(2026, 1, 31), -1) == datetime.date(2025, 12, 1)
    assert add_months(datetime.date(2025, 12, 15), 1) == datetime.date(2026, 1, 1)
    assert add_months(datetime.date(2026, 6, 30), -23) == datetime.date(2024, 7, 1)


def test_dashboard_page_shows_formatted_figures_and_segment_links(staff_client):
    cliente = make_cliente("Hoy Hernández")
    add_history(cliente, service_date=timezone.localdate(), price=1_246_535)
    response = staff_client.get(reverse("crm_dashboard"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "$1.246.535" in html
    assert f"Datos al {timezone.localdate():%d-%m-%Y}" in html
    for key in ("vip", "at_risk", "no_history"):
        assert f'href="/ventas/crm/buscar/?segmento={key}"' in html
    assert '<svg class="chart' in html and '<rect class="chart-bar"' in html


def test_dashboard_reads_the_summaries_not_the_history_and_says_when_they_changed(staff_client):
    add_history(make_cliente("Hoy Hernández"), service_date=timezone.localdate(), price=50_000)
    with CaptureQueriesContext(connection) as queries:
        html = staff_client.get(reverse("crm_dashboard")).content.decode()
    assert not [q["sql"] for q in queries.captured_queries if "crm_service_history" in q["sql"]]
    refreshed = timezone.localtime(SummaryState.objects.get().refreshed_at)
    assert f"Cifras actualizadas: {refreshed:%d-%m-%Y %H:%M}." in html
    assert "$50.000" in html


def test_dashboard_is_never_cached(staff_client):
    staff_client.get(reverse("crm_dashboard"))
    make_cliente("Nueva Novoa")
    html = staff_client.get(reverse("crm_dashboard")).content.decode()
    assert "1 sin historial" in html


def test_dashboard_on_an_empty_database(staff_client):
    response = staff_client.get(reverse("crm_dashboard"))
    assert response.status_code == 200
    assert "No hay servicios en los últimos 24 meses." in response.content.decode()


def test_dashboard_is_computed_once_per_version_of_the_figures(staff_client):
    add_history(make_cliente("Hoy Hernández"), service_date=timezone.localdate(), price=50_000)
    first = staff_client.get(reverse("crm_dashboard")).content.decode()
    with CaptureQueriesContext(connection) as queries:
        again = staff_client.get(reverse("crm_dashboard")).content.decode()
    without_token = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')  # the logout form's, new per page
    assert without_token.sub("", again) == without_token.sub("", first)
    assert len(queries) <= 5  # session, user, permissions, the version token: no figure is recomputed
    assert not _figure_queries(queries)


def test_a_history_write_shows_at_once_on_the_cached_dashboard(staff_client):
    cliente = make_cliente("Hoy Hernández")
    add_history(cliente, service_date=timezone.localdate(), price=50_000)
    assert "$50.000" in staff_client.get(reverse("crm_dashboard")).content.decode()
    add_history(cliente, service_date=timezone.localdate(), price=1_196_535)
    html = staff_client.get(reverse("crm_dashboard")).content.decode()
    assert "$1.246.535" in html


def test_a_deleted_customer_without_history_leaves_the_count_at_once(staff_client):
    add_history(make_cliente("Hoy Hernández"), service_date=timezone.localdate(), price=50_000)
    gone = make_cliente("Ida Ibáñez")
    make_cliente("Queda Quiroga")
    assert "2 sin historial" in staff_client.get(reverse("crm_dashboard")).content.decode()
    gone.delete()
    assert "1 sin historial" in staff_client.get(reverse("crm_dashboard")).content.decode()


def test_the_due_back_refresh_shows_at_once_on_the_cached_dashboard(staff_client):
    cliente = make_cliente("Atrasada Alarcón")
    today = timezone.localdate()
    for days_ago in (400, 370, 340):  # every 30 days, last visit 340 days ago: overdue
        add_history(cliente, service_date=today - datetime.timedelta(days=days_ago))
    before = dashboard_version(today)
    staff_client.get(reverse("crm_dashboard"))
    due_back.refresh(today)
    assert dashboard_version(today) != before
    html = staff_client.get(reverse("crm_dashboard")).content.decode()
    assert '/retencion/atrasados/">1</a>' in html


def test_threads_missing_the_same_version_compute_the_figures_once(monkeypatch):
    computed = []

    def slow_stats(as_of):
        computed.append(as_of)
        time.sleep(0.05)  # long enough for every thread to miss the cache
        return "stats"

    monkeypatch.setattr(dashboard, "dashboard_stats", slow_stats)
    monkeypatch.setattr(dashboard, "retention_highlights", lambda as_of: "retention")
    results = []
    threads = [threading.Thread(target=lambda: results.append(dashboard._figures("v1", AS_OF))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert computed == [AS_OF]
    assert results == [("stats", "retention")] * 8


def test_the_day_is_part_of_the_dashboard_version():
    today = timezone.localdate()
    assert dashboard_version(today) != dashboard_version(today + datetime.timedelta(days=1))


def test_a_cached_dashboard_keeps_each_role_s_links(client, staff_user, recepcion_user):
    client.force_login(staff_user)  # Administración: may open the retention lists
    assert "/retencion/atrasados/" in client.get(reverse("crm_dashboard")).content.decode()
    client.force_login(recepcion_user)  # Recepción: same figures, no links to the lists
    assert "/retencion/atrasados/" not in client.get(reverse("crm_dashboard")).content.decode()


@pytest.mark.parametrize("customers", [1, 50])
def test_dashboard_query_count_does_not_grow_with_customers(staff_client, django_assert_max_num_queries, customers):
    many_customers(customers)
    with django_assert_max_num_queries(12):
        assert staff_client.get(reverse("crm_dashboard")).status_code == 200


def test_chart_coordinates_are_never_localised():
    chart = bar_chart([("a", Decimal("1234.5"), "A"), ("b", 0, "B")], width=1280)
    assert chart.width == "1280"
    assert all("," not in value for bar in chart.bars for value in (bar.x, bar.y, bar.width, bar.height))


def test_chart_scale_rounds_up_to_a_readable_maximum():
    chart = bar_chart([("a", 26_000_000, "A")])
    assert chart.gridlines[-1].label == "$30 M"
    assert chart.gridlines[0].label == "$0"


def test_compact_clp_for_axis_labels():
    assert compact_clp(1_250_000) == "$1,2 M"
    assert compact_clp(350_000) == "$350 mil"
    assert compact_clp(900) == "$900"
