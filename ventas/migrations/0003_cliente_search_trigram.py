"""Trigram indexes for substring search on PostgreSQL (no-op on SQLite).

Search filters the stored, normalised `busqueda` column and the E.164 `telefono` with LIKE '%…%';
a `gin_trgm_ops` index on the bare column serves exactly that expression.
"""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS ventas_cliente_busqueda_trgm ON ventas_cliente USING gin (busqueda gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS ventas_cliente_telefono_trgm ON ventas_cliente USING gin (telefono gin_trgm_ops)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS ventas_cliente_telefono_trgm",
    "DROP INDEX IF EXISTS ventas_cliente_busqueda_trgm",
]


def run(statements):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return operation


class Migration(migrations.Migration):
    dependencies = [("ventas", "0002_create_service_history_table")]

    operations = [migrations.RunPython(run(FORWARD), run(BACKWARD))]
