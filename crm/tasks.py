"""Background tasks (Django's tasks API through the django-tasks backport).

Development and production use the database backend: start a worker with `python manage.py db_worker`.
Tests use the immediate backend, which runs a task as soon as it is enqueued.
"""

from django_tasks import task

from crm.services import campaigns
from crm.services.privacy import access_log


@task()
def run_campaign_task(campaign_id: int) -> dict:
    """Generate and/or send what a campaign still needs; safe to run twice or after a crash."""
    return campaigns.run_campaign(campaign_id)


@task()
def purge_access_log_task() -> int:
    """Delete access-log rows older than ACCESS_LOG_RETENTION_DAYS (run daily by the scheduler)."""
    return access_log.purge_access_log()
