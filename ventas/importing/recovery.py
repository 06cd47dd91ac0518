"""Background imports whose worker died: queued again (importing is idempotent), or failed after too many tries.

A running import renews `ImportRun.lease_expires_at` after every batch (`services._save_counts`). When the
lease has expired the process doing it is gone (killed, machine restarted): nothing else would ever finish the
run, so `recover_imports` (periodic, see crm/tasks.py) puts it back in the queue with its uploaded file; a
re-import skips every line the dead attempt already wrote. After IMPORT_MAX_ATTEMPTS tries, or when the
uploaded copy is gone, the run ends failed with a Spanish reason, and what was imported stays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from ventas.importing.services import import_lease
from ventas.models import ImportRun

logger = logging.getLogger(__name__)

IMPORT_TASK_PATH = "ventas.tasks.import_file_task"
GAVE_UP = (
    "La importación se interrumpió {attempts} veces (el proceso que la hacía se detuvo); lo ya importado queda. "
    "Vuelva a subir el archivo: las filas que ya están no se duplican."
)
SOURCE_LOST = (
    "La importación se interrumpió (el proceso que la hacía se detuvo) y el archivo subido ya no está; lo ya "
    "importado queda. Vuelva a subir el archivo: las filas que ya están no se duplican."
)


def stale_runs():
    """Running imports whose lease expired (or, for runs started before leases existed, that are that old)."""
    now = timezone.now()
    return ImportRun.objects.filter(
        Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True, created_at__lt=now - import_lease()),
        status=ImportRun.Status.RUNNING,
    )


def recover_imports(enqueue: Callable[[int], object] | None = None) -> dict[str, list[int]]:
    """Queue again or fail every stale run; returns the run ids by outcome. One conditional UPDATE per run, so
    two recoveries at once act once; the task is enqueued after the commit."""
    if enqueue is None:
        from ventas.tasks import import_file_task

        enqueue = import_file_task.enqueue
    outcome: dict[str, list[int]] = {"queued": [], "failed": []}
    for run in stale_runs().only("pk", "attempts", "source", "lease_expires_at"):
        with transaction.atomic():
            same = ImportRun.objects.filter(
                pk=run.pk, status=ImportRun.Status.RUNNING, lease_expires_at=run.lease_expires_at
            )
            gave_up = run.attempts >= settings.IMPORT_MAX_ATTEMPTS
            if gave_up or not _source_exists(run):
                error = GAVE_UP.format(attempts=run.attempts) if gave_up else SOURCE_LOST
                if same.update(
                    status=ImportRun.Status.FAILED, error=error, finished_at=timezone.now(), lease_expires_at=None
                ):
                    if run.source:
                        run.source.delete(save=False)
                    outcome["failed"].append(run.pk)
                continue
            if same.update(status=ImportRun.Status.QUEUED, lease_expires_at=None):
                _close_dead_task_rows(run.pk)
                transaction.on_commit(lambda run_id=run.pk: enqueue(run_id))
                outcome["queued"].append(run.pk)
    for run_id in outcome["queued"]:
        logger.warning("Import run %s had no live worker: queued again", run_id)
    for run_id in outcome["failed"]:
        logger.warning("Import run %s had no live worker and was given up", run_id)
    return outcome


def _source_exists(run: ImportRun) -> bool:
    return bool(run.source) and run.source.storage.exists(run.source.name)


def _close_dead_task_rows(run_id: int) -> int:
    """The database task backend leaves a killed worker's task RUNNING forever: close it so the admin tells the
    truth (the run was queued again under a new task)."""
    return DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING, task_path=IMPORT_TASK_PATH, args_kwargs__args__0=run_id
    ).update(
        status=TaskResultStatus.FAILED,
        finished_at=timezone.now(),
        exception_class_path="ventas.importing.recovery.WorkerLost",
        traceback="The worker stopped renewing the import's lease (killed?); the run was queued again.",
    )
