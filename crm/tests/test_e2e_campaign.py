"""End to end: a Marketing user runs a campaign in a real browser while a real worker generates and sends it.

Everything runs as it does in production, each piece in its own process, sharing one database: gunicorn serves
the pages, `manage.py db_worker` runs the campaign task from the database queue, an SMTP server on loopback
(aiosmtpd, in this process) receives the emails, and Debian's chromium clicks. The database is a throw-away
SQLite file (WAL, as in development) or, when the suite runs on PostgreSQL, the test database itself (this test
is transactional: what the processes write is committed, and flushed afterwards).

Test data is created and read through `manage.py shell` running `seed()` / `state()` below, so the test does the
same thing on both databases. Screenshots of every step go to test-artifacts/campaign/ (kept by CI).
"""

import asyncio
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.db import connection

from aremko.pytest_plugin import STAFF_PASSWORD
from crm.tests.mailtools import RecordingHandler, free_port
from crm.tests.test_e2e_browser import ARTIFACTS, browser_page  # noqa: F401 (the shared chromium fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(__file__).resolve().parents[2]
SHOTS = ARTIFACTS / "campaign"
LIMIT = 5
# At-risk customers, highest spend first. The last one unsubscribed: in the segment, never emailed.
AT_RISK = ["Amparo", "Bruno", "Catalina", "Damián", "Elena", "Fabián", "Gloria"]
OPTED_OUT = "Gloria"
DROPPED = "Catalina"
UNSUBSCRIBE_MARKER = "[[BAJA_URL]]"


def email_of(first_name: str) -> str:
    return f"{first_name.lower().replace('á', 'a')}.prueba@example.org"


# --- Run inside the app's processes (manage.py shell) -----------------------------------------------------


def seed() -> None:
    """Catalogue, a community whose visits teach the local engine what goes with a tub, seven at-risk
    customers (last visit 400 days ago) and a Marketing user."""
    from django.utils import timezone

    from aremko.pytest_plugin import make_role_user
    from crm.roles import MARKETING
    from crm.services import summaries
    from ventas.models import CategoriaServicio, Cliente, ServiceHistory, Servicio

    today = timezone.localdate()
    tinas = CategoriaServicio.objects.create(nombre="Tinas")
    masajes = CategoriaServicio.objects.create(nombre="Masajes")
    Servicio.objects.bulk_create(
        [
            Servicio(nombre="Tina Calbuco", categoria=tinas, tipo_servicio="tina", precio_base=25_000),
            Servicio(nombre="Tina Osorno", categoria=tinas, tipo_servicio="tina", precio_base=27_000),
            Servicio(nombre="Masaje Relajación", categoria=masajes, tipo_servicio="masaje", precio_base=40_000),
        ]
    )
    rows = []

    def visit(cliente, day, name, price):
        rows.append(
            ServiceHistory(
                cliente=cliente,
                service_date=day,
                service_type="Masajes" if name.startswith("Masaje") else "Tinas",
                service_name=name,
                price_paid=Decimal(price),
                year=day.year,
            )
        )

    for index in range(12):
        other = Cliente.objects.create(nombre=f"Vecino{index} Prueba", email=f"vecino{index}@example.org")
        day = today - datetime.timedelta(days=20 + index * 5)
        visit(other, day, "Tina Calbuco", 25_000)
        visit(other, day, "Masaje Relajación" if index % 4 else "Tina Osorno", 40_000)
    now = timezone.now()
    last = today - datetime.timedelta(days=400)
    for rank, first_name in enumerate(AT_RISK):
        cliente = Cliente.objects.create(
            nombre=f"{first_name} Prueba",
            email=email_of(first_name),
            acepta_marketing=first_name != OPTED_OUT,
            fecha_baja=now if first_name == OPTED_OUT else None,
        )
        for k in range(5):
            visit(cliente, last - datetime.timedelta(days=30 * k), "Tina Calbuco", 30_000 - rank * 1_000)
    ServiceHistory.objects.bulk_create(rows)
    summaries.rebuild()  # bulk_create bypasses the write hooks; campaign audiences read the summary tables
    make_role_user("marketing", MARKETING)


def state() -> dict:
    """The campaigns, their recipients by email and the proposals' states, as the database has them."""
    from django_tasks_db.models import DBTaskResult

    from crm.models import Campaign, CampaignRecipient

    return {
        "campaigns": list(Campaign.objects.values_list("status", flat=True)),
        "tasks": sorted(DBTaskResult.objects.values_list("status", flat=True)),
        "recipients": {
            email: [status, proposal_status]
            for email, status, proposal_status in CampaignRecipient.objects.values_list(
                "cliente__email", "status", "proposal__status"
            )
        },
    }


