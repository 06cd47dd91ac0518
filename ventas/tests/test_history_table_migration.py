"""Migration ventas 0002 creates the legacy table only where it is missing."""

import datetime
import importlib

import pytest
from django.db import connection

from ventas.models import Cliente, ServiceHistory

migration = importlib.import_module("ventas.migrations.0002_create_service_history_table")

pytestmark = pytest.mark.django_db(transaction=True)


def run_migration():
    with connection.schema_editor() as editor:
        migration.create_table(None, editor)


def test_existing_table_and_its_rows_are_left_untouched():
    cliente = Cliente.objects.create(nombre="Cliente Legado")
    ServiceHistory.objects.create(
        cliente=cliente,
        service_type="Tinas",
        service_name="Tina Osorno",
        service_date=datetime.date(2023, 6, 1),
        price_paid=60000,
    )
    run_migration()
    assert ServiceHistory.objects.count() == 1


def test_existing_table_with_its_own_shape_gets_no_new_indexes():
    with connection.schema_editor() as editor:
        editor.execute("DROP TABLE crm_service_history")
        editor.execute(
            "CREATE TABLE crm_service_history (id INTEGER PRIMARY KEY, cliente_id BIGINT, service_type VARCHAR(100),"
            " service_name VARCHAR(255), service_date DATE, quantity INTEGER, price_paid NUMERIC(12,2),"
            " season VARCHAR(20), year INTEGER, reserva_id VARCHAR(50), legacy_note TEXT)"
        )
    try:
        run_migration()
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, "crm_service_history")
            columns = [c.name for c in connection.introspection.get_table_description(cursor, "crm_service_history")]
        assert not [name for name, c in constraints.items() if c["index"] and not c["primary_key"]]
        assert "legacy_note" in columns
    finally:
        with connection.schema_editor() as editor:
            editor.execute("DROP TABLE crm_service_history")
        run_migration()


def test_missing_table_is_created_with_indexes():
    with connection.schema_editor() as editor:
        editor.execute("DROP TABLE crm_service_history")
    run_migration()
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "crm_service_history")
    indexed = {tuple(c["columns"]) for c in constraints.values() if c["index"]}
    assert {("cliente_id", "service_date"), ("service_date",)} <= indexed
    cliente = Cliente.objects.create(nombre="Nuevo")
    row = ServiceHistory.objects.create(
        cliente=cliente,
        service_type="Masajes",
        service_name="Reflexología",
        service_date=datetime.date(2025, 1, 1),
        price_paid="45000.50",
    )
    row.refresh_from_db()
    assert str(row.price_paid) == "45000.50"
