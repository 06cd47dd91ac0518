from django.conf import settings
from django.db import migrations, models

# The rule of crm.services.conversions for proposals already sent, in SQL: the historical ServiceHistory model
# (unmanaged) has no `cliente` field to filter on.
LOCAL_DAY = {
    "postgresql": "(p.sent_at AT TIME ZONE %s)::date",
    "sqlite": "django_datetime_cast_date(p.sent_at, %s, 'UTC')",
}


def fill_next_visit_on(apps, schema_editor):
    connection = schema_editor.connection
    local_day = LOCAL_DAY.get(connection.vendor)
    if local_day is None:
        return  # another database: the nightly summaries rebuild fills it
    # LOCAL_DAY is one of two constants; the values go as parameters.
    sql = f"""
        UPDATE crm_proposal AS p SET next_visit_on = (
            SELECT MIN(h.service_date) FROM crm_service_history AS h
            WHERE h.cliente_id = p.cliente_id AND h.service_date <> %s AND h.service_date >= {local_day}
        ) WHERE p.sent_at IS NOT NULL
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [settings.HISTORY_PLACEHOLDER_DATE, settings.TIME_ZONE])


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0015_tier_label_campeones"),
        ("ventas", "0009_importrun_lease"),
    ]

    operations = [
        migrations.AddField(
            model_name="proposal",
            name="next_visit_on",
            field=models.DateField(blank=True, null=True, verbose_name="primera visita desde el envío"),
        ),
        migrations.RunPython(fill_next_visit_on, migrations.RunPython.noop),
    ]
