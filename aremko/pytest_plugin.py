"""Project-wide pytest setup, loaded with `-p aremko.pytest_plugin` from pytest.ini.

Tests load settings in development mode (a throw-away SECRET_KEY, no HTTPS redirect); pytest-django then
runs them with DEBUG off. Services that only exist on some machines (PostgreSQL, Redis) are skipped with a
clear message outside CI and are mandatory under CI=true.
"""

import os
import socket

import pytest

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECRET_KEY", "tests-only-insecure-secret-key")
os.environ.setdefault("TASKS_BACKEND", "django_tasks.backends.immediate.ImmediateBackend")
# Campaign tests count who is contacted; the control group has its own tests (crm/tests/test_campaign_holdout.py).
os.environ.setdefault("CAMPAIGN_HOLDOUT_SHARE", "0")

# Password of the `staff_user` fixture (a throw-away test credential).
STAFF_PASSWORD = "clave-segura-123"  # noqa: S105

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _skip_or_fail(message: str):
    if IN_CI:
        pytest.fail(f"{message} (CI=true: this test must run)")
    pytest.skip(message)


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres"):
        from django.db import connection

        if connection.vendor != "postgresql":
            pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/aremko_test")
    if item.get_closest_marker("redis"):
        try:
            socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        except OSError:
            _skip_or_fail("Redis is not reachable at 127.0.0.1:6379")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 costs about a second per user on a busy machine; tests do not need it to be slow."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_local_cache():
    """Each test starts with an empty in-process cache: ids and timestamps repeat across rolled-back tests, so a
    page cached under a version token (the dashboard) must not leak into the next test."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    cache = caches["default"]
    if isinstance(cache, LocMemCache):
        cache.clear()


def make_role_user(username: str, role: str | None, **fields):
    """A staff user in `role` (a group made by crm.roles; None: staff in no role, who sees no CRM page)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from crm.roles import sync_roles

    user = get_user_model().objects.create_user(username=username, password=STAFF_PASSWORD, is_staff=True, **fields)
    if role:
        if not Group.objects.filter(name=role).exists():
            sync_roles()  # a flushed database (transactional tests) before post_migrate ran again
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def staff_user(django_user_model):
    """The everyday staff member of the tests: role Administración (every CRM page and action)."""
    from crm.roles import ADMINISTRACION

    return make_role_user("staff", ADMINISTRACION)


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def recepcion_user(django_user_model):
    from crm.roles import RECEPCION

    return make_role_user("recepcion", RECEPCION)


@pytest.fixture
def marketing_user(django_user_model):
    from crm.roles import MARKETING

    return make_role_user("marketing", MARKETING)


@pytest.fixture
def administracion_user(django_user_model):
    from crm.roles import ADMINISTRACION

    return make_role_user("administracion", ADMINISTRACION)


@pytest.fixture
def roleless_staff_user(django_user_model):
    return make_role_user("sinrol", None)


@pytest.fixture
def skip_or_fail():
    """Skip (or, under CI, fail) a test whose external dependency is missing."""
    return _skip_or_fail


@pytest.fixture(autouse=True)
def _empty_unmanaged_history_after_transactional_tests(request):
    """Django's flush skips unmanaged tables and the database cache table, so transactional tests would leak
    history rows and cached values (rate-limit counters, statistics) to the next test."""
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
    )
    if not transactional:
        yield
        return
    request.getfixturevalue("transactional_db")
    yield
    from django.core.cache import cache
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM crm_service_history")
    cache.clear()
