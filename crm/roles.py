"""Staff roles: Django groups with the permissions each job needs.

- Recepción: search customers, open the profile and history, generate and send one proposal.
- Marketing: Recepción plus campaigns and their results.
- Administración: Marketing plus imports, the rights console, the access log and approving big campaigns.

Views check one permission each (`crm.views.access.crm_view`); superusers hold every permission. A staff user
in no role sees no CRM page. `sync_roles()` is idempotent: the data migration `crm.0005_roles` runs it, and so
does every `migrate` (post_migrate), which picks up permissions of models added later. It only adds
permissions to the groups, never removes ones an administrator granted by hand.
"""

from __future__ import annotations

import logging
from functools import cache

from django.apps import apps as global_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS, connections, router

logger = logging.getLogger(__name__)

RECEPCION = "Recepción"
MARKETING = "Marketing"
ADMINISTRACION = "Administración"

_FRONT_DESK = ["ventas.view_cliente", "crm.add_proposal", "ventas.add_consentevent"]
_MARKETING = [*_FRONT_DESK, "crm.add_campaign", "crm.view_campaign"]
_ADMINISTRATION = [
    *_MARKETING,
    "crm.approve_campaign",
    "ventas.add_importrun",
    "crm.change_datarequest",
    "crm.view_datarequest",
    "crm.view_accesslog",
    "ventas.view_consentevent",
]

ROLES: dict[str, list[str]] = {
    RECEPCION: _FRONT_DESK,
    MARKETING: _MARKETING,
    ADMINISTRACION: _ADMINISTRATION,
}

# Apps whose permissions the roles use; their Permission rows are created first when they do not exist yet
# (inside the migration, before Django's own post_migrate has created them).
_APPS = ("ventas", "crm")


def sync_roles(*, apps=global_apps, using: str = DEFAULT_DB_ALIAS) -> dict[str, list[str]]:
    """Create the role groups and give each its permissions; returns the permissions skipped per role.

    A permission whose model does not exist yet is skipped (logged), and the next migrate adds it.
    """
    for label in _APPS:
        if label in global_apps.app_configs:
            create_permissions(global_apps.get_app_config(label), verbosity=0, using=using, apps=apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    skipped: dict[str, list[str]] = {}
    for role, dotted_names in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=role)
        found = []
        for dotted in dotted_names:
            app_label, codename = dotted.split(".", 1)
            permission = (
                Permission.objects.using(using).filter(content_type__app_label=app_label, codename=codename).first()
            )
            if permission is None:
                skipped.setdefault(role, []).append(dotted)
                continue
            found.append(permission)
        group.permissions.add(*found)
    if skipped:
        logger.info("Roles: permissions not available yet, added on a later migrate: %s", skipped)
    return skipped


def sync_roles_after_migrate(sender, *, using: str = DEFAULT_DB_ALIAS, apps=global_apps, **kwargs) -> None:
    """post_migrate receiver for the crm app (auth has created this app's permissions by then)."""
    try:
        apps.get_model("auth", "Group")
    except LookupError:  # migrated back to before auth existed
        return
    sync_roles(apps=apps, using=using)


class RoleBackend(ModelBackend):
    """Django's ModelBackend, reading a user's own and role permissions in one query instead of two.

    Every CRM request loads its user and checks one permission: two queries per page (the permissions cached on
    the user object for the rest of the request, as Django does), both SQL written once per process. Building
    them with the ORM on every request cost a gunicorn worker more CPU than rendering the cached dashboard
    (profiled under `bench_http`).
    """

    def get_user(self, user_id):
        model = get_user_model()
        user = next(iter(model._default_manager.raw(_user_sql(model), [user_id])), None)
        return user if user is not None and self.user_can_authenticate(user) else None

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if user_obj.is_superuser:
                Permission = global_apps.get_model("auth", "Permission")
                rows = Permission.objects.values_list("content_type__app_label", "codename")
            else:
                sql, using = _user_permissions_sql(type(user_obj))
                with connections[using].cursor() as cursor:
                    cursor.execute(sql, [user_obj.pk, user_obj.pk])
                    rows = cursor.fetchall()
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in rows}
        return user_obj._perm_cache


@cache
def _user_sql(user_model) -> str:
    """The user with the id given as parameter, every column (what `Manager.get(pk=…)` reads)."""
    quote = connections[router.db_for_read(user_model)].ops.quote_name
    columns = ", ".join(quote(field.column) for field in user_model._meta.concrete_fields)
    pk = quote(user_model._meta.pk.column)
    return f"SELECT {columns} FROM {quote(user_model._meta.db_table)} WHERE {pk} = %s"  # noqa: S608 model metadata


@cache
def _user_permissions_sql(user_model) -> tuple[str, str]:
    """(SQL, database alias) answering (app_label, codename) of a user's own and group permissions; the user's
    id is its two parameters. Table and column names come from the models, as the ORM would write them."""
    Permission = global_apps.get_model("auth", "Permission")
    ContentType = global_apps.get_model("contenttypes", "ContentType")
    using = router.db_for_read(Permission)
    quote = connections[using].ops.quote_name
    own = user_model._meta.get_field("user_permissions")
    groups = user_model._meta.get_field("groups")
    group_permissions = groups.related_model._meta.get_field("permissions")

    def through(field) -> tuple[str, str, str]:
        """(table, column of the model holding the field, column of the other model) of an m2m table."""
        return quote(field.m2m_db_table()), quote(field.m2m_column_name()), quote(field.m2m_reverse_name())

    own_table, own_user, own_permission = through(own)
    groups_table, groups_user, groups_group = through(groups)
    gp_table, gp_group, gp_permission = through(group_permissions)
    # Model metadata only; the user id is a parameter.
    sql = (
        f"SELECT DISTINCT ct.{quote('app_label')}, p.{quote('codename')} "  # noqa: S608
        f"FROM {quote(Permission._meta.db_table)} p "
        f"JOIN {quote(ContentType._meta.db_table)} ct ON ct.{quote('id')} = p.{quote('content_type_id')} "
        f"WHERE p.{quote('id')} IN ("
        f"SELECT {own_permission} FROM {own_table} WHERE {own_user} = %s "
        f"UNION SELECT gp.{gp_permission} FROM {gp_table} gp "
        f"JOIN {groups_table} ug ON ug.{groups_group} = gp.{gp_group} WHERE ug.{groups_user} = %s)"
    )
    return sql, using
