"""The import commands and the synthetic export generator, as staff run them."""

import csv
import io

import pytest
from django.core.management import CommandError, call_command

from ventas.models import Cliente, ServiceHistory

pytestmark = pytest.mark.django_db


def call(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue()


@pytest.fixture
def export(tmp_path):
    path = tmp_path / "historial.csv"
    call("make_history_export", "--rows", "200", "--out", str(path), "--bad", "0.1", "--seed", "3")
    return path


def test_make_history_export_writes_the_requested_rows(tmp_path):
    path = tmp_path / "h.csv"
    output = call("make_history_export", "--rows", "50", "--out", str(path), "--encoding", "cp1252")
    assert "50 filas, 5 que deben rechazarse" in output
    with path.open(encoding="cp1252", newline="") as handle:
        assert len(list(csv.reader(handle))) == 51


def test_import_history_prints_the_summary_and_writes_the_report(export, tmp_path):
    report = tmp_path / "reporte.csv"
    output = call("import_history", str(export), "--report", str(report))
    assert "Filas leídas: 200" in output
    assert "Importadas: 180" in output
    assert "Rechazadas: 20" in output
    assert "filas/s" in output and "memoria máxima" in output
    with report.open(encoding="utf-8-sig", newline="") as handle:
        assert sum(1 for row in csv.DictReader(handle) if row["estado"] == "rechazada") == 20
    assert ServiceHistory.objects.count() == 180


def test_import_history_dry_run_saves_nothing(export):
    output = call("import_history", str(export), "--dry-run")
    assert "Importadas: 180" in output
    assert "SIMULACIÓN" in output
    assert not ServiceHistory.objects.exists()
    assert not Cliente.objects.exists()


def test_second_run_reports_duplicates(export):
    call("import_history", str(export))
    output = call("import_history", str(export))
    assert "Importadas: 0" in output
    assert "Duplicadas (ya estaban, no se agregaron): 180" in output


def test_wrong_file_fails_with_a_spanish_message(tmp_path):
    path = tmp_path / "clientes.csv"
    path.write_text("Auto Increment,Record ID,Created On,Email,Telefono,Reservas,Client,Documento Identidad\n")
    with pytest.raises(CommandError, match="No se importó nada: El encabezado no corresponde"):
        call("import_history", str(path))


def test_import_clients_command(tmp_path):
    path = tmp_path / "clientes.csv"
    path.write_text(
        "Auto Increment,Record ID,Created On,Email,Telefono,Reservas,Client,Documento Identidad,Direccion,voucher\n"
        "1,r1,2023-01-02,ana@example.org,912345678,1,Ana Soto,,,\n",
        encoding="utf-8",
    )
    output = call("import_clients", str(path))
    assert "Importadas: 1" in output
    assert Cliente.objects.get().email == "ana@example.org"
