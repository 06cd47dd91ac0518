from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CrmConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "crm"
    verbose_name = "CRM"

    def ready(self):
        from crm.roles import sync_roles_after_migrate
        from crm.services.privacy import rectification  # noqa: F401 (connects the admin-edit receiver)

        # Every migrate brings the role groups up to date (permissions of models added later included).
        post_migrate.connect(sync_roles_after_migrate, sender=self, dispatch_uid="crm_sync_roles")
