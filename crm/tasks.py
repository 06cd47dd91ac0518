"""Background tasks (Django's tasks API through the django-tasks backport).

Development and production use the database backend: start a worker with `python manage.py db_worker`.
Tests use the immediate backend, which runs a task as soon as it is enqueued.
"""

import logging

from django.db import transaction
from django_tasks import task

from crm.services import campaigns
from crm.services.recommender.training import TrainingError, train

logger = logging.getLogger(__name__)


@task()
def run_campaign_task(campaign_id: int) -> dict:
    """Generate and/or send what a campaign still needs; safe to run twice or after a crash."""
    return campaigns.run_campaign(campaign_id)


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
