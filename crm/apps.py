from axes import apps as axes_apps
from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django_tasks_db import apps as tasks_db_apps


class CrmConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "crm"
    verbose_name = "CRM"

    def ready(self):
        from crm.roles import sync_roles_after_migrate
        from crm.services import summaries
        from crm.services.privacy import rectification  # noqa: F401 (connects the admin-edit receiver)
        from ventas.signals import history_imported

        # Every migrate brings the role groups up to date (permissions of models added later included).
        post_migrate.connect(sync_roles_after_migrate, sender=self, dispatch_uid="crm_sync_roles")
        summaries.connect_signals()
        # Not crm.tasks itself: it imports the numeric libraries, which every command would then load.
        history_imported.connect(_retrain_after_import, dispatch_uid="crm.retrain_after_import")


def _retrain_after_import(sender=None, **kwargs) -> None:
    from crm.tasks import retrain_after_import

    retrain_after_import(sender=sender, **kwargs)


class TasksDbConfig(tasks_db_apps.TasksAppConfig):
    """django_tasks_db as it appears in the admin: a Spanish name (the package's is "Tasks Database Backend");
    its model and field names come from locale/es (the package ships no Spanish)."""

    default = False  # not a candidate config for the crm app itself
    verbose_name = "Tareas en segundo plano"


class AxesConfig(axes_apps.AppConfig):
    """django-axes (login throttling) under a Spanish heading in the admin; it still does its own setup."""

    default = False
    verbose_name = "Protección del acceso"
