#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

Configuration mistakes a newcomer makes (no DEBUG and no SECRET_KEY, a wrong DATABASE_URL, no ALLOWED_HOSTS
for runserver) end in one Spanish line that says what to do, not in a traceback.
"""

import os
import sys

# Commands that never touch the database: no connection check before them.
NO_DATABASE = {"", "help", "version", "--help", "-h", "--version", "check", "collectstatic", "makemigrations"}


def fail(message: str) -> None:
    sys.stderr.write(f"Error: {message}\n")
    sys.exit(1)


def database_problem(exc: Exception) -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    engine = db.get("ENGINE", "").rsplit(".", 1)[-1]
    where = (
        db.get("NAME")
        if engine == "sqlite3"
        else f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or ''}/{db.get('NAME')}"
    )
    detail = " ".join(str(exc).split())[:200].rstrip(" .")
    return (
        f"no se pudo conectar a la base de datos ({engine} en {where}): {detail} · Revisa DATABASE_URL en el entorno "
        "o en .env (por ejemplo postgres://usuario@127.0.0.1:5432/aremko), o déjala vacía para usar SQLite."
    )


def preflight(command: str) -> None:
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        debug = settings.DEBUG  # loads aremko/settings.py, which refuses an unsafe or invalid configuration
    except ImproperlyConfigured as exc:
        fail(str(exc))
    if command == "runserver" and not debug:
        if not settings.ALLOWED_HOSTS:
            fail(
                "falta ALLOWED_HOSTS: usa DEBUG=true para desarrollo, o define ALLOWED_HOSTS (por ejemplo "
                "ALLOWED_HOSTS=crm.aremko.cl) para producción."
            )
        if os.environ.get("RUN_MAIN") != "true":  # once, not again in the autoreloader's child
            sys.stderr.write(
                "Aviso: sin DEBUG, runserver redirige a https y sirve solo los archivos de collectstatic; "
                "para desarrollo usa DEBUG=true.\n"
            )
    if command in NO_DATABASE:
        return
    from django.db import DatabaseError, connections

    try:
        connections["default"].ensure_connection()
    except (DatabaseError, ImproperlyConfigured) as exc:
        fail(database_problem(exc))
    finally:
        connections.close_all()


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aremko.settings")
    from django.core.management import execute_from_command_line

    preflight(sys.argv[1] if len(sys.argv) > 1 else "")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
