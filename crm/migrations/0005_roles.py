"""Staff roles (Recepción, Marketing, Administración) as groups with permissions; see crm/roles.py.

Also the database cache table: without REDIS_URL the rate limits live in Django's database cache, shared by
every worker process, so `migrate` creates its table (idempotent; a no-op when the cache is Redis).
"""

from django.core.management import call_command
from django.db import migrations


def create_roles(apps, schema_editor):
    from crm.roles import sync_roles

    sync_roles(apps=apps, using=schema_editor.connection.alias)


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("crm", "0004_privacy"),
        ("ventas", "0005_service_history_covering_indexes"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="campaign",
            options={
                "ordering": ["-created_at", "-id"],
                "permissions": [("approve_campaign", "Puede aprobar el envío de campañas grandes")],
                "verbose_name": "campaña",
                "verbose_name_plural": "campañas",
            },
        ),
        migrations.RunPython(create_roles, migrations.RunPython.noop),
        migrations.RunPython(create_cache_table, migrations.RunPython.noop),
    ]
