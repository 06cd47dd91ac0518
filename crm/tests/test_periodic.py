import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django_tasks import task

from crm import periodic
from crm.models import PeriodicJob
from crm.periodic import PeriodicEntry, daily, enqueue_due, every, monthly

pytestmark = pytest.mark.django_db

SANTIAGO = ZoneInfo("America/Santiago")
RUNS = []


@task()
def record_run_task() -> None:
    RUNS.append(1)


def at(*args) -> datetime.datetime:
    """An instant given as Santiago wall-clock time."""
    return datetime.datetime(*args, tzinfo=SANTIAGO)


@pytest.fixture
def job():
    RUNS.clear()

    def make(schedule):
        return {"test-job": PeriodicEntry("test-job", schedule, record_run_task)}

    return make


def test_daily_slot_is_today_from_the_minute_it_is_due_and_yesterday_before():
    schedule = daily(6, 0)
    assert schedule.last_slot(at(2026, 11, 25, 6, 0)) == at(2026, 11, 25, 6, 0)
    assert schedule.last_slot(at(2026, 11, 25, 5, 59, 59)) == at(2026, 11, 24, 6, 0)


def test_monthly_slot_crosses_into_the_previous_month_and_year():
    schedule = monthly(1, 6)
    assert schedule.last_slot(at(2026, 1, 1, 6, 0)) == at(2026, 1, 1, 6, 0)
    assert schedule.last_slot(at(2026, 1, 1, 5, 59)) == at(2025, 12, 1, 6, 0)


def test_every_slots_are_aligned_on_the_clock():
    schedule = every(5)
    assert schedule.last_slot(at(2026, 11, 25, 10, 4, 59)) == at(2026, 11, 25, 10, 0)
    assert schedule.last_slot(at(2026, 11, 25, 10, 5)) == at(2026, 11, 25, 10, 5)


def test_a_midnight_job_on_the_night_clocks_skip_an_hour_runs_right_after_the_gap():
    # Chile moves clocks from 24:00 to 01:00 on the first Saturday night of September (2026-09-05/06).
    slot = daily(0, 0).last_slot(at(2026, 9, 6, 1, 30))
    assert slot.astimezone(SANTIAGO).replace(tzinfo=None) == datetime.datetime(2026, 9, 6, 1, 0)


def test_invalid_schedules_are_refused():
    for bad in (lambda: daily(24), lambda: monthly(31), lambda: every(0)):
        with pytest.raises(ValueError):
            bad()


def test_a_new_job_waits_for_its_next_slot_then_runs_once_per_slot(job):
    registry = job(daily(6, 0))
    assert enqueue_due(at(2026, 11, 25, 14, 0), registry) == []  # first sight at 14:00: not the 06:00 of today
    assert enqueue_due(at(2026, 11, 26, 5, 59), registry) == []  # not due yet
    assert len(enqueue_due(at(2026, 11, 26, 6, 0), registry)) == 1  # due at the minute
    assert enqueue_due(at(2026, 11, 26, 6, 0, 30), registry) == []  # the same slot again: nothing
    assert RUNS == [1]


def test_a_scheduler_back_after_downtime_runs_the_latest_missed_slot_once(job):
    registry = job(every(5))
    enqueue_due(at(2026, 11, 25, 10, 0), registry)
    assert len(enqueue_due(at(2026, 11, 25, 11, 2), registry)) == 1  # 12 slots missed: one run
    assert enqueue_due(at(2026, 11, 25, 11, 4), registry) == []
    assert len(RUNS) == 1


def test_two_schedulers_never_enqueue_the_same_slot(job):
    registry = job(every(5))
    enqueue_due(at(2026, 11, 25, 10, 0), registry)
    now = at(2026, 11, 25, 10, 5)
    first, second = enqueue_due(now, registry), enqueue_due(now, registry)
    assert (len(first), len(second)) == (1, 0)
    # The claim itself is a conditional UPDATE: a scheduler holding a stale view cannot move it twice.
    slot = every(5).last_slot(now)
    assert periodic._claim("test-job", slot, now) is False
    assert PeriodicJob.objects.get(name="test-job").last_slot == slot


class QueueDown:
    """A task whose queue refuses work (a broker outage cannot be produced with the immediate backend)."""

    def enqueue(self):
        raise ConnectionError("queue down")


def test_a_failed_enqueue_is_retried_at_the_next_check(job):
    registry = job(every(5))
    enqueue_due(at(2026, 11, 25, 10, 0), registry)
    broken = {"test-job": PeriodicEntry("test-job", every(5), QueueDown())}
    assert enqueue_due(at(2026, 11, 25, 10, 5), broken) == []
    assert len(enqueue_due(at(2026, 11, 25, 10, 5, 30), registry)) == 1
    assert RUNS == [1]


def test_registering_is_one_line_and_the_summaries_jobs_are_registered():
    import crm.tasks  # noqa: F401 registers on import, as the periodic command's autodiscovery does

    periodic.register(daily(3), record_run_task, name="test-register")
    try:
        assert periodic.REGISTRY["test-register"].schedule == daily(3, 0)
    finally:
        del periodic.REGISTRY["test-register"]
    assert {"crm.tasks.sync_summaries_task", "crm.tasks.daily_summaries_task"} <= set(periodic.REGISTRY)


def test_periodic_once_checks_and_exits():
    out = StringIO()
    call_command("periodic", once=True, stdout=out)
    assert "crm.tasks.sync_summaries_task: cada 5 minutos" in out.getvalue()
    assert PeriodicJob.objects.filter(name="crm.tasks.sync_summaries_task").exists()


def test_the_scheduler_stops_cleanly_on_sigterm(tmp_path):
    """`manage.py demo` and systemd stop it with SIGTERM: it says so and exits 0, like on Ctrl+C."""
    import os
    import signal
    import subprocess
    import sys

    from django.conf import settings

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "DEBUG": "true"}
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True, timeout=120)
    process = subprocess.Popen(
        [*manage, "periodic", "--interval", "0.2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        first_line = process.stdout.readline()  # the job list: the handler is installed before it is printed
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, first_line + output
    assert "Programador detenido." in output
