"""Configuration mistakes a newcomer makes end in one Spanish line that says what to do, not a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
CLEARED = {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "RUN_MAIN"}


def manage(*args, timeout=60, **env):
    environment = {k: v for k, v in os.environ.items() if k not in CLEARED}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_spanish_line(result) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("command", [("runserver", "127.0.0.1:0", "--noreload"), ("check",), ("migrate",)])
def test_without_debug_and_secret_key_says_what_to_do(command):
    line = one_spanish_line(manage(*command, DEBUG="false", SECRET_KEY=""))

    assert line.startswith("Error: falta SECRET_KEY")
    assert "usa DEBUG=true para desarrollo, o define SECRET_KEY" in line


def test_runserver_without_debug_and_allowed_hosts_says_what_to_do(tmp_path):
    line = one_spanish_line(
        manage(
            "runserver",
            "127.0.0.1:0",
            "--noreload",
            DEBUG="false",
            SECRET_KEY="x" * 60,
            DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        )
    )

    assert line.startswith("Error: falta ALLOWED_HOSTS")
    assert "usa DEBUG=true para desarrollo" in line


def test_unreachable_database_is_one_line_without_the_password():
    line = one_spanish_line(manage("migrate", DEBUG="true", DATABASE_URL="postgres://u:s3creto@127.0.0.1:1/aremko"))

    assert line.startswith("Error: no se pudo conectar a la base de datos (postgresql en 127.0.0.1:1/aremko)")
    assert "Revisa DATABASE_URL" in line
    assert "s3creto" not in line


def test_unknown_database_scheme_is_one_line():
    line = one_spanish_line(manage("check", DEBUG="true", DATABASE_URL="postgress://u@127.0.0.1/aremko"))

    assert "DATABASE_URL no es válida (esquema «postgress» desconocido)" in line


def test_sqlite_in_a_missing_directory_is_one_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'no-existe' / 'db.sqlite3'}"

    line = one_spanish_line(manage("migrate", DEBUG="true", DATABASE_URL=url))

    assert line.startswith("Error: no se pudo conectar a la base de datos (sqlite3 en ")
