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

from django.apps import apps as global_apps
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Q

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

    Every CRM request checks one permission, so this is one query per page (cached on the user object for the
    rest of the request, as Django does).
    """

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            Permission = global_apps.get_model("auth", "Permission")
            rows = Permission.objects.all()
            if not user_obj.is_superuser:
                rows = rows.filter(Q(user=user_obj) | Q(group__user=user_obj))
            user_obj._perm_cache = {
                f"{app_label}.{codename}"
                for app_label, codename in rows.values_list("content_type__app_label", "codename").distinct()
            }
        return user_obj._perm_cache
