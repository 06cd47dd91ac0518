"""Who opened which customer's data: one INSERT per view call, purged after ACCESS_LOG_RETENTION_DAYS."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.utils import timezone

from crm.models import AccessLog

Action = AccessLog.Action


def log_access(request, cliente_id: int, action: str) -> None:
    """Record that `request.user` opened `cliente_id`'s `action` (an AccessLog.Action): exactly one INSERT."""
    user = getattr(request, "user", None)
    AccessLog.objects.create(
        user_id=user.pk if getattr(user, "is_authenticated", False) else None, cliente_id=cliente_id, action=action
    )


def log_access_many(request, cliente_ids, action: str) -> None:
    """Record that `request.user` saw each of `cliente_ids` on one page (a list with their contact): one INSERT."""
    user = getattr(request, "user", None)
    user_id = user.pk if getattr(user, "is_authenticated", False) else None
    AccessLog.objects.bulk_create(
        AccessLog(user_id=user_id, cliente_id=cliente_id, action=action) for cliente_id in sorted(set(cliente_ids))
    )


def purge_access_log(*, now: datetime.datetime | None = None, days: int | None = None) -> int:
    """Delete entries older than `days` (default ACCESS_LOG_RETENTION_DAYS; <= 0 keeps everything).

    One DELETE on the indexed `created_at`; returns how many rows went.
    """
    days = settings.ACCESS_LOG_RETENTION_DAYS if days is None else days
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    deleted, _ = AccessLog.objects.filter(created_at__lt=cutoff).delete()
    return deleted
