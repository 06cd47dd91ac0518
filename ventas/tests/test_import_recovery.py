"""A background import whose worker died: its lease expires, the recovery job queues it again (re-importing is
idempotent), and after IMPORT_MAX_ATTEMPTS tries it ends failed with a Spanish reason."""

import datetime

import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from crm import periodic
from ventas.importing.recovery import recover_imports
from ventas.importing.services import run_queued_import
from ventas.models import ImportRun, ServiceHistory
from ventas.tests.test_import_admin import BIG_LINES, URL, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMPORT_INLINE_MAX_BYTES = 1000


def queued_run(admin_client) -> ImportRun:
    admin_client.post(URL, {"archivo": upload(BIG_LINES), "tipo": "historial"})  # the task is not run here
    return ImportRun.objects.get()


def die_while_running(run: ImportRun, *, attempts: int = 1) -> None:
    """What a worker killed in the middle leaves: the run claimed `attempts` times, the last lease long past."""
    expired = timezone.now() - datetime.timedelta(minutes=15)
    ImportRun.objects.filter(pk=run.pk).update(
        status=ImportRun.Status.RUNNING, attempts=attempts, lease_expires_at=expired, rows_read=5
    )


def test_claiming_a_run_sets_its_lease_and_counts_the_attempt(admin_client, settings):
    settings.IMPORT_LEASE_SECONDS = 600
    run = queued_run(admin_client)
    before = timezone.now()
    assert run_queued_import(run.pk) == ImportRun.Status.DONE
    run.refresh_from_db()
    assert run.attempts == 1
    assert run.lease_expires_at is None  # a finished run holds no lease
    assert run.finished_at >= before


def test_a_run_whose_worker_died_is_queued_again_and_finishes_without_duplicates(
    admin_client, django_capture_on_commit_callbacks
):
    run = queued_run(admin_client)
    assert run_queued_import(run.pk) == ImportRun.Status.DONE  # the dead worker had written every line…
    ImportRun.objects.filter(pk=run.pk).update(status=ImportRun.Status.QUEUED, source=run.source.name)
    run.refresh_from_db()
    run.source.save("importacion-again", upload(BIG_LINES), save=True)  # …and its upload was still kept
    die_while_running(run)
    DBTaskResult.objects.create(
        task_path="ventas.tasks.import_file_task",
        args_kwargs={"args": [run.pk], "kwargs": {}},
        status=TaskResultStatus.RUNNING,
        queue_name="default",
        backend_name="default",
        priority=0,
    )
    with django_capture_on_commit_callbacks(execute=True):
        outcome = recover_imports()
    assert outcome == {"queued": [run.pk], "failed": []}
    run.refresh_from_db()
    assert run.status == ImportRun.Status.DONE  # the immediate backend ran the queued task again
    assert run.attempts == 2
    assert ServiceHistory.objects.count() == len(BIG_LINES)  # nothing written twice
    assert (run.imported, run.duplicates) == (0, len(BIG_LINES))
    page = admin_client.get(f"/admin/ventas/importrun/{run.pk}/estado/").content.decode()
    assert "Intento 2: el proceso anterior se detuvo" in page
    dead_task = DBTaskResult.objects.get(task_path="ventas.tasks.import_file_task")
    assert dead_task.status == TaskResultStatus.FAILED  # the task admin no longer says it is running


def test_a_live_run_is_left_alone(admin_client):
    run = queued_run(admin_client)
    ImportRun.objects.filter(pk=run.pk).update(
        status=ImportRun.Status.RUNNING, attempts=1, lease_expires_at=timezone.now() + datetime.timedelta(minutes=5)
    )
    assert recover_imports(enqueue=pytest.fail) == {"queued": [], "failed": []}
    run.refresh_from_db()
    assert run.status == ImportRun.Status.RUNNING


def test_after_the_last_attempt_the_run_fails_with_a_spanish_reason_and_the_upload_is_deleted(admin_client, settings):
    settings.IMPORT_MAX_ATTEMPTS = 3
    run = queued_run(admin_client)
    die_while_running(run, attempts=3)
    path = run.source.path
    assert recover_imports(enqueue=pytest.fail) == {"queued": [], "failed": [run.pk]}
    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED
    assert run.error.startswith("La importación se interrumpió 3 veces")
    assert "las filas que ya están no se duplican" in run.error
    assert not ImportRun.objects.get(pk=run.pk).source.storage.exists(path)
    page = admin_client.get(f"/admin/ventas/importrun/{run.pk}/estado/").content.decode()
    assert "se interrumpió 3 veces" in page


def test_a_stale_run_whose_upload_is_gone_fails_instead_of_looping(admin_client):
    run = queued_run(admin_client)
    run.source.delete(save=False)
    die_while_running(run)
    assert recover_imports(enqueue=pytest.fail)["failed"] == [run.pk]
    assert ImportRun.objects.get(pk=run.pk).error.startswith("La importación se interrumpió (el proceso")


def test_runs_from_before_leases_count_as_stale_once_they_are_that_old(
    admin_client, django_capture_on_commit_callbacks
):
    run = queued_run(admin_client)
    ImportRun.objects.filter(pk=run.pk).update(
        status=ImportRun.Status.RUNNING, lease_expires_at=None, created_at=timezone.now() - datetime.timedelta(hours=2)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert recover_imports()["queued"] == [run.pk]
    assert ImportRun.objects.get(pk=run.pk).status == ImportRun.Status.DONE


def test_the_recovery_is_on_the_schedule():
    import crm.tasks  # noqa: F401  (registers the schedule)

    assert "ventas.tasks.recover_imports_task" in periodic.REGISTRY
