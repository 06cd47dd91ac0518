"""A tiny scheduler for periodic background jobs, in America/Santiago time.

Register a django-tasks task with a schedule in one line, in any app's `tasks.py`:

    periodic.register(daily(3, 0), train_recommender_task)      # every day at 03:00
    periodic.register(monthly(1, 6), segment_snapshot_task)      # the 1st of every month at 06:00
    periodic.register(every(5), sync_summaries_task)             # every 5 minutes

`python manage.py periodic` (a loop, checking every 30 s; `--once` for one check) imports every app's `tasks.py`
and enqueues each job whose latest scheduled time ("slot") has not been enqueued yet; a worker
(`db_worker`) runs it. The last enqueued slot of each job is a `PeriodicJob` row, moved forward only by a
conditional UPDATE (`WHERE last_slot < slot`), so two schedulers running at once never enqueue the same run.

Rules:
- A job seen for the first time starts with its next slot (registering a 06:00 job at 14:00 does not run it now).
- A scheduler that was down runs the latest missed slot once when it is back, never the whole backlog.
- Local times that do not exist (the night clocks go forward) run at the first instant after the gap; those
  that happen twice (clocks go back) run the first time.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks.base import Task

from crm.models import PeriodicJob

logger = logging.getLogger(__name__)

SANTIAGO = ZoneInfo("America/Santiago")
UTC = datetime.UTC


class Schedule:
    """When a job runs: `last_slot(now)` is the latest scheduled instant at or before `now` (aware, UTC)."""

    def last_slot(self, now: datetime.datetime) -> datetime.datetime:
        raise NotImplementedError


def _at(day: datetime.date, hour: int, minute: int) -> datetime.datetime:
    """The instant a Santiago wall clock shows `day hour:minute` (after a skipped hour: its first instant)."""
    local = datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=SANTIAGO)
    return local.astimezone(UTC)


@dataclass(frozen=True)
class Daily(Schedule):
    hour: int
    minute: int = 0

    def last_slot(self, now: datetime.datetime) -> datetime.datetime:
        today = now.astimezone(SANTIAGO).date()
        slot = _at(today, self.hour, self.minute)
        return slot if slot <= now else _at(today - datetime.timedelta(days=1), self.hour, self.minute)

    def __str__(self):
        return f"todos los días a las {self.hour:02d}:{self.minute:02d}"


@dataclass(frozen=True)
class Monthly(Schedule):
    day: int
    hour: int = 0

    def last_slot(self, now: datetime.datetime) -> datetime.datetime:
        local = now.astimezone(SANTIAGO)
        slot = _at(local.date().replace(day=self.day), self.hour, 0)
        if slot <= now:
            return slot
        previous = local.date().replace(day=1) - datetime.timedelta(days=1)
        return _at(previous.replace(day=self.day), self.hour, 0)

    def __str__(self):
        return f"el día {self.day} de cada mes a las {self.hour:02d}:00"


@dataclass(frozen=True)
class Every(Schedule):
    minutes: int

    def last_slot(self, now: datetime.datetime) -> datetime.datetime:
        # Aligned on whole multiples since the epoch: for divisors of 60 that is :00, :05... on Santiago clocks
        # too (its offsets are whole hours).
        step = self.minutes * 60
        return datetime.datetime.fromtimestamp(int(now.timestamp()) // step * step, tz=UTC)

    def __str__(self):
        return "cada minuto" if self.minutes == 1 else f"cada {self.minutes} minutos"


def daily(hour: int, minute: int = 0) -> Daily:
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"daily({hour}, {minute}): hour 0-23, minute 0-59")
    return Daily(hour, minute)


def monthly(day: int, hour: int = 0) -> Monthly:
    if not (1 <= day <= 28 and 0 <= hour < 24):
        raise ValueError(f"monthly({day}, {hour}): day 1-28 (every month has it), hour 0-23")
    return Monthly(day, hour)


def every(minutes: int) -> Every:
    if not (1 <= minutes <= 24 * 60):
        raise ValueError(f"every({minutes}): between 1 and 1440 minutes")
    return Every(minutes)


@dataclass(frozen=True)
class PeriodicEntry:
    name: str
    schedule: Schedule
    task: Task = field(compare=False)


REGISTRY: dict[str, PeriodicEntry] = {}


def register(schedule: Schedule, task: Task, *, name: str | None = None) -> Task:
    """Run `task` (a django-tasks task taking no arguments) on `schedule`; returns the task unchanged.

    The job's name defaults to the task's dotted path; registering the same name again replaces it.
    """
    entry = PeriodicEntry(name=name or task.module_path, schedule=schedule, task=task)
    REGISTRY[entry.name] = entry
    return task


def enqueue_due(
    now: datetime.datetime | None = None, registry: dict[str, PeriodicEntry] | None = None
) -> list[PeriodicEntry]:
    """Enqueue every registered job whose latest slot has not been enqueued yet; returns those enqueued."""
    now = now or timezone.now()
    enqueued = []
    for entry in (REGISTRY if registry is None else registry).values():
        slot = entry.schedule.last_slot(now)
        if _claim(entry.name, slot, now):
            try:
                result = entry.task.enqueue()
            except Exception:
                # Give the slot back so the next check retries it, and let the log say why.
                PeriodicJob.objects.filter(name=entry.name, last_slot=slot).update(last_slot=None)
                logger.exception("Could not enqueue periodic job %s for %s", entry.name, slot)
                continue
            PeriodicJob.objects.filter(name=entry.name).update(last_task_id=str(result.id)[:100])
            logger.info("Enqueued periodic job %s for %s (task %s)", entry.name, slot, result.id)
            enqueued.append(entry)
    return enqueued


def _claim(name: str, slot: datetime.datetime, now: datetime.datetime) -> bool:
    """Move the job's last slot to `slot` if it is behind; True for the one caller that moved it."""
    if not PeriodicJob.objects.filter(name=name).exists():
        try:
            with transaction.atomic():
                PeriodicJob.objects.create(name=name, last_slot=slot)  # first sight: wait for the next slot
        except IntegrityError:
            pass  # another scheduler created it first
        return False
    behind = Q(last_slot__lt=slot) | Q(last_slot=None)
    return PeriodicJob.objects.filter(behind, name=name).update(last_slot=slot, last_enqueued_at=now) == 1
