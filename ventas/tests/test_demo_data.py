"""The demo data generator and loader (`ventas.demo_data`): exact sizes, determinism and realism."""

import datetime
import io
import re
from collections import Counter
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from ventas import demo_data
from ventas.models import Cliente, ServiceHistory, Servicio
from ventas.normalize import normalize_rut, season_of

TODAY = datetime.date(2026, 11, 25)


def generate(scale, *, seed=demo_data.DEFAULT_SEED, today=TODAY, profile=demo_data.DEFAULT_PROFILE):
    chunks = demo_data.iter_client_chunks(seed=seed, scale=scale, today=today, profile=profile)
    return [c for chunk in chunks for c in chunk]


def snapshot():
    """Everything loaded except database ids, in a stable order."""
    clients = list(
        Cliente.objects.order_by("pk").values_list(
            "nombre", "email", "telefono", "documento_identidad", "pais", "ciudad", "created_at", "acepta_marketing"
        )
    )
    history = list(
        ServiceHistory.objects.order_by("pk").values_list(
            "cliente__nombre", "reserva_id", "service_name", "service_date", "quantity", "price_paid"
        )
    )
    return clients, history


def test_sizes_scale_exactly():
    assert demo_data.demo_size(1) == demo_data.DemoSize(3053, 961, 26158)
    assert demo_data.demo_size(0.02) == demo_data.DemoSize(61, 19, 523)
    assert demo_data.demo_size(40).history_rows == 1_046_320


@pytest.mark.django_db
def test_small_scale_loads_exact_counts():
    result = demo_data.load_demo_data(scale=0.02, today=TODAY)

    assert (result.clients, result.clients_with_history, result.history_rows) == (61, 19, 523)
    assert Cliente.objects.count() == 61
    assert Cliente.objects.filter(historial_servicios__isnull=False).distinct().count() == 19
    assert ServiceHistory.objects.count() == 523
    assert ServiceHistory.objects.aggregate(total=Sum("price_paid"))["total"] == result.total_paid


@pytest.mark.django_db
def test_same_seed_loads_identical_rows():
    demo_data.load_demo_data(seed=7, scale=0.02, today=TODAY)
    first = snapshot()
    demo_data.reset_demo_data()
    demo_data.load_demo_data(seed=7, scale=0.02, today=TODAY)

    assert snapshot() == first


def test_different_seed_gives_different_customers():
    assert [c.nombre for c in generate(0.02, seed=1)] != [c.nombre for c in generate(0.02, seed=2)]


def test_customers_do_not_depend_on_today():
    other_day = datetime.date(2031, 3, 2)
    people = [(c.nombre, c.email, c.telefono, c.documento_identidad) for c in generate(0.05)]
    assert people == [(c.nombre, c.email, c.telefono, c.documento_identidad) for c in generate(0.05, today=other_day)]


@pytest.mark.django_db
def test_loaded_customers_have_search_text_and_history_has_season_and_year():
    demo_data.load_demo_data(scale=0.02, today=TODAY)

    cliente = Cliente.objects.exclude(email="").first()
    assert cliente.busqueda == Cliente.search_text(cliente.nombre, cliente.email)
    winter_row = ServiceHistory.objects.filter(service_date__month=7).first()
    assert (winter_row.season, winter_row.year) == ("Invierno", winter_row.service_date.year)
    assert not ServiceHistory.objects.filter(Q(season__isnull=True) | Q(year__isnull=True)).exists()


def test_phones_are_unique_e164():
    phones = [c.telefono for c in generate(0.5) if c.telefono]

    assert len(phones) == len(set(phones)) > 1000
    assert all(re.fullmatch(r"\+\d{10,15}", phone) for phone in phones)
    assert any(phone.startswith("+569") for phone in phones)


def test_about_thirty_percent_have_no_email_and_emails_are_on_example_domains():
    clients = generate(0.3)
    without = sum(1 for c in clients if not c.email) / len(clients)

    assert 0.25 <= without <= 0.35
    assert all(c.email.rsplit("@", 1)[1] in demo_data.EMAIL_DOMAINS for c in clients if c.email)


