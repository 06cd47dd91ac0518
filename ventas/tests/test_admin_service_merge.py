"""Issue 9: staff merge catalogue services in admin; the others become aliases and the history follows."""

import datetime

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from ventas.importing.catalogue import merge_services
from ventas.importing.parsers import ServiceCatalog
from ventas.importing.services import import_history
from ventas.models import CategoriaServicio, Cliente, ServiceHistory, Servicio, ServicioAlias
from ventas.tests.test_import_history import line, write_csv

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:ventas_servicio_changelist")


@pytest.fixture
def masajes():
    categoria = CategoriaServicio.objects.create(nombre="Masajes")
    kept = Servicio.objects.create(nombre="Masaje Relajación", categoria=categoria, precio_base=40000)
    learned = Servicio.objects.create(
        nombre="Masaje relax", categoria=categoria, precio_base=38000, origen=Servicio.Origen.HISTORIAL
    )
    ServicioAlias.objects.create(nombre="masaje rlx", servicio=learned)
    cliente = Cliente.objects.create(nombre="Ana Soto")
    for name in ["masaje relax", "Masaje Relax", "Masaje Relajación", "Tina Calbuco"]:
        ServiceHistory.objects.create(
            cliente=cliente, service_type="Masajes", service_name=name, service_date=datetime.date(2024, 5, 1)
        )
    return kept, learned


def test_merge_makes_the_others_aliases_and_renames_their_history(masajes):
    kept, learned = masajes
    result = merge_services(target=kept, others=[learned])
    assert not Servicio.objects.filter(pk=learned.pk).exists()
    assert sorted(kept.alias.values_list("nombre", flat=True)) == ["Masaje relax", "masaje rlx"]
    assert result.history_rows == 2
    assert sorted(ServiceHistory.objects.values_list("service_name", flat=True)) == [
        "Masaje Relajación",
        "Masaje Relajación",
        "Masaje Relajación",
        "Tina Calbuco",
    ]
    catalog = ServiceCatalog.load()
    assert catalog.clean("MASAJE RELAX") == catalog.clean("masaje rlx") == "Masaje Relajación"


def test_lines_imported_after_a_merge_take_the_kept_name(tmp_path, masajes):
    kept, learned = masajes
    merge_services(target=kept, others=[learned])
    import_history(write_csv(tmp_path, [line(servicio="Masaje Relax", categoria="Masajes")]))
    assert ServiceHistory.objects.filter(service_name="Masaje Relajación").count() == 4
    assert Servicio.objects.count() == 1


def test_admin_merge_action_asks_for_the_service_to_keep_then_merges(admin_client, masajes):
    kept, learned = masajes
    selected = {"action": "merge", ACTION_CHECKBOX_NAME: [kept.pk, learned.pk]}
    page = admin_client.post(CHANGELIST, selected)
    assert page.status_code == 200
    assert "Servicio que se conserva" in page.content.decode()
    response = admin_client.post(CHANGELIST, {**selected, "destino": kept.pk})
    assert response.status_code == 302
    assert list(Servicio.objects.values_list("nombre", flat=True)) == ["Masaje Relajación"]
    assert ServicioAlias.objects.filter(servicio=kept).count() == 2


def test_admin_merge_needs_two_services(admin_client, masajes):
    kept, _ = masajes
    response = admin_client.post(CHANGELIST, {"action": "merge", ACTION_CHECKBOX_NAME: [kept.pk]}, follow=True)
    assert "al menos dos servicios" in response.content.decode()
    assert Servicio.objects.count() == 2


def test_a_service_edited_in_admin_belongs_to_staff(admin_client, masajes):
    _, learned = masajes
    url = reverse("admin:ventas_servicio_change", args=[learned.pk])
    form = {
        "nombre": learned.nombre,
        "categoria": learned.categoria_id,
        "tipo_servicio": "masaje",
        "precio_base": 45000,
        "duracion": 60,
        "activo": "on",
        "descripcion": "",
        "alias-TOTAL_FORMS": 1,
        "alias-INITIAL_FORMS": 1,
        "alias-0-id": learned.alias.get().pk,
        "alias-0-servicio": learned.pk,
        "alias-0-nombre": "masaje rlx",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 302
    learned.refresh_from_db()
    assert (learned.precio_base, learned.origen) == (45000, Servicio.Origen.ADMIN)


def test_the_merge_page_keeps_ids_above_999_unformatted(admin_client):
    categoria = CategoriaServicio.objects.create(nombre="Tinas")
    first = Servicio.objects.create(pk=1234, nombre="Tina Calbuco", categoria=categoria, precio_base=25000)
    second = Servicio.objects.create(pk=1235, nombre="Tina calbuco", categoria=categoria, precio_base=25000)

    page = admin_client.post(CHANGELIST, {"action": "merge", ACTION_CHECKBOX_NAME: [first.pk, second.pk]})

    html = page.content.decode()
    for pk in (1234, 1235):  # never "1.234": the selected ids go back with the chosen one
        assert f'name="{ACTION_CHECKBOX_NAME}" value="{pk}"' in html
