import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection

from ventas.models import CategoriaServicio, Cliente, ServiceHistory, Servicio

pytestmark = pytest.mark.django_db


def test_cliente_phone_is_stored_in_e164():
    cliente = Cliente.objects.create(nombre="Ana Muñoz", telefono="9 1234 5678")
    assert cliente.telefono == "+56912345678"


def test_cliente_phone_is_unique_whatever_the_format():
    Cliente.objects.create(nombre="Ana Muñoz", telefono="+56 9 1234 5678")
    with pytest.raises(IntegrityError):
        Cliente.objects.create(nombre="Ana M.", telefono="912345678")


def test_many_clients_without_phone_are_allowed():
    Cliente.objects.create(nombre="Uno")
    Cliente.objects.create(nombre="Dos", telefono="")
    assert Cliente.objects.filter(telefono__isnull=True).count() == 2


def test_search_field_follows_name_and_email():
    cliente = Cliente.objects.create(nombre="José  Núñez", email="JOSE@Example.org")
    assert cliente.busqueda == "jose nunez jose@example.org"
    cliente.nombre = "José Pérez"
    cliente.save(update_fields=["nombre"])
    cliente.refresh_from_db()
    assert cliente.busqueda == "jose perez jose@example.org"


def test_clean_rejects_a_rut_with_a_wrong_check_digit():
    cliente = Cliente(nombre="Test", documento_identidad="12.345.678-9")
    with pytest.raises(ValidationError) as error:
        cliente.full_clean()
    assert "documento_identidad" in error.value.message_dict


def test_clean_accepts_passports_and_valid_ruts():
    Cliente(nombre="Test", documento_identidad="AB123456").full_clean()
    cliente = Cliente(nombre="Test", documento_identidad="12.345.678-5")
    cliente.full_clean()
    assert cliente.documento_identidad == "12345678-5"


def test_clean_rejects_a_bad_phone():
    with pytest.raises(ValidationError):
        Cliente(nombre="Test", telefono="12").full_clean()


def test_unsubscribe_clears_consent_with_its_date():
    cliente = Cliente.objects.create(nombre="Test")
    assert cliente.acepta_marketing
    cliente.unsubscribe()
    cliente.refresh_from_db()
    assert not cliente.acepta_marketing
    assert cliente.fecha_baja is not None


def test_service_history_derives_season_and_year():
    cliente = Cliente.objects.create(nombre="Test")
    row = ServiceHistory.objects.create(
        cliente=cliente,
        service_type="Tinas",
        service_name="Tina Calbuco",
        service_date=datetime.date(2024, 7, 3),
        price_paid=50000,
    )
    row.refresh_from_db()
    assert (row.season, row.year) == ("Invierno", 2024)
    assert cliente.historial_servicios.get() == row


def test_placeholder_dates_are_excluded_from_real_dates(settings):
    cliente = Cliente.objects.create(nombre="Test")
    for day in (settings.HISTORY_PLACEHOLDER_DATE, datetime.date(2024, 1, 5)):
        ServiceHistory.objects.create(
            cliente=cliente, service_type="Tinas", service_name="Tina", service_date=day, price_paid=1
        )
    assert ServiceHistory.objects.with_real_dates().count() == 1


def test_servicio_str():
    categoria = CategoriaServicio.objects.create(nombre="Masajes")
    servicio = Servicio.objects.create(nombre="Masaje Piedras Calientes", categoria=categoria, precio_base=45000)
    assert str(servicio) == "Masaje Piedras Calientes"


def test_service_history_table_has_the_indexes():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "crm_service_history")
    indexed = {tuple(c["columns"]) for c in constraints.values() if c["index"]}
    assert ("cliente_id", "service_date") in indexed
    assert ("service_date",) in indexed
