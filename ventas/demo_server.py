"""The process side of `manage.py demo`: where it serves, whether another demo already runs, and its children.

- `Address.parse`: "8001", "127.0.0.1:8001" or "[::1]:8001", as `runserver` accepts them.
- `port_is_free`: a bind on the address before anything is touched (migrations, password, workers), so a second
  `demo` on a busy port stops with one clear line instead of failing halfway inside `runserver`.
- `DemoLock`: an advisory lock (flock) on a file beside the database, held for the life of a serving demo; the
  kernel drops it when the process dies, so there is no stale pid file to clean up. It tells "another demo of this
  database" apart from "some other program on the port" and records where that demo serves.
- `start_child`/`stop_children`: the worker and the scheduler, in their own process group so that Ctrl+C reaches
  only the demo, which then sends each child exactly one SIGTERM (a second signal makes `db_worker` abandon the
  task it is running). On Linux they also get PR_SET_PDEATHSIG, so they die with the demo even when it cannot
  clean up (SIGKILL, or `runserver` leaving through `os._exit` on a startup error).
- `exit_on_signals`: SIGTERM and SIGHUP (terminal closed) unwind the demo like Ctrl+C, so its `finally` stops the
  children.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.core.management.commands.runserver import naiveip_re

try:
    import fcntl
except ImportError:  # Windows: no lock, the port check alone detects a running demo
    fcntl = None

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
PR_SET_PDEATHSIG = 1
STOP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    @classmethod
    def parse(cls, value: str) -> Address:
        """`runserver`'s syntax: a port, or host:port; raises ValueError with a Spanish message."""
        match = naiveip_re.match(value or "")
        if match is None:
            raise ValueError(f"«{value}» no es un puerto ni una dirección:puerto válidos (p. ej. 8001).")
        host, _ipv4, ipv6, _fqdn, port = match.groups()
        if not 0 < int(port) < 65536:
            raise ValueError(f"El puerto {port} no es válido (1-65535).")
        return cls(host=(host[1:-1] if ipv6 else host) or DEFAULT_HOST, port=int(port))

    @classmethod
    def from_url(cls, url: str) -> Address | None:
        """Back from `url` (as written in the lock file); None if it is not one."""
        try:
            return cls.parse(url.removeprefix("http://").rstrip("/"))
        except ValueError:
            return None

    @property
    def addrport(self) -> str:
        """As `runserver` takes it back."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.addrport}/"


def port_is_free(address: Address) -> bool:
    """True when `runserver` could listen there now (same SO_REUSEADDR as its server, so TIME_WAIT is no obstacle)."""
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror:
        return True  # an unknown host is runserver's error to report
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(sockaddr)
        except OSError:
            return False
    return True


class DemoLock:
    """Held by the demo that serves a database; `holder()` tells a second demo where the first one serves."""

    def __init__(self, path: Path | None):
        self.path = path
        self._file = None

    def acquire(self, address: Address) -> bool:
        """Take the lock and write the address in it; False when another live demo holds it."""
        if fcntl is None or self.path is None:
            return True
        lock_file = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock_file.close()
            return False
        lock_file.truncate(0)
        lock_file.write(address.url)
        lock_file.flush()
        self._file = lock_file
        return True

    def holder(self) -> str:
        """The URL written by the demo holding the lock ("" if unknown)."""
        try:
            return self.path.read_text(encoding="utf-8").strip() if self.path else ""
        except OSError:
            return ""

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the flock
            self._file = None


def lock_path(database: dict, base_dir: Path) -> Path | None:
    """Beside the SQLite file (ignored by git with it); for a server database, one per database name in the
    project directory; None for an in-memory SQLite database (the tests'), which no other process can share."""
    name = str(database.get("NAME") or "")
    if database.get("ENGINE", "").endswith("sqlite3"):
        in_memory = not name or name == ":memory:" or "mode=memory" in name
        return None if in_memory else Path(f"{name}.demo.lock")
    return Path(base_dir) / f".demo-{Path(name).name or 'default'}.lock"


def _dies_with(parent_pid: int):
    def die_with_parent() -> None:
        """Runs in the child between fork and exec: SIGTERM when the demo process dies, whatever the cause."""
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the demo died before prctl took effect
            os._exit(0)

    return die_with_parent


def start_child(args: list[str]) -> subprocess.Popen:
    """Start a child that cannot outlive the demo (on Linux; elsewhere `stop_children` in a finally does it)."""
    if os.name != "posix":
        return subprocess.Popen(args)  # noqa: S603
    preexec = _dies_with(os.getpid()) if sys.platform.startswith("linux") else None
    # preexec_fn is safe here: the demo runs no threads yet.
    return subprocess.Popen(args, process_group=0, preexec_fn=preexec)  # noqa: S603


def stop_children(children: list[subprocess.Popen | None]) -> None:
    """SIGTERM every child, then wait; one that does not stop in time is killed."""
    running = [child for child in children if child is not None and child.poll() is None]
    for child in running:
        child.terminate()
    for child in running:
        try:
            child.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@contextlib.contextmanager
def exit_on_signals() -> Iterator[None]:
    """SIGTERM (and SIGHUP) raise SystemExit(128 + signal) in the main thread: `finally` blocks run as on Ctrl+C."""

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    signums = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, action in previous.items():
            signal.signal(signum, action)
