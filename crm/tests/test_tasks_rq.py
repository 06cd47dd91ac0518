"""Campaigns on the RQ/Redis task backend (TASKS_BACKEND=django_tasks_rq.RQBackend), for several worker machines.

Runs the real commands in subprocesses against Redis at 127.0.0.1:6379 (database 15, emptied first) and a
throw-away SQLite file: start a campaign, let `rqworker --burst` run its task, read the result.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.redis

START = """
from crm.services.campaigns import CampaignOptions, start_campaign
from ventas.models import CategoriaServicio, Cliente, Servicio
tinas = CategoriaServicio.objects.create(nombre="Tinas")
for nombre in ("Tina Calbuco", "Tina Osorno", "Hidromasaje Llaima"):
    Servicio.objects.create(nombre=nombre, categoria=tinas, precio_base=25000)
Cliente.objects.create(nombre="Ana Nueva", email="ana@example.org")
Cliente.objects.create(nombre="Sin Correo")
print(start_campaign(options=CampaignOptions(segment="no_history")).pk)
"""

RESULT = """
from crm.models import Campaign, CampaignRecipient
campaign = Campaign.objects.get()
print(campaign.status, sorted(CampaignRecipient.objects.values_list("status", flat=True)))
"""


def manage(env, *args):
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return (result.stdout.strip().splitlines() or [""])[-1]  # `shell` may print a banner first


def test_campaign_task_runs_on_an_rq_worker(tmp_path):
    import redis

    redis.Redis.from_url("redis://127.0.0.1:6379/15").flushdb()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'rq.sqlite3'}",
        TASKS_BACKEND="django_tasks_rq.RQBackend",
        REDIS_URL="redis://127.0.0.1:6379/15",
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=BASE_DIR, env=env, check=True, timeout=120)
    manage(env, "shell", "-c", START)
    assert manage(env, "shell", "-c", RESULT).startswith("generating")

    manage(env, "rqworker", "default", "--burst", "--job-class", "django_tasks_rq.Job")

    assert manage(env, "shell", "-c", RESULT) == "review ['generated', 'skipped']"
