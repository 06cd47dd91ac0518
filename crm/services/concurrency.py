"""A per-process cap on AI generations running at once, so slow backends never take every worker thread.

A gunicorn worker has GUNICORN_THREADS threads. If every thread waits on a slow AI backend, no page can be
served. Each worker process therefore lets at most AI_MAX_CONCURRENT_GENERATIONS requests call a proposal
backend at the same time; one more is refused at once (a 503 with Retry-After, never a queue that would hold
a thread), and the remaining threads keep serving pages. Keep the cap below GUNICORN_THREADS; 0 disables it.
The local engine makes no network call and answers in milliseconds: it takes no slot (a busy morning of
"Generar Propuesta" clicks never sees a 503 from it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from django.conf import settings

# Engines that call nothing over the network (see crm.services.proposals.service.BACKENDS).
OFFLINE_BACKENDS = frozenset({"local"})
BUSY_MESSAGE = "El motor de propuestas está ocupado: inténtalo en unos segundos."
RETRY_AFTER_SECONDS = 5


class EngineBusy(Exception):
    """Every AI slot of this process is taken; the caller answers 503 with Retry-After."""

    def __init__(self, message: str = BUSY_MESSAGE, retry_after: int = RETRY_AFTER_SECONDS):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class AiSlots:
    """`size` slots taken without waiting (a BoundedSemaphore acquired with timeout 0)."""

    def __init__(self, size: int):
        self.size = size
        self._semaphore = threading.BoundedSemaphore(size) if size > 0 else None

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self._semaphore is None:
            yield
            return
        if not self._semaphore.acquire(blocking=False):
            raise EngineBusy()
        try:
            yield
        finally:
            self._semaphore.release()


_lock = threading.Lock()
_process_slots: dict[int, AiSlots] = {}


def process_slots() -> AiSlots:
    """This process's slots, sized by AI_MAX_CONCURRENT_GENERATIONS (one instance per size)."""
    size = settings.AI_MAX_CONCURRENT_GENERATIONS
    with _lock:
        if size not in _process_slots:
            _process_slots[size] = AiSlots(size)
        return _process_slots[size]


def ai_slot() -> AbstractContextManager[None]:
    """`with ai_slot(): generate(...)`: raises EngineBusy when this process already runs the maximum of calls to
    a network engine (Claude, the remote server); the offline local engine passes freely."""
    if settings.PROPOSAL_BACKEND in OFFLINE_BACKENDS:
        return nullcontext()
    return process_slots().slot()
