from django.apps import AppConfig
from django.db.models.signals import post_migrate


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
