"""A campaign worker killed with SIGKILL in the middle of a send, then recovery: the real `db_worker` command in
subprocesses, a real SMTP server on loopback, and a database the subprocesses share (a throw-away SQLite file,
or the PostgreSQL test database when the suite runs on PostgreSQL).

The SMTP server accepts 3 messages and holds the 4th DATA command unanswered: the worker is killed while the
outcome of that send is unknown. After the lease expires, the recovery re-enqueues the campaign, a new worker
finishes it, the cut-off send is "interrumpido" for staff to decide, and sending it again reaches the last
customer: every customer gets exactly one email.
"""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.db import connection

from crm.tests.mailtools import RecordingHandler, free_port

BASE_DIR = Path(__file__).resolve().parents[2]
CUSTOMERS = 8
ACCEPT_BEFORE_HANG = 3
LEASE_SECONDS = 3

START = f"""
from crm.services.campaigns import CampaignOptions, start_campaign
from ventas.models import CategoriaServicio, Cliente, Servicio
tinas = CategoriaServicio.objects.create(nombre="Tinas")
for nombre in ("Tina Calbuco", "Tina Osorno", "Hidromasaje Llaima"):
    Servicio.objects.create(nombre=nombre, categoria=tinas, precio_base=25000)
for i in range({CUSTOMERS}):
    Cliente.objects.create(nombre=f"Cliente Prueba {{i}}", email=f"prueba{{i}}@example.org")
print(start_campaign(options=CampaignOptions(segment="no_history", mode="send")).pk)
"""

STATE = """
from django_tasks_db.models import DBTaskResult
from crm.models import Campaign, CampaignRecipient, Proposal
campaign = Campaign.objects.get()
rows = sorted(CampaignRecipient.objects.values_list("status", flat=True))
proposals = sorted(Proposal.objects.values_list("status", flat=True))
tasks = sorted(DBTaskResult.objects.values_list("status", flat=True))
print(campaign.status, ",".join(rows), ",".join(proposals), ",".join(tasks))
"""

RECOVER = "from crm.services.campaigns import recover_campaigns; print(recover_campaigns())"

SEND_AGAIN = """
from crm.models import CampaignRecipient
from crm.services.campaigns import decide_interrupted
row = CampaignRecipient.objects.get(status="interrupted")
decide_interrupted(campaign_id=row.campaign_id, recipient_id=row.pk, sent=False)
print(row.cliente.email)
"""


class HangingHandler(RecordingHandler):
    """Accepts `accept` messages, then leaves every later DATA command unanswered until `release` is set."""

    def __init__(self, accept: int):
        super().__init__()
        self.accept = accept
        self.release = threading.Event()
        self.hanging = 0

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            hang = len(self.envelopes) >= self.accept and not self.release.is_set()
            if hang:
                self.hanging += 1
        if hang:
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 Try again later"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def worker_env(tmp_path):
    """Environment for `manage.py` subprocesses sharing one database with this test."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DEBUG="true",
        TASKS_BACKEND="django_tasks_db.DatabaseBackend",
        EMAIL_TIMEOUT="30",
        EMAIL_MAX_PER_MINUTE="0",
        SEND_LEASE_SECONDS=str(LEASE_SECONDS),
        SITE_URL="https://crm.example.com",
        PROPOSAL_BACKEND="local",
    )
    if connection.vendor == "postgresql":
        # The test's own (transactional: committed, flushed afterwards) PostgreSQL test database.
        db = connection.settings_dict
        env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'worker.sqlite3'}"
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=BASE_DIR, env=env, check=True, timeout=180)
    return env


def manage(env, *args) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return (result.stdout.strip().splitlines() or [""])[-1]


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_campaign_finishes_after_its_worker_is_killed_mid_send_with_no_duplicate_and_no_one_blocked(
    worker_env, tmp_path
):
    handler = HangingHandler(accept=ACCEPT_BEFORE_HANG)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    worker_env["EMAIL_URL"] = f"smtp://127.0.0.1:{port}"
    log = (tmp_path / "worker.log").open("w")
    worker = None
    try:
        manage(worker_env, "shell", "-c", START)
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--no-reload", "--interval", "0.2", "--no-startup-delay"],
            cwd=BASE_DIR,
            env=worker_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the kill below reaches anything it started
        )
        wait_for(lambda: handler.hanging > 0 or worker.poll() is not None, 120, "the 4th send to start")
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        assert len(handler.envelopes) == ACCEPT_BEFORE_HANG

        killed = manage(worker_env, "shell", "-c", STATE)
        assert killed.startswith("sending ")
        assert killed.split()[1].split(",").count("sending") == 1  # the send cut off with unknown outcome
        assert killed.split()[3] == "RUNNING"  # what the task backend believes, forever

        time.sleep(LEASE_SECONDS + 0.5)  # the dead worker's lease runs out
        handler.release.set()
        assert manage(worker_env, "shell", "-c", RECOVER) != "[]"
        manage(worker_env, "db_worker", "--no-reload", "--batch", "--interval", "0.2", "--no-startup-delay")

        campaign_status, rows, proposals, tasks = manage(worker_env, "shell", "-c", STATE).split()
        assert campaign_status == "done"
        assert tasks == "FAILED,SUCCESSFUL"  # the killed worker's task no longer claims to be RUNNING
        assert rows.split(",").count("sent") == CUSTOMERS - 1
        assert rows.split(",").count("interrupted") == 1  # not retried on its own: the email may have left
        assert proposals.split(",").count("interrupted") == 1
        assert len(handler.envelopes) == CUSTOMERS - 1

        # Staff decide from the campaign page: send it again. Nobody stays blocked.
        again_to = manage(worker_env, "shell", "-c", SEND_AGAIN)
        manage(worker_env, "db_worker", "--no-reload", "--batch", "--interval", "0.2", "--no-startup-delay")

        campaign_status, rows, proposals, tasks = manage(worker_env, "shell", "-c", STATE).split()
        assert campaign_status == "done"
        assert rows == ",".join(["sent"] * CUSTOMERS)
        assert tasks == "FAILED,SUCCESSFUL,SUCCESSFUL"
        assert proposals == ",".join(["sent"] * CUSTOMERS)
        recipients = [envelope.rcpt_tos[0] for envelope in handler.envelopes]
        assert len(recipients) == CUSTOMERS
        assert len(set(recipients)) == CUSTOMERS  # 0 duplicates
        assert recipients[-1] == again_to
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        log.close()
        handler.release.set()
        controller.stop()
