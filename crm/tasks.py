"""Background tasks (Django's tasks API through the django-tasks backport).

Development and production use the database backend: start a worker with `python manage.py db_worker`.
Tests use the immediate backend, which runs a task as soon as it is enqueued.
"""

import logging
from dataclasses import asdict

from django.db import transaction
from django_tasks import task

from crm import periodic
from crm.periodic import daily, every, monthly
from crm.services import campaigns, summaries
from crm.services.privacy import access_log
from crm.services.recommender import stored_stats
from crm.services.recommender.training import TrainingError, train
from crm.services.retention import due_back, lifetime, movement
from crm.services.whatsapp import build_tray
from ventas.tasks import recover_imports_task

logger = logging.getLogger(__name__)


@task()
def run_campaign_task(campaign_id: int) -> dict:
    """Generate and/or send what a campaign still needs; safe to run twice or after a crash."""
    return campaigns.run_campaign(campaign_id)


@task()
def refresh_retention_task() -> dict:
    """Nightly: due-back rhythms and lifetime value from the latest history (the lead's scheduler runs it)."""
    result = {"due_back_rows": due_back.refresh()}
    try:
        result["clv_customers"] = lifetime.fit_and_store().model.customers
    except lifetime.FitError as error:
        result["clv_error"] = str(error)
    return result


@task()
def segment_snapshot_task() -> list[str]:
    """On the 1st of each month: this month's segment snapshot (and any of the last 12 that are missing)."""
    taken = movement.backfill()
    return [month.isoformat() for month in taken]


@task()
def purge_access_log_task() -> int:
    """Delete access-log rows older than ACCESS_LOG_RETENTION_DAYS (run daily by the scheduler)."""
    return access_log.purge_access_log()


@task()
def recover_campaigns_task() -> list[int]:
    """Periodic (every minute or so): re-enqueue campaigns whose worker died, mark stuck sends interrupted.

    The database backend leaves the task of a killed worker RUNNING forever; the campaign's own lease is what
    tells a dead worker from a slow one. Also worth running once when a worker starts.
    """
    return campaigns.recover_campaigns()


@task()
def build_tray_task() -> dict:
    """Daily at 06:00 America/Santiago (the lead's scheduler runs it): today's WhatsApp tray (idempotent)."""
    result = build_tray()
    return {"day": result.tray.day.isoformat(), "created": result.created, "shown": result.shown}


@task()
def train_recommender_task() -> dict:
    """Retrain the recommender on the current history and store the chosen model (see train_recommender)."""
    try:
        report = train(store=True)
    except TrainingError as error:
        logger.info("recommender not trained: %s", error.message)
        return {"trained": False, "reason": error.message}
    return {
        "trained": True,
        "model_id": report.stored.pk,
        "kind": report.chosen.kind,
        "cutoff": report.cutoff.isoformat(),
        "hit_rate": report.chosen.metrics["hit_rate"],
        "seconds": round(report.seconds, 1),
    }


def retrain_after_import(sender=None, **kwargs) -> None:
    """Receiver of ventas.signals.history_imported: retrain once the import's transaction has committed."""
    transaction.on_commit(train_recommender_task.enqueue)


# --- Summary tables (crm.services.summaries), on the periodic scheduler (crm.periodic) ---


@task()
def sync_summaries_task() -> dict:
    """Refresh the summaries for writes the legacy system made straight into the history table."""
    return asdict(summaries.sync_legacy_changes())


@task()
def daily_summaries_task() -> dict:
    """Count rows whose future date has come and rescore every customer as of the new day."""
    return asdict(summaries.refresh_daily())


@task()
def rebuild_summaries_task() -> dict:
    """Rebuild the summaries and the proposal statistics from the whole history (catches in-place edits by the
    legacy system)."""
    result = asdict(summaries.rebuild())
    stored_stats.rebuild()
    return result


periodic.register(every(5), sync_summaries_task)
periodic.register(daily(0, 0), daily_summaries_task)
periodic.register(daily(3, 30), rebuild_summaries_task)


# --- The rest of the schedule (times in America/Santiago) ---

periodic.register(every(1), recover_campaigns_task)
periodic.register(every(5), recover_imports_task)
periodic.register(daily(2, 0), refresh_retention_task)
periodic.register(daily(2, 30), purge_access_log_task)
periodic.register(daily(4, 0), train_recommender_task)
periodic.register(monthly(1, 1), segment_snapshot_task)
periodic.register(daily(6, 0), build_tray_task)
