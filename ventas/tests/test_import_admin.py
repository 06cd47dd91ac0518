"""The "Importar historial" admin page: upload, summary, downloadable report; staff with permission only."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from ventas.importing.readers import HISTORY_COLUMNS
from ventas.models import ImportRun, ServiceHistory

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


def test_history_changelist_links_to_the_import_page(admin_client):
    response = admin_client.get(reverse("admin:ventas_servicehistory_changelist"))
    assert response.status_code == 200
    assert URL in response.content.decode()