def test_names_carry_spanish_accents():
    names = " ".join(c.nombre for c in generate(0.1))
    assert any(letter in names for letter in "áéíóúñÁÉÍÓÚÑ")


def test_ruts_have_valid_check_digits():
    ruts = [c.documento_identidad for c in generate(0.2) if c.documento_identidad]

    assert ruts
    assert all(normalize_rut(rut) == rut for rut in ruts)


def test_history_never_uses_the_placeholder_date_nor_the_future():
    # Anchored so that the placeholder day (2021-01-01) lies inside the five generated years.
    today = datetime.date(2023, 6, 1)
    dates = [row.service_date for c in generate(0.3, today=today) for row in c.history]

    assert settings.HISTORY_PLACEHOLDER_DATE not in dates
    assert max(dates) <= today
    assert min(dates) >= today - datetime.timedelta(days=demo_data.HISTORY_DAYS)


@pytest.mark.django_db
def test_loaded_history_ends_today_at_the_latest():
    demo_data.load_demo_data(scale=0.02)

    assert ServiceHistory.objects.aggregate(last=Max("service_date"))["last"] <= timezone.localdate()


@pytest.mark.django_db
def test_every_history_row_names_a_catalogue_service_and_its_category():
    demo_data.load_demo_data(scale=0.02, today=TODAY)

    catalogue = dict(Servicio.objects.values_list("nombre", "categoria__nombre"))
    used = set(ServiceHistory.objects.values_list("service_name", "service_type").distinct())
    assert used
    assert all(catalogue[name] == category for name, category in used)
    assert {category for _, category in used} <= {"Tinas", "Masajes", "Cabañas", "Ambientaciones"}


def test_discontinued_services_appear_only_in_old_history():
    retired = {s.nombre for s in demo_data.SERVICES if not s.activo}
    old_enough = TODAY - datetime.timedelta(days=demo_data.RETIRED_BEFORE_DAYS)
    rows = [row for c in generate(0.3) for row in c.history if row.service_name in retired]

    assert rows
    assert all(row.service_date < old_enough for row in rows)


def test_tubs_peak_in_the_southern_winter():
    tub_dates = [row.service_date for c in generate(0.3) for row in c.history if row.service_type == "Tinas"]
    seasons = Counter(season_of(day) for day in tub_dates)

    assert seasons.most_common(1)[0][0] == "Invierno"
    assert seasons["Invierno"] > 1.3 * seasons["Verano"]


def test_tub_and_massage_are_booked_together_on_the_same_day():
    pairs = 0
    for client in generate(0.1):
        categories_by_reserva = {}
        for row in client.history:
            categories_by_reserva.setdefault((row.reserva_id, row.service_date), set()).add(row.service_type)
        pairs += sum(1 for kinds in categories_by_reserva.values() if {"Tinas", "Masajes"} <= kinds)
    assert pairs > 10


def test_line_totals_follow_people_or_nights():
    rows = [row for c in generate(0.1) for row in c.history]
    tubs = [row for row in rows if row.service_type == "Tinas"]
    cabins = [row for row in rows if row.service_type == "Cabañas"]

    assert {row.quantity for row in tubs} <= {2, 3, 4, 5}
    assert {row.quantity for row in cabins} <= {1, 2, 3}
    assert all(10_000 <= row.price_paid / row.quantity <= 35_000 for row in tubs)


def segment_counts(today):
    """RFM segments with the thresholds of issue 3, counted in the database."""
    (r3, r2), (f3, f2), (m3, m2) = settings.RFM_RECENCY_DAYS, settings.RFM_FREQUENCY, settings.RFM_MONETARY
    per_client = ServiceHistory.objects.values("cliente").annotate(
        last=Max("service_date"), n=Count("id"), spent=Sum("price_paid")
    )
    counts = Counter()
    for row in per_client:  # at most 961 aggregated rows
        days = (today - row["last"]).days
        r = 3 if days <= r3 else 2 if days <= r2 else 1
        f = 3 if row["n"] >= f3 else 2 if row["n"] >= f2 else 1
        m = 3 if row["spent"] >= m3 else 2 if row["spent"] >= m2 else 1
        if (r, f, m) == (3, 3, 3):
            counts["vip"] += 1
        elif r >= 2 and f >= 2 and m >= 2:
            counts["champions"] += 1
        elif r >= 2 and f >= 2:
            counts["loyal"] += 1
        elif r == 3 and f == 1:
            counts["promising"] += 1
        elif r == 1 and f >= 2:
            counts["at_risk"] += 1
        elif r == 1 and f == 1 and m >= 2:
            counts["hibernating"] += 1
        elif r == 1:
            counts["lost"] += 1
        else:
            counts["occasional"] += 1
    return counts


