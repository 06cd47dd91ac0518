"""Background tasks (Django's tasks API through the django-tasks backport).

Development and production use the database backend: start a worker with `python manage.py db_worker`.
Tests use the immediate backend, which runs a task as soon as it is enqueued.
"""

from dataclasses import asdict

from django_tasks import task

from crm import periodic
from crm.periodic import daily, every
from crm.services import campaigns, summaries


@task()
def run_campaign_task(campaign_id: int) -> dict:
    """Generate and/or send what a campaign still needs; safe to run twice or after a crash."""
    return campaigns.run_campaign(campaign_id)


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
    """Rebuild the summaries from the whole history (catches in-place edits by the legacy system)."""
    return asdict(summaries.rebuild())


periodic.register(every(5), sync_summaries_task)
periodic.register(daily(0, 0), daily_summaries_task)
periodic.register(daily(3, 30), rebuild_summaries_task)
