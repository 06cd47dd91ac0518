"""Issue 9: import_history fills the catalogue from the services the export names."""

import pytest

from ventas.importing.parsers import ServiceCatalog
from ventas.importing.services import import_history
from ventas.models import CategoriaServicio, ImportedRow, ImportRun, ServiceHistory, Servicio, ServicioAlias
from ventas.tests.test_import_history import line, write_csv

pytestmark = pytest.mark.django_db


def sale(servicio, checkin, valor="50000", cantidad="1", categoria="Tinas", n=0, cliente="Ana Soto"):
    return line(
        cliente=cliente,
        servicio=servicio,
        checkin=checkin,
        valor=valor,
        cantidad=cantidad,
        categoria=categoria,
        reserva=f"R-{servicio}-{checkin}-{n}",
        mail="",
        telefono="",
    )


def run(tmp_path, lines, name="historial.csv", **kwargs):
    return import_history(write_csv(tmp_path, lines, name=name), **kwargs)


def test_every_service_of_the_file_is_added_named_as_written_most_often(tmp_path):
    summary = run(
        tmp_path,
        [
            sale("Masaje Relajación", "2024-05-01", categoria="Masajes"),
            sale("masaje relajacion", "2024-05-02", categoria="Masajes"),
            sale("Masaje Relajación", "2024-05-03", categoria="Masajes"),
            sale("Paseo en Bote", "2024-05-03", categoria="paseos"),
        ],
    )
    assert sorted(Servicio.objects.values_list("nombre", "categoria__nombre", "origen")) == [
        ("Masaje Relajación", "Masajes", "historial"),
        ("Paseo en Bote", "Paseos", "historial"),
    ]
    assert summary.services_added == 2
    assert "Servicios agregados al catálogo: 2" in summary.lines()
    assert ImportRun.objects.get().services_added == 2


def test_categories_are_folded_and_get_their_accented_spelling(tmp_path):
    CategoriaServicio.objects.create(nombre="Tinas")
    run(
        tmp_path,
        [
            sale("Paseo Lago", "2024-05-01", categoria="excursion"),
            sale("Paseo Río", "2024-05-02", categoria="Excursión"),
            sale("Paseo Bosque", "2024-05-02", categoria="EXCURSION"),
            sale("Hot Tub Grande", "2024-05-02", categoria="tinas"),
        ],
    )
    assert sorted(CategoriaServicio.objects.values_list("nombre", flat=True)) == ["Excursión", "Tinas"]
    assert Servicio.objects.get(nombre="Hot Tub Grande").categoria.nombre == "Tinas"
    assert Servicio.objects.get(nombre="Hot Tub Grande").tipo_servicio == Servicio.Tipo.TINA


def test_reference_price_is_the_median_unit_price_of_the_last_12_months_ignoring_zero(tmp_path):
    run(
        tmp_path,
        [
            sale("Paseo en Bote", "2022-01-10", valor="999999"),  # more than 12 months before its last sale
            sale("Paseo en Bote", "2024-01-10", valor="20000"),
            sale("Paseo en Bote", "2024-02-10", valor="60000", cantidad="2"),  # 30.000 each
            sale("Paseo en Bote", "2024-03-10", valor="0"),
            sale("Paseo en Bote", "2024-04-10", valor="40000"),
            sale("Paseo en Bote", "2024-05-10", valor="50000"),
        ],
    )
    assert Servicio.objects.get().precio_base == 35000  # median of 20, 30, 40, 50 thousand


def test_a_service_not_sold_in_the_last_12_months_of_the_file_is_inactive(tmp_path):
    run(
        tmp_path,
        [
            sale("Paseo en Bote", "2022-01-10", valor="30000"),
            sale("Tina Grande", "2024-05-10"),
            sale("Tina Chica", "2023-05-11"),
        ],
    )
    assert dict(Servicio.objects.values_list("nombre", "activo")) == {
        "Paseo en Bote": False,
        "Tina Grande": True,
        "Tina Chica": True,
    }
    assert Servicio.objects.get(nombre="Paseo en Bote").precio_base == 30000


def test_a_service_staff_created_or_edited_is_never_changed(tmp_path):
    tinas = CategoriaServicio.objects.create(nombre="Tinas")
    staff = Servicio.objects.create(nombre="Tina Grande", categoria=tinas, precio_base=1, activo=False)
    summary = run(tmp_path, [sale("tina grande", "2024-05-10", valor="80000")])
    staff.refresh_from_db()
    assert (staff.precio_base, staff.activo, staff.origen) == (1, False, "admin")
    assert summary.services_added == 0
    assert ServiceHistory.objects.get().service_name == "Tina Grande"


def test_a_service_learned_before_is_updated_by_a_later_import(tmp_path):
    run(tmp_path, [sale("Tina Grande", "2023-05-10", valor="50000")])
    summary = run(tmp_path, [sale("Tina Grande", "2024-05-10", valor="70000")], name="otro.csv")
    servicio = Servicio.objects.get()
    assert servicio.precio_base == 70000
    assert (summary.services_added, summary.services_updated) == (0, 1)


def test_a_dry_run_adds_nothing_but_says_what_it_would_add(tmp_path):
    summary = run(tmp_path, [sale("Tina Grande", "2024-05-10")], dry_run=True)
    assert summary.services_added == 1
    assert not Servicio.objects.exists()


def test_an_alias_maps_to_its_service(tmp_path):
    masajes = CategoriaServicio.objects.create(nombre="Masajes")
    servicio = Servicio.objects.create(nombre="Masaje Relajación", categoria=masajes, precio_base=40000)
    ServicioAlias.objects.create(nombre="Masaje  relax", servicio=servicio)
    assert ServiceCatalog.load().clean("MASAJE RELAX") == "Masaje Relajación"
    summary = run(tmp_path, [sale("masaje relax", "2024-05-10", categoria="Masajes")])
    assert ServiceHistory.objects.get().service_name == "Masaje Relajación"
    assert summary.services_added == 0


def test_learning_services_or_adding_aliases_never_changes_the_key_of_a_line(tmp_path):
    lines = [sale("Paseo Bote Diana", "2024-05-10"), sale("masaje relax", "2024-05-10", categoria="Masajes")]
    run(tmp_path, lines)
    ServicioAlias.objects.create(nombre="masaje relax", servicio=Servicio.objects.get(nombre="Paseo Bote Diana"))
    summary = run(tmp_path, lines)
    assert (summary.imported, summary.duplicates) == (0, 2)
    assert ImportedRow.objects.count() == ServiceHistory.objects.count() == 2