# --- The processes ---------------------------------------------------------------------------------------


def manage(env: dict, *args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def call(env: dict, function: str):
    """Run `function()` of this module in the app's environment and return its JSON result."""
    code = f"import json; from crm.tests.test_e2e_campaign import {function}; print(json.dumps({function}()))"
    return json.loads(manage(env, "shell", "-c", code).strip().splitlines()[-1])


def start(env: dict, args: list[str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        # Its own process group, so the teardown reaches gunicorn's workers too.
        return subprocess.Popen(
            args, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen) -> None:
    """Kill the process and its children at once: a graceful gunicorn would wait for the browser's keep-alive
    connections, and nothing of these throw-away servers needs to be saved."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_until_serving(url: str, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert server.poll() is None, f"gunicorn stopped:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback URL built above)
                return
        except OSError:
            assert time.monotonic() < deadline, f"gunicorn did not answer in {timeout} s:\n{log.read_text()}"
            time.sleep(0.2)


class HoldingHandler(RecordingHandler):
    """Records every message; once `hold_after` messages were accepted, leaves the next DATA command unanswered
    (`holding` is set) until `release` is set, then accepts it."""

    def __init__(self):
        super().__init__()
        self.hold_after: int | None = None
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        if self.hold_after is not None and len(self.envelopes) >= self.hold_after and not self.release.is_set():
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


class Stack:
    def __init__(self, url: str, env: dict, smtp: RecordingHandler, logs: list[Path]):
        self.url, self.env, self.smtp, self.logs = url, env, smtp, logs

    def state(self) -> dict:
        return call(self.env, "state")

    def logs_text(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-4000:]}" for log in self.logs if log.exists())


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A migrated SQLite file, made once per run; each test works on its own copy."""
    path = tmp_path_factory.mktemp("e2e_campaign") / "migrated.sqlite3"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    manage({**env, "DEBUG": "true", "DATABASE_URL": f"sqlite:///{path}"}, "migrate", "-v0", timeout=180)
    return path


@pytest.fixture
def stack(transactional_db, request, tmp_path):
    """The SMTP server, the seeded database, gunicorn and a `db_worker`, all started; stopped afterwards."""
    # Not the test process's own switches (settings module; async-unsafe, which Playwright's loop needs here).
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    smtp = HoldingHandler()
    smtp_port = free_port()
    env.update(
        DEBUG="true",  # no HTTPS redirect; static files served from the source tree
        TASKS_BACKEND="django_tasks_db.DatabaseBackend",
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
        EMAIL_TIMEOUT="10",
        EMAIL_MAX_PER_MINUTE="0",
        DEFAULT_FROM_EMAIL="Aremko Spa <reservas@example.com>",
        REPLY_TO="",
        SITE_URL="https://crm.example.com",
        PROPOSAL_BACKEND="local",
        CAMPAIGN_HOLDOUT_SHARE="0",
        CAMPAIGN_APPROVAL_THRESHOLD="50",
    )
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
        env["DATABASE_URL"] = f"postgres://{db['USER']}{password}@{host}:{port}/{db['NAME']}"
    else:
        database = tmp_path / "e2e.sqlite3"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), database)
        env["DATABASE_URL"] = f"sqlite:///{database}"
    controller = Controller(smtp, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    processes = []
    logs = [tmp_path / "gunicorn.log", tmp_path / "worker.log"]
    try:
        web_port = free_port()
        server = start(
            env,
            [
                *(sys.executable, "-m", "gunicorn", "-c", str(BASE_DIR / "aremko" / "gunicorn.conf.py")),
                *("--bind", f"127.0.0.1:{web_port}", "--workers", "1", "--threads", "4", "aremko.wsgi"),
            ],
            logs[0],
        )
        processes.append(server)
        worker = start(
            env,
            [sys.executable, "manage.py", "db_worker", "--no-reload", "--interval", "0.2", "--no-startup-delay"],
            logs[1],
        )
        processes.append(worker)
        call(env, "seed")  # while gunicorn and the worker start
        url = f"http://127.0.0.1:{web_port}"
        wait_until_serving(f"{url}/accounts/login/", server, logs[0])
        yield Stack(url, env, smtp, logs)
        assert worker.poll() is None, f"the worker stopped:\n{logs[1].read_text()}"
    finally:
        for process in processes:
            stop(process)
        smtp.release.set()
        controller.stop()


class Shots:
    """Numbered full-page screenshots: test-artifacts/campaign/01-campanas.png, 02-..."""

    def __init__(self, page, prefix: str = ""):
        self.page, self.prefix, self.n = page, prefix, 0
        SHOTS.mkdir(parents=True, exist_ok=True)

    def __call__(self, step: str) -> None:
        self.n += 1
        self.page.screenshot(path=str(SHOTS / f"{self.prefix}{self.n:02d}-{step}.png"), full_page=True)


def log_in(page, url: str) -> list[str]:
    """Log in as the Marketing user; returns the list that collects CSP errors from the console."""
    csp_errors = []
    page.on("console", lambda message: "Content Security Policy" in message.text and csp_errors.append(message.text))
    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", "marketing")
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/ventas/crm/")
    return csp_errors


def choose_audience(page, *, limit: int | None, mode: str) -> None:
    page.get_by_role("link", name="Campañas").first.click()
    page.wait_for_url(re.compile(r".*/ventas/crm/campanas/$"))
    page.select_option("#id_segmento", "at_risk")
    page.fill("#id_limite", str(limit) if limit else "")
    page.select_option("#id_modo", mode)
    page.get_by_role("button", name="Ver cuántos clientes").click()
    page.locator(".preview").wait_for()


def test_marketing_reviews_drops_one_proposal_approves_and_the_worker_sends_the_rest(browser_page, stack):  # noqa: F811
    from playwright.sync_api import expect

    page, url = browser_page, stack.url
    shot = Shots(page)
    csp_errors = log_in(page, url)

    # Start: 7 customers in the segment, the 5 who spent most, review before sending.
    choose_audience(page, limit=LIMIT, mode="generate")
    preview = page.locator(".preview")
    assert "7 clientes en el segmento; se contactará a 5 (límite)." in preview.inner_text()
    shot("vista-previa")
    page.get_by_role("button", name="Generar propuestas para revisar (5 clientes)").click()
    page.wait_for_url(re.compile(r".*/ventas/crm/campanas/\d+/$"))
    shot("generando")
    assert page.get_by_role("button", name="Reanudar campaña").count() == 0  # just started: nothing to resume

    # The worker generates the proposals; the page follows it on its own and stops in review.
    status = page.locator('[data-field="status_label"]')
    expect(status).to_have_text("En revisión", timeout=60_000)
    approve = page.get_by_role("button", name=re.compile(r"^Aprobar envío"))
    expect(approve).to_have_text("Aprobar envío (5 clientes)…")
    assert stack.smtp.envelopes == []
    shot("en-revision")

    # Open one proposal: a real recommendation, a neutralised unsubscribe link, then drop it.
    page.locator("tr", has_text=f"{DROPPED} Prueba").get_by_role("link").last.click()
    page.wait_for_url(re.compile(r".*/propuesta/\d+/$"))
    expect(page.locator("h1")).to_have_text(f"Propuesta para {DROPPED} Prueba")
    assert UNSUBSCRIBE_MARKER not in page.content()
    assert f"Hola {DROPPED}" in page.locator(".email-preview").inner_text()
    assert "$" in page.locator(".email-preview").inner_text()
    shot("propuesta")
    page.get_by_role("button", name="Descartar esta propuesta").click()
    page.wait_for_url(re.compile(r".*/ventas/crm/campanas/\d+/$"))
    expect(approve).to_have_text("Aprobar envío (4 clientes)…")
    expect(page.locator("tr", has_text=f"{DROPPED} Prueba")).to_contain_text("Descartado")
    shot("descartada")

    # Approve: the confirmation names exactly the 4 customers who will receive an email.
    approve.click()
    expect(page.locator("h2#confirmar")).to_have_text("Se enviará un email a 4 clientes")
    assert stack.smtp.envelopes == []
    shot("confirmar-envio")
    page.get_by_role("button", name="Sí, enviar email a 4 clientes").click()
    page.wait_for_url(re.compile(r".*/ventas/crm/campanas/\d+/$"))
    expect(status).to_have_text("Terminada", timeout=60_000)
    expect(page.locator('[data-field="sent"]')).to_have_text("4")
    expect(page.locator(".page-head")).to_contain_text(re.compile(r"envío aprobado el [\d-]+ [\d:]+ por marketing"))
    shot("terminada")
    assert csp_errors == []

    sent_to = sorted(envelope.rcpt_tos[0] for envelope in stack.smtp.envelopes)
    expected = sorted(email_of(name) for name in AT_RISK[:LIMIT] if name != DROPPED)
    assert sent_to == expected, stack.logs_text()
    for message in stack.smtp.messages:
        text = message.get_body(preferencelist=("plain",)).get_content()
        assert UNSUBSCRIBE_MARKER not in text
        assert "https://crm.example.com/" in text  # the real unsubscribe link
    db = stack.state()
    assert db["campaigns"] == ["done"]
    assert db["recipients"][email_of(DROPPED)] == ["dropped", "discarded"]
    assert sorted(db["recipients"]) == sorted(email_of(name) for name in AT_RISK[:LIMIT])
    assert [db["recipients"][email] for email in expected] == [["sent", "sent"]] * 4


def test_send_mode_confirmation_names_the_count_and_going_back_sends_nothing(browser_page, stack):  # noqa: F811
    from playwright.sync_api import expect

    page, url = browser_page, stack.url
    shot = Shots(page, prefix="enviar-")
    csp_errors = log_in(page, url)

    choose_audience(page, limit=None, mode="send")
    assert "7 clientes en el segmento con estos filtros." in page.locator(".preview").inner_text()
    shot("vista-previa")
    page.get_by_role("button", name="Continuar: confirmar el envío a 6 clientes").click()
    # Nothing starts before the confirmation; it names the 6 who would receive an email (one unsubscribed).
    expect(page.locator("h2#confirmar")).to_have_text("Se enviará un email a 6 clientes")
    expect(page.get_by_role("button", name="Sí, enviar email a 6 clientes")).to_be_visible()
    shot("confirmar")
    page.get_by_role("link", name="Volver sin enviar").click()
    page.wait_for_url(re.compile(r".*/ventas/crm/campanas/\?segmento=at_risk&modo=send$"))
    # Back at the same preview, the choices kept, and no campaign.
    expect(page.locator("#id_modo")).to_have_value("send")
    expect(page.get_by_role("button", name="Continuar: confirmar el envío a 6 clientes")).to_be_visible()
    expect(page.get_by_text("Todavía no hay campañas.")).to_be_visible()
    shot("vuelta-sin-enviar")
    assert csp_errors == []

    assert stack.state() == {"campaigns": [], "tasks": [], "recipients": {}}  # nothing created, nothing enqueued
    assert stack.smtp.envelopes == []


def test_cancel_stops_a_sending_campaign_after_the_email_in_hand(browser_page, stack):  # noqa: F811
    from playwright.sync_api import expect

    page, url = browser_page, stack.url
    stack.smtp.hold_after = 1  # the 2nd email stays in the SMTP server's hands until the test releases it
    shot = Shots(page, prefix="cancelar-")
    csp_errors = log_in(page, url)

    choose_audience(page, limit=None, mode="send")
    page.get_by_role("button", name="Continuar: confirmar el envío a 6 clientes").click()
    page.get_by_role("button", name="Sí, enviar email a 6 clientes").click()
    page.wait_for_url(re.compile(r".*/ventas/crm/campanas/\d+/$"))
    # The server-rendered page of the sending phase (the script reloads the page when the phase changes).
    page.locator('[data-progress-url][data-status="sending"]').wait_for(timeout=60_000)
    assert stack.smtp.holding.wait(timeout=60), stack.logs_text()
    shot("enviando")

    page.get_by_role("button", name="Cancelar campaña").click()
    expect(page.locator('[data-field="status_label"]')).to_have_text("Cancelada")
    stack.smtp.release.set()  # the email in hand goes out; the worker stops before the next one
    deadline = time.monotonic() + 60
    while len(stack.smtp.envelopes) < 2:
        assert time.monotonic() < deadline, f"the email in hand never arrived\n{stack.logs_text()}"
        time.sleep(0.05)
    while (db := stack.state())["tasks"] != ["SUCCESSFUL"]:  # the worker recorded that email and stopped
        assert time.monotonic() < deadline, f"the worker did not stop: {db}\n{stack.logs_text()}"
        time.sleep(0.2)
    page.reload()
    expect(page.locator('[data-field="sent"]')).to_have_text("2")
    expect(page.get_by_role("button", name="Reanudar campaña")).to_be_visible()
    shot("cancelada")
    assert csp_errors == []

    assert db["campaigns"] == ["cancelled"]
    statuses = sorted(status for status, _ in db["recipients"].values())
    assert statuses == ["generated"] * 4 + ["sent"] * 2 + ["skipped"]  # skipped: the unsubscribed customer
    assert len(stack.smtp.envelopes) == 2
    assert sorted(e.rcpt_tos[0] for e in stack.smtp.envelopes) == sorted(
        email for email, (status, _) in db["recipients"].items() if status == "sent"
    )
