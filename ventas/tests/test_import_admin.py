"""The "Importar historial" admin page: upload, summary, downloadable report; staff with permission only."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from ventas.importing.readers import HISTORY_COLUMNS
from ventas.importing.services import run_queued_import
from ventas.models import ImportRun, ServiceHistory
from ventas.tests.xlsx_bombs import build_dimension_bomb

pytestmark = pytest.mark.django_db

URL = reverse("admin:ventas_importrun_import")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def upload(lines, name="historial.csv"):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HISTORY_COLUMNS)
    writer.writerows(lines)
    return SimpleUploadedFile(name, buffer.getvalue().encode("utf-8"), content_type="text/csv")


LINES = [
    ["Ana Soto", "Tina Calbuco", "1", "$50.000", "R-1", "06/03/2022", "tinas", "2,022", "", "ana@example.org", ""],
    ["Ana Soto", "tina eliminada", "1", "50000", "R-2", "2022-03-06", "Tinas", "2022", "", "ana@example.org", ""],
]


def test_superuser_uploads_history_and_sees_the_summary(admin_client):
    response = admin_client.post(URL, {"archivo": upload(LINES), "tipo": "historial"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Resumen de la importación" in page
    assert "Filas leídas: 2" in page
    assert "Importadas: 1" in page
    assert "Rechazadas: 1" in page
    assert "línea anulada en el sistema anterior: «tina eliminada»" in page
    assert ServiceHistory.objects.count() == 1
    run = ImportRun.objects.get()
    assert (run.file_name, run.rows_read, run.imported, run.rejected) == ("historial.csv", 2, 1, 1)
    assert reverse("admin:ventas_importrun_report", args=[run.pk]) in page


def test_report_is_downloadable(admin_client):
    admin_client.post(URL, {"archivo": upload(LINES), "tipo": "historial"})
    run = ImportRun.objects.get()
    response = admin_client.get(reverse("admin:ventas_importrun_report", args=[run.pk]))
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert [(r["linea"], r["estado"], r["servicio"]) for r in rows] == [("3", "rechazada", "tina eliminada")]


def test_dry_run_from_the_admin_saves_nothing(admin_client):
    response = admin_client.post(URL, {"archivo": upload(LINES), "tipo": "historial", "simular": "on"})
    page = response.content.decode()
    assert "Resumen de la simulación (no se guardó nada)" in page
    assert "Importadas: 1" in page
    assert not ServiceHistory.objects.exists()
    assert not ImportRun.objects.exists()


def test_unreadable_upload_shows_the_reason_and_changes_nothing(admin_client):
    bad = SimpleUploadedFile("x.csv", b"nombre,monto\nAna,1\n", content_type="text/csv")
    response = admin_client.post(URL, {"archivo": bad, "tipo": "historial"})
    assert response.status_code == 400
    assert "No se importó nada: El encabezado no corresponde" in response.content.decode()
    assert not ImportRun.objects.exists()


def test_missing_file_is_a_form_error(admin_client):
    response = admin_client.post(URL, {"tipo": "historial"})
    assert response.status_code == 400


def test_changelist_links_to_the_import_page(admin_client):
    response = admin_client.get(reverse("admin:ventas_importrun_changelist"))
    assert URL in response.content.decode()
    assert "Importar historial" in response.content.decode()


def test_import_page_renders_for_superuser(admin_client):
    response = admin_client.get(URL)
    assert response.status_code == 200
    assert 'enctype="multipart/form-data"' in response.content.decode()


def test_anonymous_users_are_sent_to_login_and_nothing_is_imported(client):
    response = client.post(URL, {"archivo": upload(LINES), "tipo": "historial"})
    assert response.status_code == 302
    assert "/login/" in response["Location"]
    assert not ServiceHistory.objects.exists()
    run = ImportRun.objects.create(kind="historial", file_name="x.csv")
    assert client.get(reverse("admin:ventas_importrun_report", args=[run.pk])).status_code == 302


def test_staff_without_permission_is_forbidden(client, marketing_user):
    client.force_login(marketing_user)  # Marketing: campaigns, but no imports
    assert client.post(URL, {"archivo": upload(LINES), "tipo": "historial"}).status_code == 403
    assert not ServiceHistory.objects.exists()
    marketing_user.user_permissions.add(Permission.objects.get(codename="add_importrun"))
    assert client.get(URL).status_code == 200


def test_import_run_detail_links_to_the_report_download(admin_client):
    admin_client.post(URL, {"archivo": upload(LINES), "tipo": "historial"})
    run = ImportRun.objects.get()
    response = admin_client.get(reverse("admin:ventas_importrun_change", args=[run.pk]))
    assert response.status_code == 200
    assert reverse("admin:ventas_importrun_report", args=[run.pk]) in response.content.decode()
    assert reverse("admin:ventas_importrun_status", args=[run.pk]) in response.content.decode()


def test_history_changelist_links_to_the_import_page(admin_client):
    response = admin_client.get(reverse("admin:ventas_servicehistory_changelist"))
    assert response.status_code == 200
    assert URL in response.content.decode()


# Formula cells (issue 10) --------------------------------------------------------------------------------------
def test_formula_cells_reach_the_downloaded_report_as_text(admin_client):
    # No customer data: the line is rejected and its cells copied to the report.
    hostile = ["", "=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1)", "2022-03-06", "tinas", "2022", "", "", ""]
    admin_client.post(URL, {"archivo": upload([hostile]), "tipo": "historial"})
    run = ImportRun.objects.get()
    response = admin_client.get(reverse("admin:ventas_importrun_report", args=[run.pk]))
    [row] = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert row["motivo"].startswith("sin datos del cliente")
    assert (row["servicio"], row["cantidad"], row["valor"], row["reserva"]) == (
        "'=cmd|' /C calc'!A0",
        "'+1",
        "'-2",
        "'@SUM(A1)",
    )


def test_reports_stored_before_the_fix_are_defused_on_download(admin_client):
    run = ImportRun.objects.create(kind="historial", file_name="viejo.csv")
    raw = "\ufefflinea,estado,motivo,cliente\r\n3,rechazada,sin servicio,=cmd|' /C calc'!A0\r\n"
    run.report.save("reporte-viejo.csv", ContentFile(raw.encode()), save=True)
    response = admin_client.get(reverse("admin:ventas_importrun_report", args=[run.pk]))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows == [{"linea": "3", "estado": "rechazada", "motivo": "sin servicio", "cliente": "'=cmd|' /C calc'!A0"}]


# NUL bytes (issue 10) ------------------------------------------------------------------------------------------
def test_upload_with_a_nul_after_64_kib_is_imported_line_by_line(admin_client):
    lines = [
        [
            "Cliente Prueba",
            "Tina Calbuco",
            "1",
            "50000",
            f"R-{n}",
            "2022-03-06",
            "tinas",
            "2022",
            "",
            f"c{n}@example.org",
            "",
        ]
        for n in range(900)
    ]
    lines[800][0] = "Cliente\x00Prueba"
    response = admin_client.post(URL, {"archivo": upload(lines), "tipo": "historial"})
    assert response.status_code == 200
    assert "carácter nulo (NUL)" in response.content.decode()
    run = ImportRun.objects.get()
    assert (run.rows_read, run.imported, run.rejected) == (900, 899, 1)


# Uploads above IMPORT_INLINE_MAX_BYTES go to a background task ------------------------------------------------
BIG_LINES = [
    [
        "Cliente Prueba",
        "Tina Calbuco",
        "1",
        "50000",
        f"R-{n}",
        "2022-03-06",
        "tinas",
        "2022",
        "",
        f"c{n}@example.org",
        "",
    ]
    for n in range(40)
]


@pytest.fixture
def small_inline_limit(settings):
    settings.IMPORT_INLINE_MAX_BYTES = 1000


def test_large_upload_is_imported_by_the_background_task(
    admin_client, small_inline_limit, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(URL, {"archivo": upload(BIG_LINES), "tipo": "historial"})
    run = ImportRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:ventas_importrun_status", args=[run.pk])
    assert (run.status, run.rows_read, run.imported) == (ImportRun.Status.DONE, 40, 40)
    assert ServiceHistory.objects.count() == 40
    assert not run.source  # the uploaded copy is not kept after the import
    assert "Filas leídas: 40" in run.summary
    page = admin_client.get(response["Location"]).content.decode()
    assert "Filas leídas: 40" in page
    assert "data-import-refresh" not in page


def test_status_page_of_a_running_import_refreshes_with_a_static_script(admin_client, small_inline_limit):
    response = admin_client.post(URL, {"archivo": upload(BIG_LINES), "tipo": "historial"})  # task not run yet
    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.QUEUED and run.source
    ImportRun.objects.filter(pk=run.pk).update(status=ImportRun.Status.RUNNING, rows_read=15_000)
    page = admin_client.get(response["Location"]).content.decode()
    assert "Filas leídas hasta ahora: 15.000" in page
    assert 'data-import-refresh="3"' in page
    assert "/static/ventas/importacion.js" in page
    assert "<script>" not in page and "onload=" not in page  # no inline JavaScript (CSP)


def test_large_dry_run_in_the_background_saves_nothing_but_its_summary(
    admin_client, small_inline_limit, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(URL, {"archivo": upload(BIG_LINES), "tipo": "historial", "simular": "on"})
    run = ImportRun.objects.get()
    assert (run.status, run.dry_run, run.rows_read, run.imported) == (ImportRun.Status.DONE, True, 40, 40)
    assert "SIMULACIÓN: no se guardó ningún cambio." in run.summary
    assert not ServiceHistory.objects.exists()


def test_unreadable_large_upload_ends_failed_with_the_reason(
    admin_client, small_inline_limit, django_capture_on_commit_callbacks
):
    bad = SimpleUploadedFile("x.csv", b"nombre,monto\n" + b"Ana,1\n" * 400, content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(URL, {"archivo": bad, "tipo": "historial"})
    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.FAILED
    assert run.error.startswith("No se importó nada: El encabezado no corresponde")
    assert not run.source
    assert run.error in admin_client.get(response["Location"]).content.decode()


def test_a_queued_import_delivered_twice_imports_once(admin_client, small_inline_limit):
    admin_client.post(URL, {"archivo": upload(BIG_LINES), "tipo": "historial"})
    run = ImportRun.objects.get()
    assert run_queued_import(run.pk) == ImportRun.Status.DONE
    assert run_queued_import(run.pk) == ImportRun.Status.DONE
    assert ServiceHistory.objects.count() == 40
    run.refresh_from_db()
    assert run.imported == 40


def test_status_page_of_another_app_user_without_view_permission_is_404(staff_client, small_inline_limit):
    run = ImportRun.objects.create(kind="historial", file_name="x.csv")
    assert staff_client.get(reverse("admin:ventas_importrun_status", args=[run.pk])).status_code in (403, 404)


def test_xlsx_bomb_upload_is_refused_with_a_form_error(admin_client, tmp_path):
    bomb = build_dimension_bomb(tmp_path / "bomba.xlsx").read_bytes()
    response = admin_client.post(URL, {"archivo": SimpleUploadedFile("bomba.xlsx", bomb), "tipo": "historial"})
    assert response.status_code == 400
    assert "No se importó nada: La planilla declara 1.048.576 filas y 16.384 columnas" in response.content.decode()
    assert not ImportRun.objects.exists()
