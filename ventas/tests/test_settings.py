"""Production settings: `check --deploy` is clean, and a missing SECRET_KEY is refused."""

import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 20 + "-production-like-secret-key-with-enough-entropy-1234567890",
    "ALLOWED_HOSTS": "crm.aremko.example",
    "CSRF_TRUSTED_ORIGINS": "https://crm.aremko.example",
    "DATABASE_URL": "sqlite:////tmp/aremko-deploy-check.sqlite3",
    "EMAIL_URL": "smtp+tls://user:password@smtp.example.com:587",
}


def manage(*args, **env):
    environment = {k: v for k, v in os.environ.items() if k not in PRODUCTION and k != "DJANGO_SETTINGS_MODULE"}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=environment, capture_output=True, text=True, timeout=60
    )


def test_check_deploy_is_clean_with_production_variables():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr


def test_secret_key_is_required_when_debug_is_off():
    env = dict(PRODUCTION, SECRET_KEY="")
    result = manage("check", **env)
    assert result.returncode != 0
    assert "falta SECRET_KEY" in result.stderr


def test_gunicorn_uses_threaded_workers():
    config = {}
    exec((BASE_DIR / "aremko" / "gunicorn.conf.py").read_text(), config)  # noqa: S102
    assert config["worker_class"] == "gthread"
    assert config["threads"] > 1
    assert config["timeout"] > 30


def setting(name, **env):
    result = manage("shell", "-c", f"from django.conf import settings; print(repr(settings.{name}))", **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]  # after the shell's "N objects imported" line


def test_gunicorn_listens_on_loopback_by_default():
    config = {}
    exec((BASE_DIR / "aremko" / "gunicorn.conf.py").read_text(), config)  # noqa: S102
    assert config["bind"] == "127.0.0.1:8000"


def test_x_forwarded_proto_is_trusted_only_behind_a_configured_proxy():
    assert setting("SECURE_PROXY_SSL_HEADER", **PRODUCTION) == "None"
    assert (
        setting("SECURE_PROXY_SSL_HEADER", BEHIND_PROXY="true", **PRODUCTION) == "('HTTP_X_FORWARDED_PROTO', 'https')"
    )


def test_without_redis_the_cache_is_the_database_shared_by_every_worker():
    assert "DatabaseCache" in setting("CACHES['shared']['BACKEND']", REDIS_URL="", **PRODUCTION)
    redis = setting("CACHES['shared']['BACKEND']", REDIS_URL="redis://127.0.0.1:6379/0", **PRODUCTION)
    assert "RedisCache" in redis


def test_logins_are_throttled_through_the_database_after_at_most_ten_failures():
    assert setting("AXES_HANDLER", **PRODUCTION) == "'axes.handlers.database.AxesDatabaseHandler'"
    assert int(setting("AXES_FAILURE_LIMIT", **PRODUCTION)) <= 10
