"""Retention: due back at its boundaries, segment snapshots and movement, the KPIs, and the Retención pages."""

import datetime
import io

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from crm.models import DueBack, SegmentSnapshot
from crm.services.retention import due_back, kpis, movement
from crm.tests.builders import add_history, make_cliente

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 6, 30)


def visits(cliente, *days, category="Tinas", **fields):
    for day in days:
        add_history(cliente, service_date=day, service_type=category, **fields)


def d(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


# --- due back ----------------------------------------------------------------------------------------------


def test_usual_gap_is_the_median_of_the_gaps_between_visit_days():
    ana = make_cliente("Ana Ritmo")
    visits(ana, d("2026-01-01"), d("2026-01-31"), d("2026-03-02"), d("2026-05-01"))  # gaps 30, 30, 60
    due_back.refresh(TODAY)
    row = DueBack.objects.get(cliente=ana)
    assert row.usual_gap_days == 30
    assert row.visit_days == 4
    assert row.last_visit == d("2026-05-01")
    assert row.due_date == d("2026-05-31")


def test_even_number_of_gaps_averages_the_two_middle_ones():
    ana = make_cliente("Ana Par")
    visits(ana, d("2026-01-01"), d("2026-01-11"), d("2026-02-10"))  # gaps 10, 30 -> 20
    due_back.refresh(TODAY)
    assert DueBack.objects.get(cliente=ana).usual_gap_days == 20


def test_fewer_than_three_visit_days_in_a_category_give_no_rhythm():
    ana = make_cliente("Ana Dos")
    visits(ana, d("2026-01-01"), d("2026-02-01"))
    visits(ana, d("2026-01-01"), d("2026-02-01"), d("2026-03-01"), category="Masajes")
    due_back.refresh(TODAY)
    assert list(DueBack.objects.values_list("category", flat=True)) == ["Masajes"]


def test_two_services_on_one_day_are_one_visit_day_and_categories_ignore_case():
    ana = make_cliente("Ana Mismo Dia")
    visits(ana, d("2026-01-01"), d("2026-01-01"), d("2026-02-01"))
    visits(ana, d("2026-03-03"), category="tinas")
    due_back.refresh(TODAY)
    row = DueBack.objects.get(cliente=ana)
    assert row.visit_days == 3
    assert row.usual_gap_days == 30.5  # gaps of 31 and 30 days
    assert row.category == "Tinas"  # the capitalised spelling is shown


def test_placeholder_dates_never_count_for_rhythm():
    ana = make_cliente("Ana Sin Fecha")
    visits(ana, settings.HISTORY_PLACEHOLDER_DATE, d("2026-01-01"), d("2026-02-01"))
    due_back.refresh(TODAY)
    assert not DueBack.objects.exists()


def test_overdue_only_when_more_than_25_percent_past_the_gap():
    ana = make_cliente("Ana Atrasada")
    visits(ana, d("2026-01-01"), d("2026-01-31"), d("2026-03-02"))  # gap 30; last Mar 2
    due_back.refresh(TODAY)
    row = DueBack.objects.get(cliente=ana)
    # 1.25 × 30 = 37.5 days: day 37 after the last visit is not overdue, day 38 is.
    assert row.overdue_since == d("2026-03-02") + datetime.timedelta(days=38)
    assert due_back.overdue_count(d("2026-03-02") + datetime.timedelta(days=37)) == 0
    assert due_back.overdue_count(d("2026-03-02") + datetime.timedelta(days=38)) == 1
    assert list(due_back.overdue_customers(d("2026-04-09"))) == [ana]


def test_exact_quarter_past_is_not_overdue():
    ana = make_cliente("Ana Exacta")
    visits(ana, d("2026-01-01"), d("2026-01-21"), d("2026-02-10"))  # gaps 20, 20
    due_back.refresh(TODAY)
    # 1.25 × 20 = 25 days exactly: not "more than" 25% past.
    assert due_back.overdue_count(d("2026-02-10") + datetime.timedelta(days=25)) == 0
    assert due_back.overdue_count(d("2026-02-10") + datetime.timedelta(days=26)) == 1


def test_rhythm_sentence_for_the_profile():
    ana = make_cliente("Ana Frase")
    visits(ana, d("2026-01-01"), d("2026-03-04"), d("2026-05-05"))  # gaps 62, 62
    due_back.refresh(TODAY)
    (rhythm,) = due_back.customer_rhythms(ana.pk, today=d("2026-08-08"))
    assert rhythm.sentence == "Suele venir a Tinas cada ~62 días; su última visita fue hace 95 días"
    assert rhythm.overdue


def test_refresh_replaces_previous_rows():
    ana = make_cliente("Ana Refresco")
    visits(ana, d("2026-01-01"), d("2026-02-01"), d("2026-03-01"))
    assert due_back.refresh(TODAY) == 1
    ana.historial_servicios.all().delete()
    assert due_back.refresh(TODAY) == 0
    assert not DueBack.objects.exists()


# --- segment movement --------------------------------------------------------------------------------------


def test_snapshot_stores_the_raw_rfm_segment_as_of_the_first_of_the_month():
    ana = make_cliente("Ana Foto")
    visits(ana, d("2026-05-20"))
    visits(ana, d("2026-06-15"))  # after June 1st: not in June's snapshot
    assert movement.take_snapshot(d("2026-06-17")) == 1
    snap = SegmentSnapshot.objects.get()
    assert snap.month == d("2026-06-01") and snap.segment == "promising"


def test_backfill_takes_the_missing_months_once():
    ana = make_cliente("Ana Relleno")
    visits(ana, d("2025-01-10"))
    taken = movement.backfill(months=3, today=TODAY)
    assert taken == [d("2026-04-01"), d("2026-05-01"), d("2026-06-01")]
    assert movement.backfill(months=3, today=TODAY) == []


def test_movement_matrix_counts_who_moved_where_and_lists_them():
    vip_then_risk = make_cliente("Valeria Riesgo")
    stays = make_cliente("Sergio Estable")
    newcomer = make_cliente("Nadia Nueva")
    SegmentSnapshot.objects.bulk_create(
        [
            SegmentSnapshot(month=d("2026-05-01"), cliente=vip_then_risk, segment="vip"),
            SegmentSnapshot(month=d("2026-06-01"), cliente=vip_then_risk, segment="at_risk"),
            SegmentSnapshot(month=d("2026-05-01"), cliente=stays, segment="loyal"),
            SegmentSnapshot(month=d("2026-06-01"), cliente=stays, segment="loyal"),
            SegmentSnapshot(month=d("2026-06-01"), cliente=newcomer, segment="promising"),
        ]
    )
    matrix = {(m.source, m.target): m.count for m in movement.movement_matrix(d("2026-06-15"))}
    assert matrix == {("vip", "at_risk"): 1, ("loyal", "loyal"): 1, ("no_history", "promising"): 1}
    assert list(movement.moved(movement.VALUABLE, "at_risk", d("2026-06-01"))) == [vip_then_risk]
    assert movement.segment_path(vip_then_risk.pk) == [(d("2026-05-01"), "vip"), (d("2026-06-01"), "at_risk")]


# --- KPIs --------------------------------------------------------------------------------------------------


def test_cohort_returning_rate_by_months_since_first_visit():
    first = make_cliente("Cora Cohorte")
    second = make_cliente("Carlos Cohorte")
    visits(first, d("2026-04-03"), d("2026-05-20"))
    visits(second, d("2026-04-10"), d("2026-06-01"))
    rows = {cohort.month: cohort for cohort in kpis.cohorts(TODAY)}
    april = rows[d("2026-04-01")]
    assert april.size == 2
    assert april.returning[:2] == [0.5, 0.5]  # one came back in May (k=1), the other in June (k=2)
    assert april.returning[2] is None  # July has not happened yet
    assert rows[d("2026-06-01")].size == 0


def test_second_visit_conversion_counts_only_customers_who_had_the_whole_window():
    quick = make_cliente("Quique Rapido")
    slow = make_cliente("Sonia Lenta")
    recent = make_cliente("Rita Reciente")
    visits(quick, d("2025-01-01"), d("2025-02-15"))  # back after 45 days
    visits(slow, d("2025-01-01"), d("2025-06-01"))  # back after 151 days
    visits(recent, d("2026-06-01"))  # first visit 29 days ago: not eligible yet
    by_days = {item.days: item for item in kpis.second_visit_conversion(TODAY)}
    assert (by_days[90].eligible, by_days[90].converted) == (2, 1)
    assert (by_days[180].eligible, by_days[180].converted) == (2, 2)


def test_rebooking_rate_by_category():
    ana = make_cliente("Ana Repite")
    beto = make_cliente("Beto Una Vez")
    visits(ana, d("2026-01-01"), d("2026-02-01"))
    visits(beto, d("2026-01-01"))
    visits(beto, d("2026-01-01"), category="Masajes")
    rows = {item.category: item for item in kpis.rebooking_by_category(TODAY)}
    assert (rows["Tinas"].customers, rows["Tinas"].rebooked) == (2, 1)
    assert rows["Masajes"].rate == 0


# --- pages -------------------------------------------------------------------------------------------------


@pytest.fixture
def retention_data():
    ana = make_cliente("Ana Pagina")
    visits(ana, d("2025-01-01"), d("2025-02-01"), d("2025-03-01"))
    due_back.refresh()
    movement.backfill(months=2)
    return ana


def test_retention_page_shows_definitions_and_figures(staff_client, retention_data, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        response = staff_client.get(reverse("crm_retencion"))
    assert response.status_code == 200
    text = response.content.decode()
    assert "Retorno por cohorte" in text and "Cohorte: mes de la primera visita" in text
    assert "Recompra por categoría" in text and "Segunda visita en 90 días" in text


@pytest.mark.parametrize("table", ["cohortes", "conversion", "recompra"])
def test_retention_csv_downloads(staff_client, retention_data, table):
    response = staff_client.get(reverse("crm_retencion"), {"csv": table})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.content.decode().splitlines()[0]


def test_retention_csv_refuses_unknown_tables_in_spanish(staff_client):
    response = staff_client.get(reverse("crm_retencion"), {"csv": "../../etc/passwd"})
    assert response.status_code == 400
    assert "Las tablas que se pueden descargar" in response.content.decode()


def test_overdue_list_links_each_customer(staff_client, retention_data):
    response = staff_client.get(reverse("crm_retencion_atrasados"))
    assert response.status_code == 200
    assert reverse("cliente_detalle", args=[retention_data.pk]) in response.content.decode()


def test_movement_list_validates_segments(staff_client, retention_data):
    assert staff_client.get(reverse("crm_retencion_movimiento"), {"de": "valiosos", "a": "at_risk"}).status_code == 200
    bad = staff_client.get(reverse("crm_retencion_movimiento"), {"de": "x", "a": "at_risk"})
    assert bad.status_code == 400 and "Ese segmento no existe" in bad.content.decode()


def test_retention_pages_need_login(client):
    response = client.get(reverse("crm_retencion"))
    assert response.status_code == 302


def test_commands_print_spanish_summaries(retention_data):
    out = io.StringIO()
    call_command("refresh_due_back", stdout=out)
    assert "ritmos" in out.getvalue()
    out = io.StringIO()
    call_command("segment_snapshot", "--month", "2026-05", stdout=out)
    assert "05-2026" in out.getvalue()


# --- wired into the profile, the dashboard and the listings -----------------------------------------------


@pytest.fixture
def valued_customer():
    from crm.models import CLVModel, CustomerValue

    ana = make_cliente("Ana Valiosa")
    visits(ana, d("2026-01-01"), d("2026-03-04"), d("2026-05-05"))
    due_back.refresh()
    model = CLVModel.objects.create(bgnbd={"r": 1, "alpha": 1, "a": 1, "b": 1})
    CustomerValue.objects.create(
        cliente=ana,
        model=model,
        p_alive=0.85,
        expected_visits_90d=0.7,
        expected_visits_365d=3.2,
        expected_value_365d=245_000,
    )
    SegmentSnapshot.objects.bulk_create(
        [
            SegmentSnapshot(month=d("2026-05-01"), cliente=ana, segment="vip"),
            SegmentSnapshot(month=d("2026-06-01"), cliente=ana, segment="at_risk"),
        ]
    )
    return ana


def test_profile_shows_rhythm_value_in_words_and_segment_path(
    staff_client, valued_customer, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        response = staff_client.get(reverse("cliente_detalle", args=[valued_customer.pk]))
    text = response.content.decode()
    assert "Suele venir a Tinas cada ~62 días" in text
    assert "Muy probablemente sigue siendo cliente activo (85% de probabilidad)" in text
    assert "unas 3 visitas esperadas en los próximos 12 meses" in text and "$245.000" in text
    assert "05-2026" in text and "06-2026" in text


def test_value_in_words_at_its_thresholds():
    from crm.services.retention.profile import ValueInWords

    assert ValueInWords(0.8, 1.0, 0).activity.startswith("Muy probablemente sigue")
    assert ValueInWords(0.79, 1.0, 0).activity.startswith("Probablemente sigue")
    assert ValueInWords(0.2, 1.0, 0).activity == "Puede que ya no vuelva"
    assert ValueInWords(0.19, 1.0, 0).activity == "Muy probablemente ya no vuelve"
    assert ValueInWords(0.5, 0.4, 0).visits.startswith("menos de una visita")
    assert ValueInWords(0.5, 1.2, 0).visits.startswith("una visita")


def test_dashboard_shows_overdue_forecast_and_movement(staff_client, valued_customer, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        response = staff_client.get(reverse("crm_dashboard"))
    text = response.content.decode()
    assert "Atrasados" in text and "Pronóstico 12 meses" in text and "$245.000" in text
    assert "De VIP, Campeones o Leales a En riesgo" in text
    assert f"{reverse('crm_retencion_movimiento')}?de=valiosos&amp;a=at_risk" in text


def test_segment_listing_shows_the_expected_value(staff_client, valued_customer):
    from crm.services import summaries

    summaries.rebuild()
    response = staff_client.get(reverse("crm_buscar"), {"q": "Ana Valiosa"})
    assert "Valor esperado" in response.content.decode() and "$245.000" in response.content.decode()


def test_overdue_and_fallen_customers_are_campaign_audiences():
    from crm.services.campaigns import CampaignOptions, audience, audience_label

    late = make_cliente("Ana Atrasada Campana")
    visits(late, d("2025-01-01"), d("2025-02-01"), d("2025-03-01"))
    on_time = make_cliente("Beto Al Dia")
    visits(
        on_time, timezone.localdate() - datetime.timedelta(days=40), timezone.localdate() - datetime.timedelta(days=20)
    )
    due_back.refresh()
    assert list(audience(CampaignOptions(segment="overdue"))) == [late]
    month = movement.month_start(timezone.localdate())
    SegmentSnapshot.objects.bulk_create(
        [
            SegmentSnapshot(month=movement.previous_month(month), cliente=late, segment="champions"),
            SegmentSnapshot(month=month, cliente=late, segment="at_risk"),
        ]
    )
    assert list(audience(CampaignOptions(segment="valuable_to_at_risk"))) == [late]
    assert audience_label("overdue") == "Atrasados según su ritmo"
    assert audience_label("at_risk") == "En riesgo"


def test_search_filters_overdue_customers_alone_with_a_segment_or_a_name(staff_client, django_assert_max_num_queries):
    from crm.services import summaries

    late = make_cliente("Ana Atrasada Busqueda")
    visits(late, d("2025-01-01"), d("2025-02-01"), d("2025-03-01"))
    other = make_cliente("Ana Puntual Busqueda")
    visits(other, d("2025-01-01"))
    due_back.refresh()
    summaries.rebuild()
    with django_assert_max_num_queries(12):
        alone = staff_client.get(reverse("crm_buscar"), {"atrasados": "1"}).content.decode()
    assert "Ana Atrasada Busqueda" in alone and "Ana Puntual Busqueda" not in alone
    by_name = staff_client.get(reverse("crm_buscar"), {"q": "Ana", "atrasados": "1"}).content.decode()
    assert "Ana Atrasada Busqueda" in by_name and "Ana Puntual Busqueda" not in by_name
    segment = late.historial_servicios.exists() and staff_client.get(
        reverse("crm_buscar"), {"segmento": "at_risk", "atrasados": "1"}
    )
    assert segment.status_code == 200


def test_a_rhythm_of_one_day_reads_in_the_singular():
    from crm.services.retention.due_back import Rhythm

    rhythm = Rhythm(category="Masajes", usual_gap_days=1, days_since=1, overdue=False)
    assert rhythm.sentence == "Suele venir a Masajes cada ~1 día; su última visita fue hace 1 día"
