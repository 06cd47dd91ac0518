"""A small fixed-window rate limit on Django's cache (shared between workers when the cache is Redis)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True)
class RateLimit:
    allowed: bool
    retry_after: int  # seconds until the window resets (0 when allowed)


def hit(scope: str, identity: object, *, limit: int, window: int = 60) -> RateLimit:
    """Count one attempt of `identity` in `scope`; refuse once `limit` attempts fall in the same window."""
    now = int(time.time())
    window_start = now - now % window
    key = f"ratelimit:{scope}:{identity}:{window_start}"
    cache.add(key, 0, timeout=window + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add() and incr()
        cache.add(key, 1, timeout=window + 5)
        count = 1
    if count > limit:
        return RateLimit(allowed=False, retry_after=window_start + window - now)
    return RateLimit(allowed=True, retry_after=0)


def proposal_rate_limit(user) -> RateLimit:
    """At most PROPOSAL_RATE_LIMIT_PER_MINUTE proposals per user and minute (AI calls cost money)."""
    from django.conf import settings

    return hit("proposal", user.pk, limit=settings.PROPOSAL_RATE_LIMIT_PER_MINUTE)
