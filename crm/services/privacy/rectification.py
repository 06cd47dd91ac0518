"""Rectification (Ley 21.719 art. 4) happens through the normal edit of a customer in the admin; this logs it.

Django's admin writes a LogEntry for every change it saves; a change of a Cliente becomes a `rectificación`
DataRequest naming the fields corrected (never their values). Connected in `crm.apps.CrmConfig.ready`.
"""

from __future__ import annotations

import json

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models.signals import post_save
from django.dispatch import receiver

from crm.models import DataRequest
from crm.services.privacy.requests import record_request
from ventas.models import Cliente


def changed_fields(entry: LogEntry) -> list[str]:
    """Verbose names of the fields an admin change touched, from the entry's JSON change message."""
    try:
        messages = json.loads(entry.change_message or "[]")
    except ValueError:
        return []
    return [name for item in messages if "changed" in item for name in item["changed"].get("fields", [])]


@receiver(post_save, sender=LogEntry, dispatch_uid="privacy_rectification")
def log_rectification(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    if not created or instance.action_flag != CHANGE:
        return
    if instance.content_type_id != ContentType.objects.get_for_model(Cliente).pk:
        return
    fields = changed_fields(instance)
    if not fields:
        return
    record_request(
        cliente_id=int(instance.object_id),
        kind=DataRequest.Kind.RECTIFICATION,
        user=instance.user,
        outcome="Datos corregidos desde el admin: " + ", ".join(fields) + ".",
    )
