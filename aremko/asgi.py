"""ASGI entry point (not used in production: the app is served by gunicorn's threaded WSGI workers)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aremko.settings")

application = get_asgi_application()
