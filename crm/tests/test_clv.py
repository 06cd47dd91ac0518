"""Lifetime-value models: the numerics against the published CDNOW fit, then the fit on this database."""

import datetime
import io
import random
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from crm.models import CLVModel, CustomerValue
from crm.services.retention.clv import BGNBD, FitError, fit_bgnbd, fit_gamma_gamma
from crm.services.retention.lifetime import fit_and_store
from ventas.models import Cliente, ServiceHistory

# CDNOW_sample.txt: the public CDNOW research sample (2,357 customers, purchases January 1997 - June 1998) used by
# Fader, Hardie & Lee (2005), copied unchanged from the `lifetimes` wheel 0.11.3 (MIT licence),
# `lifetimes/datasets/CDNOW_sample.txt`. Columns: original id, customer index, date YYYYMMDD, CDs, dollars.
CDNOW = Path(__file__).parent / "data" / "CDNOW_sample.txt"
CALIBRATION_END = datetime.date(1997, 9, 30)  # 39 weeks
HOLDOUT_END = datetime.date(1998, 6, 30)  # 39 more weeks
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # weekly units
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}


def cdnow_summary():
    """(frequency, recency, T, monetary, holdout repeat days) per customer, times in weeks, one purchase per day."""
    spend = defaultdict(lambda: defaultdict(float))
    for line in CDNOW.read_text().splitlines():
        _, _, day, _, dollars = line.split()
        spend[line.split()[1]][datetime.date(int(day[:4]), int(day[4:6]), int(day[6:]))] += float(dollars)
    x, t_x, T, m, holdout = [], [], [], [], 0
    for days in spend.values():
        calibration = sorted(day for day in days if day <= CALIBRATION_END)
        first = calibration[0]
        x.append(len(calibration) - 1)
        t_x.append((calibration[-1] - first).days / 7)
        T.append((CALIBRATION_END - first).days / 7)
        m.append(np.mean([days[day] for day in calibration[1:]]) if len(calibration) > 1 else 0.0)
        holdout += sum(CALIBRATION_END < day <= HOLDOUT_END for day in days)
    return np.array(x), np.array(t_x), np.array(T), np.array(m), holdout


@pytest.fixture(scope="module")
def cdnow():
    return cdnow_summary()


def test_cdnow_sample_has_the_published_size(cdnow):
    x, *_ = cdnow
    assert len(x) == 2357


def test_bgnbd_reproduces_the_published_cdnow_parameters(cdnow):
    x, t_x, T, _, _ = cdnow
    fitted = fit_bgnbd(x, t_x, T, penalizer=0).as_dict()
    for name, published in PUBLISHED_BGNBD.items():
        assert fitted[name] == pytest.approx(published, rel=0.02), name


def test_gamma_gamma_reproduces_the_published_cdnow_parameters(cdnow):
    x, _, _, m, _ = cdnow
    fitted = fit_gamma_gamma(x, m, penalizer=0).as_dict()
    for name, published in PUBLISHED_GAMMA_GAMMA.items():
        assert fitted[name] == pytest.approx(published, rel=0.02), name


def test_bgnbd_holdout_forecast_on_cdnow(cdnow):
    """39 weeks out, the published model forecasts 1,653 repeat purchase days; 1,882 happened (-12%)."""
    x, t_x, T, _, actual = cdnow
    model = BGNBD(**PUBLISHED_BGNBD)
    predicted = model.expected_visits(39, x, t_x, T).sum()
    assert actual == 1882
    assert predicted == pytest.approx(1653, rel=0.01)


def test_p_alive_is_one_without_repeat_visits_and_falls_with_silence():
    model = BGNBD(**PUBLISHED_BGNBD)
    assert model.p_alive([0], [0], [30])[0] == pytest.approx(1.0)
    recent, silent = model.p_alive([5, 5], [29, 5], [30, 30])
    assert 0 < silent < recent <= 1


def test_expected_visits_grow_with_the_horizon_and_the_frequency():
    model = BGNBD(**PUBLISHED_BGNBD)
    short, long = model.expected_visits(np.array([10, 52]), [3, 3], [20, 20], [30, 30])
    assert 0 < short < long
    rare, frequent = model.expected_visits(52, [1, 8], [20, 20], [30, 30])
    assert rare < frequent


