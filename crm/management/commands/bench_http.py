"""Load test through gunicorn: concurrent staff on the CRM pages, against the current database.

    python manage.py bench_http [--clients 10] [--requests 200] [--seconds 20]

Starts gunicorn with aremko/gunicorn.conf.py on a free loopback port (same settings and database as this
command), logs in a throw-away staff user, then for each page keeps `--clients` httpx requests in flight (one
asyncio loop) for at most `--requests` requests or `--seconds` seconds, whichever ends first. Pages: dashboard, search
by name, customer profile, service history, segment listing and proposal generation (local engine; the proposals
it creates are deleted after). Prints requests, errors, req/s and p50/p95/p99 per page, and each median
divided by a bare `SELECT count(*) FROM crm_service_history` timed in the same run. Traffic goes only to
127.0.0.1. The staff user, its sessions and proposals are removed, and gunicorn stopped, at the end.

`--driver wrk` (the default when Debian's `wrk` is installed) generates the load with wrk, a C program: on a
small machine the load generator shares the CPU with gunicorn, and a Python client costs the server about as
much CPU as it measures. wrk runs each page for `--seconds` (it has no request budget); non-200 answers, resets
and timeouts count as errors. `--driver httpx` needs nothing installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils.crypto import get_random_string

from crm.models import CustomerSummary, Proposal
from crm.roles import RECEPCION, sync_roles
from ventas.models import ServiceHistory

HOST = "127.0.0.1"
CUSTOMER_POOL = 40  # pages about one customer rotate over this many of the biggest spenders
COUNT_RUNS = 5
PAGE_KEYS = ["dashboard", "buscar", "perfil", "historial", "segmento", "propuesta"]  # in _pages() order


@dataclass
class PageResult:
    label: str
    timings: list[float] = field(default_factory=list)  # ms of successful requests
    errors: int = 0
    seconds: float = 0.0
    first_error: str = ""

    measured: dict[float, float] = field(default_factory=dict)  # percentiles given by wrk, when it drove
    count: int | None = None  # successful requests, when wrk drove (it gives no per-request timings)

    @property
    def successes(self) -> int:
        return len(self.timings) if self.count is None else self.count

    def percentile(self, fraction: float) -> float:
        if fraction in self.measured:
            return self.measured[fraction]
        if not self.timings:
            return float("nan")
        ordered = sorted(self.timings)
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# Headers on every request, paths in turn, non-200 answers counted per thread and summed at the end.
WRK_SCRIPT = """
%(headers)s
wrk.method = %(method)s
local paths = { %(paths)s }
local threads = {}
n, bad = 0, 0  -- globals: done() reads each thread's `bad` with thread:get
function setup(thread) table.insert(threads, thread) end
function request()
  n = n + 1
  return wrk.format(nil, paths[(n %% #paths) + 1])
end
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total_bad = 0
  for _, thread in ipairs(threads) do total_bad = total_bad + thread:get("bad") end
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%f %%f %%f %%f\\n", summary.requests, total_bad,
    e.connect + e.read + e.write + e.timeout, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Command(BaseCommand):
    help = "Prueba de carga con gunicorn en 127.0.0.1: req/s, p50/p95/p99 y errores por página del CRM."

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=10, help="clientes HTTP concurrentes (por defecto 10)")
        parser.add_argument("--requests", type=int, default=200, help="máximo de peticiones por página")
        parser.add_argument("--seconds", type=float, default=20.0, help="máximo de segundos por página")
        parser.add_argument("--workers", type=int, default=None, help="procesos de gunicorn (GUNICORN_WORKERS)")
        parser.add_argument("--timeout", type=float, default=30.0, help="segundos máximos por petición")
        parser.add_argument(
            "--driver",
            choices=["auto", "wrk", "httpx"],
            default="auto",
            help="quién genera la carga: wrk (programa en C, si está instalado) o httpx; auto: wrk si existe",
        )
        parser.add_argument(
            "--pages",
            default=",".join(PAGE_KEYS),
            help=f"páginas a medir, separadas por comas (por defecto todas: {','.join(PAGE_KEYS)})",
        )

    def handle(self, *args, clients, requests, seconds, workers, timeout, pages, driver, **options):
        if clients < 1 or requests < 1 or seconds <= 0 or timeout <= 0:
            raise CommandError("--clients y --requests deben ser al menos 1; --seconds y --timeout, positivos.")
        wrk = shutil.which("wrk")
        if driver == "wrk" and not wrk:
            raise CommandError("wrk no está instalado (apt-get install wrk); usa --driver httpx.")
        use_wrk = driver == "wrk" or (driver == "auto" and wrk is not None)
        wanted = [key.strip() for key in pages.split(",") if key.strip()]
        unknown = set(wanted) - set(PAGE_KEYS)
        if unknown or not wanted:
            raise CommandError(f"Páginas desconocidas: {', '.join(sorted(unknown))}. Usa: {','.join(PAGE_KEYS)}.")
        pool = list(
            CustomerSummary.objects.filter(frequency__gt=0)
            .order_by("-monetary", "cliente_id")
            .values_list("cliente_id", "cliente__nombre")[:CUSTOMER_POOL]
        )
        if not pool:
            raise CommandError(
                "No hay clientes con historial en los resúmenes: carga datos (load_demo_data) y ejecuta "
                "python manage.py refresh_summaries --full."
            )
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
        user = get_user_model().objects.create_user(username=f"bench-http-{uuid.uuid4().hex[:10]}", is_staff=True)
        sync_roles()
        user.groups.add(Group.objects.get(name=RECEPCION))  # a real role: its permission checks are measured too
        port = free_port()
        server, log_path = self._start_gunicorn(port, workers, timeout)
        try:
            base = f"http://{HOST}:{port}"
            cookies = self._login(user)
            self._wait_until_up(base, server, log_path)
            count_ms = self._bare_count_ms()
            pages = [page for key, page in zip(PAGE_KEYS, self._pages(pool), strict=True) if key in wanted]
            budget = (
                f"{seconds:g} s por página (wrk)"
                if use_wrk
                else f"máx. {requests} peticiones o {seconds:g} s por página"
            )
            self.stdout.write(
                f"gunicorn en {base}, base de datos {connection.vendor}, {clients} clientes concurrentes, {budget}"
            )
            self.stdout.write(f"count(*) de crm_service_history: mediana {count_ms:.1f} ms")
            self.stdout.write(
                f"{'Página':<24}{'pet.':>6}{'errores':>9}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
                f"{'p50/count':>11}"
            )
            for label, method, paths in pages:
                drive = self._drive_wrk if use_wrk else self._drive
                result = drive(base, cookies, label, method, paths, clients, requests, seconds, timeout)
                rate = result.successes / result.seconds if result.seconds else 0.0
                p50 = result.percentile(0.5)
                self.stdout.write(
                    f"{label:<24}{result.successes + result.errors:>6}{result.errors:>9}{rate:>8.1f}{p50:>9.1f}"
                    f"{result.percentile(0.95):>9.1f}{result.percentile(0.99):>9.1f}"
                    f"{(p50 / count_ms if count_ms else float('nan')):>10.2f}×"
                )
                if result.first_error:
                    self.stdout.write(f"  primer error: {result.first_error}")
        finally:
            _stop(server)
            Proposal.objects.filter(created_by=user).delete()
            user.delete()  # its sessions expire unused; the rows reference nothing else
            os.unlink(log_path)

    def _start_gunicorn(self, port: int, workers: int | None, timeout: float) -> tuple[subprocess.Popen, str]:
        env = dict(os.environ)
        env.update(
            GUNICORN_BIND=f"{HOST}:{port}",
            # The bench user makes many proposals a minute; the local engine costs nothing, unlike an AI backend.
            PROPOSAL_RATE_LIMIT_PER_MINUTE="1000000",
            PROPOSAL_BACKEND="local",
            # A request the bench gave up on must not keep PostgreSQL busy after it: same limit server-side.
            PGOPTIONS=f"-c statement_timeout={int(timeout * 1000)}",
        )
        if workers:
            env["GUNICORN_WORKERS"] = str(workers)
        log = tempfile.NamedTemporaryFile(prefix="bench_http_gunicorn_", suffix=".log", delete=False)  # noqa: SIM115
        config = settings.BASE_DIR / "aremko" / "gunicorn.conf.py"
        command = [
            sys.executable, "-m", "gunicorn", "-c", str(config), "--bind", f"{HOST}:{port}",
            "--access-logfile", "/dev/null", "aremko.wsgi",
        ]  # fmt: skip
        server = subprocess.Popen(  # noqa: S603 our own interpreter and config
            command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        return server, log.name

    def _wait_until_up(self, base: str, server: subprocess.Popen, log_path: str, limit: float = 60.0) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if server.poll() is not None:
                break
            try:
                httpx.get(base + reverse("login"), timeout=2.0)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        with open(log_path, encoding="utf-8", errors="replace") as log:
            tail = log.read()[-2000:]
        raise CommandError(f"gunicorn no respondió en {limit:g} s:\n{tail}")

    def _login(self, user) -> dict[str, str]:
        """A session for the staff user (as the login page would create it) and a CSRF cookie for the POSTs."""
        client = Client()
        client.force_login(user)
        cookies = {name: morsel.value for name, morsel in client.cookies.items()}
        cookies[settings.CSRF_COOKIE_NAME] = get_random_string(32)
        return cookies

    def _bare_count_ms(self) -> float:
        table = connection.ops.quote_name(ServiceHistory._meta.db_table)
        timings = []
        with connection.cursor() as cursor:
            for _ in range(COUNT_RUNS):
                started = time.perf_counter()
                cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 model metadata only
                cursor.fetchone()
                timings.append((time.perf_counter() - started) * 1000)
        return statistics.median(timings)

    def _pages(self, pool: list[tuple[int, str]]) -> list[tuple[str, str, list[str]]]:
        ids = [pk for pk, _ in pool]
        surnames = sorted({nombre.split()[-1][:12] for _, nombre in pool if nombre.split()})
        return [
            ("dashboard", "GET", [reverse("crm_dashboard")]),
            ("buscar nombre", "GET", [reverse("crm_buscar") + f"?q={name}" for name in surnames]),
            ("perfil", "GET", [reverse("cliente_detalle", args=[pk]) for pk in ids]),
            ("historial", "GET", [reverse("historial_servicios", args=[pk]) for pk in ids]),
            ("segmento at_risk", "GET", [reverse("crm_buscar") + f"?segmento=at_risk&page={n}" for n in (1, 2, 3)]),
            ("generar propuesta", "POST", [reverse("generar_propuesta", args=[pk]) for pk in ids]),
        ]

    def _drive_wrk(self, base, cookies, label, method, paths, clients, requests, seconds, timeout) -> PageResult:
        """wrk with `clients` connections for `seconds`, rotating over `paths`; a Lua script adds the headers, counts
        non-200 answers and prints the percentiles (`requests` does not apply: wrk has no request budget)."""
        headers = {
            "Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items()),
            "X-CSRFToken": cookies[settings.CSRF_COOKIE_NAME],
            "Accept": "application/json",
            "X-Forwarded-Proto": "https",
            "Origin": "https://" + base.removeprefix("http://"),
        }
        script = WRK_SCRIPT % {
            "method": json.dumps(method),
            "paths": ", ".join(json.dumps(quote(path, safe="/?=&")) for path in paths),  # ASCII for Lua
            "headers": "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()),
        }
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
            handle.write(script)
        try:
            command = [
                shutil.which("wrk"), f"-t{min(clients, 2)}", f"-c{clients}", f"-d{max(1, round(seconds))}s",
                f"--timeout={max(1, round(timeout))}s", "-s", handle.name, base + paths[0],
            ]  # fmt: skip
            output = subprocess.run(  # noqa: S603 wrk on loopback, arguments built here
                command, capture_output=True, text=True, timeout=seconds + timeout + 30, check=False
            ).stdout
        finally:
            os.unlink(handle.name)
        line = next((row for row in output.splitlines() if row.startswith("RESULT ")), None)
        if line is None:
            return PageResult(label, errors=1, first_error=f"wrk no dio resultados: {output[-300:]}")
        total, bad, broken, duration, p50, p95, p99 = (float(value) for value in line.split()[1:])
        errors = int(bad + broken)
        return PageResult(
            label,
            errors=errors,
            seconds=duration,
            count=int(total - bad),
            measured={0.5: p50, 0.95: p95, 0.99: p99},
            first_error=f"{int(bad)} respuestas distintas de 200, {int(broken)} conexiones fallidas" if errors else "",
        )

    def _drive(self, base, cookies, label, method, paths, clients, requests, seconds, timeout) -> PageResult:
        """`clients` concurrent requests at a time from one asyncio loop, sharing a budget of `requests` and
        `seconds`. One loop, not one thread per client: on a small machine the load generator shares the CPU with
        gunicorn, and 50 Python threads fighting for the GIL would add their own waiting to every timing."""
        return asyncio.run(self._drive_async(base, cookies, label, method, paths, clients, requests, seconds, timeout))

    async def _drive_async(self, base, cookies, label, method, paths, clients, requests, seconds, timeout):
        result = PageResult(label)
        issued = 0
        deadline = time.monotonic() + seconds
        # As behind the HTTPS proxy of production (no redirect to https://); the Origin satisfies the CSRF check.
        headers = {
            "X-CSRFToken": cookies[settings.CSRF_COOKIE_NAME],
            "Accept": "application/json",
            "X-Forwarded-Proto": "https",
            "Origin": "https://" + base.removeprefix("http://"),
        }
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

        async def worker(client: httpx.AsyncClient) -> None:
            nonlocal issued
            while time.monotonic() < deadline and issued < requests:
                path = paths[issued % len(paths)]
                issued += 1
                started = time.perf_counter()
                error = ""
                try:
                    response = await client.request(method, path)
                    if response.status_code != 200:
                        error = f"{method} {path}: HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    error = f"{method} {path}: {type(exc).__name__} {exc}"
                elapsed = (time.perf_counter() - started) * 1000
                if error:
                    result.errors += 1
                    result.first_error = result.first_error or error
                else:
                    result.timings.append(elapsed)

        async with httpx.AsyncClient(
            base_url=base, cookies=cookies, headers=headers, timeout=timeout, limits=limits
        ) as client:
            started = time.perf_counter()
            await asyncio.gather(*(worker(client) for _ in range(clients)))
            result.seconds = time.perf_counter() - started
        return result


def _stop(server: subprocess.Popen) -> None:
    """Stop gunicorn and its workers (its own process group): TERM, then KILL whatever is left after 10 s."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)  # workers still finishing a request, or an orphan
    server.wait()
