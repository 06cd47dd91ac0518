"""Background tasks of the data model app (Django's tasks API through the django-tasks backport).

A worker (`python manage.py db_worker`) runs them; tests use the immediate backend.
"""

from django_tasks import task

from ventas.importing.recovery import recover_imports
from ventas.importing.services import run_queued_import


@task()
def import_file_task(run_id: int) -> str:
    """Import an upload kept by `queue_uploaded_file`; safe to deliver twice (the run is claimed once)."""
    return run_queued_import(run_id)


@task()
def recover_imports_task() -> dict:
    """Queue again (or give up on) background imports whose worker died; periodic (crm/tasks.py)."""
    return recover_imports()
