"""A scriptable HTTP server on loopback, standing in for Anthropic's Messages API or the proposal server.

Tests queue replies (`server.reply(status, json_body, delay=...)`) and then inspect `server.requests`
(method, path, headers, parsed JSON body). Real clients (the anthropic SDK, httpx) talk to it over TCP.
"""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Reply:
    status: int = 200
    body: object = None
    raw: bytes | None = None
    delay: float = 0.0


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict
    body: object


@dataclass
class FakeServer:
    url: str = ""
    replies: list = field(default_factory=list)
    default: Reply = field(default_factory=Reply)
    requests: list = field(default_factory=list)

    def reply(self, status=200, body=None, *, raw=None, delay=0.0, times=1):
        for _ in range(times):
            self.replies.append(Reply(status, body, raw, delay))

    def always(self, status=200, body=None, *, raw=None, delay=0.0):
        self.default = Reply(status, body, raw, delay)


def _handler(server_state: FakeServer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            try:
                body = json.loads(data) if data else None
            except ValueError:
                body = data
            server_state.requests.append(
                Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            reply = server_state.replies.pop(0) if server_state.replies else server_state.default
            if reply.delay:
                time.sleep(reply.delay)
            payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

        do_GET = do_POST = _serve

    return Handler


@pytest.fixture(name="fake_server")
def fake_server_fixture():
    state = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()
