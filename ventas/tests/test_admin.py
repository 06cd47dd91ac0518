import datetime

import pytest
from django.urls import reverse

from ventas.models import (
    CategoriaProducto,
    CategoriaServicio,
    Cliente,
    Producto,
    ServiceHistory,
    Servicio,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def objects():
    cliente = Cliente.objects.create(nombre="Camila Rojas", email="camila@example.org", telefono="912345678")
    cat_servicio = CategoriaServicio.objects.create(nombre="Tinas")
    servicio = Servicio.objects.create(nombre="Tina Calbuco", categoria=cat_servicio, precio_base=25000)
    cat_producto = CategoriaProducto.objects.create(nombre="Bebidas")
    producto = Producto.objects.create(nombre="Jugo natural", categoria=cat_producto, precio_base=3500)
    historia = ServiceHistory.objects.create(
        cliente=cliente,
        service_type="Tinas",
        service_name="Tina Calbuco",
        service_date=datetime.date(2025, 7, 1),
        price_paid=50000,
    )
    return [cliente, cat_servicio, servicio, cat_producto, producto, historia]


def admin_urls(obj):
    opts = obj._meta
    return (
        reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
        reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]),
    )


def test_every_model_has_working_admin_pages(admin_client, objects):
    for obj in objects:
        for url in admin_urls(obj):
            response = admin_client.get(url)
            assert response.status_code == 200, url


def test_admin_is_in_spanish(admin_client):
    response = admin_client.get(reverse("admin:index"))
    assert "Administración" in response.content.decode()


def test_history_changelist_filters_and_searches(admin_client, objects):
    url = reverse("admin:ventas_servicehistory_changelist")
    response = admin_client.get(url, {"q": "Camila", "service_type": "Tinas", "year": "2025"})
    assert response.status_code == 200
    assert "Tina Calbuco" in response.content.decode()


def test_client_search_by_phone(admin_client, objects):
    response = admin_client.get(reverse("admin:ventas_cliente_changelist"), {"q": "+56912345678"})
    assert "Camila Rojas" in response.content.decode()
