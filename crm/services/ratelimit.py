"""Rate limits: the per-user proposal limit, and the login throttle's request details.

The proposal limit is a small fixed window on the "shared" cache, which every worker process sees the same
(Redis with REDIS_URL, else the database cache table). Login throttling is django-axes with its database
handler (settings: AXES_*, LOGIN_FAILURE_LIMIT); this module gives it the client address and a backend that
leaves programmatic logins (no request: management commands, test clients) alone.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.core.cache import caches


@dataclass(frozen=True)
class RateLimit:
    allowed: bool
    retry_after: int  # seconds until the window resets (0 when allowed)


def hit(scope: str, identity: object, *, limit: int, window: int = 60) -> RateLimit:
    """Count one attempt of `identity` in `scope`; refuse once `limit` attempts fall in the same window.

    Each attempt claims the first free numbered slot with `cache.add`, which is atomic on every backend (a
    unique key in the database cache, SET NX in Redis), unlike `incr` on the database cache (read, then
    write): simultaneous requests in several processes can never all take the same slot. Slots are taken in
    order, so the first free one is found by bisection: a few reads, not one `add` per attempt already made.
    """
    cache = caches["shared"]
    now = int(time.time())
    window_start = now - now % window
    key = f"ratelimit:{scope}:{identity}:{window_start}"
    for slot in range(_first_free_slot(cache, key, limit), limit + 1):
        if cache.add(f"{key}:{slot}", 1, timeout=window + 5):
            return RateLimit(allowed=True, retry_after=0)
    return RateLimit(allowed=False, retry_after=window_start + window - now)


def _first_free_slot(cache, key: str, limit: int) -> int:
    """The lowest slot not yet taken in this window (taken slots form a prefix 1..n): log2(limit) reads."""
    low, high = 1, max(limit, 1)
    while low < high:
        middle = (low + high) // 2
        if cache.get(f"{key}:{middle}") is None:
            high = middle
        else:
            low = middle + 1
    return low


def proposal_rate_limit(user) -> RateLimit:
    """At most PROPOSAL_RATE_LIMIT_PER_MINUTE proposals per user and minute (AI calls cost money)."""
    return hit("proposal", user.pk, limit=settings.PROPOSAL_RATE_LIMIT_PER_MINUTE)


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, or with BEHIND_PROXY the address our proxy appended last to
    X-Forwarded-For (earlier entries come from the client and can be forged). None when unknown or invalid
    (a request built in code, a garbled header); axes then counts by username alone."""
    if settings.BEHIND_PROXY:
        forwarded = _valid_ip(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1])
        if forwarded:
            return forwarded
    return _valid_ip(request.META.get("REMOTE_ADDR", ""))


USERNAME_MAX_LENGTH = 150  # Django's username column; axes stores it in a 255-character one


def login_username(request, credentials=None) -> str | None:
    """The username a login attempt is counted under (AXES_USERNAME_CALLABLE), cut to a storable length.

    Django's login form does not enforce the username's maximum length before authenticating, so a
    3,000-character name would reach axes' table (a 500 on PostgreSQL)."""
    username = (credentials or getattr(request, "POST", {})).get("username")
    return None if username is None else str(username)[:USERNAME_MAX_LENGTH]


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' lockout check for logins over HTTP; `authenticate()` without a request is not throttled."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
