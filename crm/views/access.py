"""Access rule for every CRM page: log in first, then be staff."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied


def staff_required(view):
    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("Solo el personal de Aremko puede ver el CRM.")
        return view(request, *args, **kwargs)

    return wrapper
