import datetime
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import Proposal
from crm.services import warmup
from crm.tests.builders import add_history, make_cliente, make_service

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 6, 30)
CONFIG = Path(__file__).resolve().parents[2] / "aremko" / "gunicorn.conf.py"


def test_warm_up_rehearses_a_proposal_and_stores_nothing():
    make_service("Tina Calbuco")
    add_history(make_cliente("Ana Araya"), service_date=datetime.date(2026, 5, 2))
    with CaptureQueriesContext(connection) as queries:
        report = warmup.warm_up(today=TODAY)
    assert report.proposal
    assert not Proposal.objects.exists()
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))]
    assert writes == []


def test_warm_up_computes_the_dashboard_figures_for_the_first_request(staff_client):
    add_history(make_cliente("Ana Araya"), service_date=datetime.date(2026, 5, 2), price=50_000)
    warmup.warm_up()
    with CaptureQueriesContext(connection) as queries:
        assert "$50.000" in staff_client.get(reverse("crm_dashboard")).content.decode()
    assert not [q["sql"] for q in queries.captured_queries if "SUM(" in q["sql"].upper()]


def test_warm_up_on_an_empty_database_only_loads_code_and_templates():
    report = warmup.warm_up(today=TODAY)
    assert not report.proposal


def test_warm_up_without_active_services_does_not_fail():
    add_history(make_cliente("Ana Araya"), service_date=datetime.date(2026, 5, 2))
    assert not warmup.warm_up(today=TODAY).proposal


def test_gunicorn_warms_every_worker_and_a_failed_warm_up_only_logs(monkeypatch):
    hook = runpy.run_path(str(CONFIG))["post_worker_init"]
    calls, logged = [], []
    worker = SimpleNamespace(log=SimpleNamespace(exception=logged.append))
    monkeypatch.setattr(warmup, "warm_up", lambda: calls.append("warm"))
    monkeypatch.setattr(connections, "close_all", lambda: calls.append("close"))  # not the test's transaction
    hook(worker)
    assert calls == ["warm", "close"] and logged == []

    def broken():
        raise RuntimeError("database down")

    monkeypatch.setattr(warmup, "warm_up", broken)
    hook(worker)  # the worker still starts
    assert logged == ["Warm-up failed; the worker starts cold"]