@pytest.mark.django_db
def test_scale_one_matches_the_real_aremko():
    result = demo_data.load_demo_data(scale=1)

    assert Cliente.objects.count() == 3053
    assert Cliente.objects.filter(historial_servicios__isnull=False).distinct().count() == 961
    assert ServiceHistory.objects.count() == 26158
    total = ServiceHistory.objects.aggregate(total=Sum("price_paid"))["total"]
    assert Decimal(1_200_000_000) <= total <= Decimal(1_300_000_000)
    assert total == result.total_paid
    busiest = ServiceHistory.objects.values("cliente").annotate(n=Count("id")).order_by("-n").first()["n"]
    assert 350 <= busiest <= 450
    segments = segment_counts(timezone.localdate())
    expected = {"vip", "champions", "loyal", "promising", "at_risk", "hibernating", "lost", "occasional"}
    assert set(segments) == expected, segments


def next_visit_hits(profile, *, scale=0.5):
    """Hit-rate@3 on each customer's first visit day after a cutoff: the 3 most popular services before the
    cutoff vs. the customer's own 3 most frequent ones (the simple next-basket baselines)."""
    clients = generate(scale, seed=11, profile=profile)
    cutoff = TODAY - datetime.timedelta(days=365)
    popular = Counter(row.service_name for c in clients for row in c.history if row.service_date < cutoff)
    top = {name for name, _ in popular.most_common(3)}
    customers = popularity = personal = 0
    for client in clients:
        before = Counter(row.service_name for row in client.history if row.service_date < cutoff)
        after = [row for row in client.history if row.service_date >= cutoff]
        if not before or not after:
            continue
        first_day = min(row.service_date for row in after)
        taken = {row.service_name for row in after if row.service_date == first_day}
        customers += 1
        popularity += bool(taken & top)
        personal += bool(taken & {name for name, _ in before.most_common(3)})
    return popularity / customers, personal / customers


def test_default_profile_customers_repeat_their_own_favourites():
    popularity, personal = next_visit_hits("default")
    assert personal > 1.3 * popularity


def test_popular_profile_customers_follow_popularity():
    popularity, personal = next_visit_hits("popular")
    assert popularity > personal


def test_profile_changes_choices_but_not_customers_nor_sizes():
    default, popular = generate(0.05), generate(0.05, profile="popular")
    assert [(c.nombre, c.email, len(c.history)) for c in default] == [
        (c.nombre, c.email, len(c.history)) for c in popular
    ]
    assert [row.service_name for c in default for row in c.history] != [
        row.service_name for c in popular for row in c.history
    ]


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="profile"):
        next(demo_data.iter_client_chunks(scale=0.01, today=TODAY, profile="nope"))


def test_some_couples_almost_always_add_a_massage_to_their_tub():
    shares = []
    for client in generate(0.3):
        visits = {}
        for row in client.history:
            visits.setdefault(row.reserva_id, set()).add(row.service_type)
        tub_visits = [kinds for kinds in visits.values() if "Tinas" in kinds]
        if len(tub_visits) >= 8:
            shares.append(sum("Masajes" in kinds for kinds in tub_visits) / len(tub_visits))
    assert shares
    assert sum(share >= 0.7 for share in shares) >= 5
    assert sum(share <= 0.2 for share in shares) >= 5


@pytest.mark.django_db
def test_load_demo_data_command_loads_the_popular_profile():
    out = io.StringIO()
    call_command("load_demo_data", "--scale", "0.01", "--profile", "popular", "--seed", "4", stdout=out)

    assert "perfil popular" in out.getvalue()
    assert ServiceHistory.objects.count() == demo_data.demo_size(0.01).history_rows
