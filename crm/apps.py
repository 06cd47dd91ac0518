from django.apps import AppConfig


class CrmConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "crm"
    verbose_name = "CRM"

    def ready(self):
        from crm.tasks import retrain_after_import  # app registry is ready only here
        from ventas.signals import history_imported

        history_imported.connect(retrain_after_import, dispatch_uid="crm.retrain_after_import")
