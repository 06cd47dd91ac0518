"""Headless chromium for the end-to-end tests: Debian's /usr/bin/chromium driven by Playwright for Python.

Playwright's own browser download does not work here, so the tests launch the system chromium. Outside CI a test
skips when chromium or Playwright is missing; under CI=true it fails instead (`skip_or_fail`).
"""

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings
from django.db import connections

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@contextlib.contextmanager
def chromium(skip_or_fail: Callable[[str], None]) -> Iterator:
    """A launched Playwright browser; closes it and Django's connections opened inside Playwright's loop."""
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not executable:
        skip_or_fail(f"no browser: install Debian's chromium ({CHROMIUM}) to run the end-to-end test")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed (pip install -r requirements-dev.txt)")
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are still synchronous.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
            try:
                yield browser
            finally:
                browser.close()
                # Inside Playwright's loop Django opened its own connection: close it, or PostgreSQL cannot drop
                # the test database at the end of the run.
                connections.close_all()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
