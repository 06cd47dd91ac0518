"""Background tasks (Django's tasks API through the django-tasks backport).

Development and production use the database backend: start a worker with `python manage.py db_worker`.
Tests use the immediate backend, which runs a task as soon as it is enqueued.
"""

from django_tasks import task

from crm.services import campaigns


@task()
def run_campaign_task(campaign_id: int) -> dict:
    """Generate and/or send what a campaign still needs; safe to run twice or after a crash."""
    return campaigns.run_campaign(campaign_id)


@task()
def recover_campaigns_task() -> list[int]:
    """Periodic (every minute or so): re-enqueue campaigns whose worker died, mark stuck sends interrupted.

    The database backend leaves the task of a killed worker RUNNING forever; the campaign's own lease is what
    tells a dead worker from a slow one. Also worth running once when a worker starts.
    """
    return campaigns.recover_campaigns()
