"""The one access rule and the one JSON-or-HTML rule for every CRM view.

`crm_view(permission)`: log in first (pages redirect to the login page, JSON answers 401), then hold
`permission` (a Django permission given by a role, see `crm.roles`; superusers hold them all), else 403 in
Spanish (the 403 page, or JSON). `wants_json(request)`: the page's scripts ask for JSON with
`Accept: application/json`; a plain form or link gets HTML (a page, or a message and a redirect).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import render

SESSION_EXPIRED = "Tu sesión expiró: vuelve a iniciar sesión."
FORBIDDEN = "Tu usuario no tiene permiso para esto: pide a Administración el rol que corresponde."


def wants_json(request) -> bool:
    """True when the client asked for JSON (`Accept: application/json`); HTML otherwise."""
    return "application/json" in request.headers.get("Accept", "")


def json_error(status: int, message: str, **extra) -> JsonResponse:
    return JsonResponse({"ok": False, "error": message, **extra}, status=status)


def crm_view(permission: str, *, json: bool = False) -> Callable:
    """Decorate a CRM view: it runs only for a logged-in, active user holding `permission`.

    `json=True` marks an endpoint that only speaks JSON (its refusals are JSON even without the Accept
    header); other views refuse in JSON when the request asked for it. The permission is kept on the view
    as `crm_permission`, so a test can check every URL pattern carries one.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            as_json = json or wants_json(request)
            user = request.user
            if not user.is_authenticated:
                if as_json:
                    return json_error(401, SESSION_EXPIRED)
                return redirect_to_login(request.get_full_path())
            if not (user.is_active and user.has_perm(permission)):
                if as_json:
                    return json_error(403, FORBIDDEN)
                raise PermissionDenied(FORBIDDEN)
            return view(request, *args, **kwargs)

        wrapper.crm_permission = permission
        return wrapper

    return decorator


def login_locked_out(request, original_response=None, credentials=None):
    """django-axes' lockout answer (AXES_LOCKOUT_CALLABLE): the Spanish page, 429 and Retry-After."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {"minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT}
    response = render(request, "registration/bloqueado.html", context, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response


def busy_response(request, busy):
    """503 + Retry-After when this process's AI slots are all taken (crm.services.concurrency)."""
    if wants_json(request):
        response = json_error(503, busy.message, reason="busy")
    else:
        response = render(request, "503.html", {"message": busy.message}, status=503)
    response["Retry-After"] = str(busy.retry_after)
    return response
