"""Test helpers for email: a real SMTP server on loopback (aiosmtpd) and a tiny proposal factory."""

import itertools
import socket
import threading
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from crm.models import Proposal

_codes = itertools.count(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RecordingHandler:
    """Keeps every accepted message; `replies` queues SMTP answers to give to the next DATA commands."""

    def __init__(self):
        self.envelopes = []
        self.replies = []
        self.data_commands = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self.data_commands += 1
            if self.replies:
                return self.replies.pop(0)
            self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    @property
    def messages(self):
        return [message_from_bytes(envelope.content, policy=policy.default) for envelope in self.envelopes]


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on a free loopback port, with Django's SMTP backend pointed at it."""
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "Aremko Spa <reservas@example.com>"
    settings.REPLY_TO = ""
    settings.SITE_URL = "https://crm.example.com"
    yield handler
    controller.stop()


@pytest.fixture
def smtp_down(settings):
    """Django's SMTP backend pointed at a loopback port where nothing listens."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.SITE_URL = "https://crm.example.com"


def make_proposal(cliente, **fields) -> Proposal:
    n = next(_codes)
    values = {
        "segment": "at_risk",
        "backend": Proposal.Backend.LOCAL,
        "offer_code": f"TEST-{n:06d}",
        "email_subject": "Te echamos de menos en Aremko",
        "email_body": '<p>Hola, vuelve a las tinas.</p><p><a href="[[BAJA_URL]]">Darme de baja</a></p>',
        "email_text": "Hola, vuelve a las tinas.\n\nDarme de baja: [[BAJA_URL]]\n",
    }
    values.update(fields)
    return Proposal.objects.create(cliente=cliente, **values)