def test_fit_refuses_data_without_repeat_visits():
    with pytest.raises(FitError, match="visitas repetidas"):
        fit_bgnbd(np.zeros(20), np.zeros(20), np.full(20, 10.0))


# --- on this database -------------------------------------------------------------------------------------

START = datetime.date(2023, 1, 1)
END = datetime.date(2025, 12, 31)


def simulate_population(count=250, seed=7):
    """Customers who visit at Poisson rates and drop out after any visit (the BG/NBD story), over three years."""
    rng = random.Random(seed)
    clientes = Cliente.objects.bulk_create(
        [Cliente(nombre=f"Cliente Simulado {i}", busqueda=f"cliente simulado {i}") for i in range(count)]
    )
    rows = []
    span = (END - START).days
    for cliente in clientes:
        rate = rng.gammavariate(0.8, 1 / 0.8) / 60  # visits per day, mean one every two months
        dropout = rng.betavariate(1.0, 6.0)
        day = rng.randrange(span // 2)
        while day <= span:
            rows.append(
                ServiceHistory(
                    cliente=cliente,
                    service_date=START + datetime.timedelta(days=day),
                    price_paid=Decimal(rng.choice([25_000, 40_000, 65_000])),
                    service_type="Tinas",
                    service_name="Tina Calbuco",
                )
            )
            if rng.random() < dropout:
                break
            day += max(1, round(rng.expovariate(rate)))
    ServiceHistory.objects.bulk_create(rows)
    return clientes


@pytest.mark.django_db
def test_fit_stores_one_prediction_per_customer_with_history():
    simulate_population()
    Cliente.objects.create(nombre="Sin Visitas")
    result = fit_and_store()
    assert result.model.calibration_end is None
    assert CustomerValue.objects.count() == ServiceHistory.objects.values("cliente_id").distinct().count()
    values = CustomerValue.objects.all()
    assert all(0 <= value.p_alive <= 1 for value in values)
    assert all(value.expected_visits_90d <= value.expected_visits_365d for value in values)
    assert all(value.expected_value_365d >= 0 for value in values)


@pytest.mark.django_db
def test_a_new_fit_replaces_the_served_predictions():
    simulate_population(count=120)
    first = fit_and_store().model
    second = fit_and_store().model
    assert set(CustomerValue.objects.values_list("model_id", flat=True)) == {second.pk}
    assert CLVModel.objects.filter(pk=first.pk).exists()


@pytest.mark.django_db
def test_command_with_calibration_end_prints_the_holdout_check_last():
    simulate_population()
    out = io.StringIO()
    call_command("fit_clv", "--calibration-end", "2025-06-30", stdout=out)
    last = out.getvalue().strip().splitlines()[-1]
    words = last.split()
    assert words[0] == "Holdout:" and words[1] == "predicted" and words[3] == "actual"
    predicted, actual = float(words[2]), int(words[4])
    assert actual == (
        ServiceHistory.objects.filter(
            service_date__gt="2025-06-30", cliente__historial_servicios__service_date__lte="2025-06-30"
        )
        .values("cliente_id", "service_date")
        .distinct()
        .count()
    )
    assert predicted == pytest.approx(actual, rel=0.35)
    assert not CustomerValue.objects.exists()  # a holdout check never serves predictions


@pytest.mark.django_db
def test_command_csv_gives_one_row_per_customer():
    clientes = simulate_population(count=60)
    out = io.StringIO()
    call_command("fit_clv", "--csv", stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert lines[0] == "cliente_id,p_alive,expected_visits_90d,expected_visits_365d,expected_value_365d"
    ids = {int(line.split(",")[0]) for line in lines[1:]}
    assert ids <= {cliente.pk for cliente in clientes} and len(ids) == len(lines) - 1


@pytest.mark.django_db
def test_command_explains_bad_input_in_spanish():
    with pytest.raises(CommandError, match="AAAA-MM-DD"):
        call_command("fit_clv", "--calibration-end", "30-06-2025")
    with pytest.raises(CommandError, match="No hay historial"):
        call_command("fit_clv")
    simulate_population(count=30)
    with pytest.raises(CommandError, match="debe caer entre"):
        call_command("fit_clv", "--calibration-end", "2030-01-01")
