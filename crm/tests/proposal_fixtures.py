"""Synthetic catalogue and history shared by the proposal tests (invented names, example.org emails)."""

import datetime
from decimal import Decimal

import pytest
from django.core.cache import cache

from ventas.models import CategoriaServicio, Cliente, ServiceHistory, Servicio
from ventas.normalize import season_of

AS_OF = datetime.date(2026, 7, 15)  # winter in Puerto Varas


@pytest.fixture(name="catalogue")
def catalogue_fixture():
    cache.clear()  # everyone's statistics are cached per date: each test starts from its own data
    tinas = CategoriaServicio.objects.create(nombre="Tinas")
    masajes = CategoriaServicio.objects.create(nombre="Masajes")
    cabanas = CategoriaServicio.objects.create(nombre="Cabañas")
    services = {
        "calbuco": Servicio(nombre="Tina Calbuco", categoria=tinas, tipo_servicio="tina", precio_base=25_000),
        "osorno": Servicio(nombre="Tina Osorno", categoria=tinas, tipo_servicio="tina", precio_base=27_000),
        "masaje": Servicio(nombre="Masaje Relajación", categoria=masajes, tipo_servicio="masaje", precio_base=40_000),
        "torre": Servicio(nombre="Cabaña Torre", categoria=cabanas, tipo_servicio="cabana", precio_base=120_000),
        "antigua": Servicio(nombre="Tina Antigua", categoria=tinas, precio_base=15_000, activo=False),
    }
    Servicio.objects.bulk_create(services.values())
    return services


def cliente(nombre="Valentina Prueba"):
    return Cliente.objects.create(nombre=nombre, email=f"{nombre.split()[0].lower()}@example.org")


def visit(customer, day, *names, price=25_000):
    """One visit day: the services taken together (one bulk insert)."""
    ServiceHistory.objects.bulk_create(
        ServiceHistory(
            cliente=customer,
            service_date=day,
            service_type="Tinas",
            service_name=name,
            price_paid=Decimal(price),
            season=season_of(day),
            year=day.year,
        )
        for name in names
    )


@pytest.fixture(name="community")
def community_fixture(catalogue):
    """Twelve other customers: the tub is popular and usually comes with a massage."""
    for index in range(12):
        other = cliente(f"Otro{index} Cliente")
        day = AS_OF - datetime.timedelta(days=40 + index * 20)
        visit(other, day, "Tina Calbuco", "Masaje Relajación" if index % 4 else "Tina Osorno")
        if index % 3 == 0:
            visit(other, day - datetime.timedelta(days=200), "Tina Calbuco")
    return catalogue
