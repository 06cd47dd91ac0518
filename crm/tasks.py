"""Background tasks (Django's tasks API through the django-tasks backport).

Development and production use the database backend: start a worker with `python manage.py db_worker`.
Tests use the immediate backend, which runs a task as soon as it is enqueued.
"""

from django_tasks import task

from crm.services import campaigns
from crm.services.privacy import access_log
from crm.services.retention import due_back, lifetime, movement
from crm.services.whatsapp import build_tray


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
