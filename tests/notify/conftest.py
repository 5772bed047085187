"""A real HTTP receiver on loopback, a DNS seam, and settings that admit loopback targets."""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine

from tracker.notify.dispatch import Dispatcher, from_settings
from tracker.notify.secretbox import new_key
from tracker.settings import Settings

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each POST with the next status of ``script`` (then ``default``), recording it."""

    url: str = ""
    script: list[int] = field(default_factory=list)
    default: int = 200
    retry_after: str | None = None
    #: Seconds to think before answering (a slow receiver).
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Received) -> int:
        with self.lock:
            self.received.append(request)
            return self.script.pop(0) if self.script else self.default


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = self.rfile.read(length)
            if len(body) < length:
                # The sender died mid-request (a dispatcher killed by a test): no delivery
                # arrived, and a real receiver would not act on half a body either.
                self.close_connection = True
                return
            if receiver.delay:
                time.sleep(receiver.delay)
            status = receiver.answer(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            self.send_response(status)
            if receiver.retry_after and status >= 500:
                self.send_header("Retry-After", receiver.retry_after)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    # Two dispatchers of 8 threads each connect at once: the default listen backlog of 5 refuses some.
    request_queue_size = 128
    daemon_threads = True


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    box = Receiver()
    server = _Server(("127.0.0.1", 0), _handler(box))
    box.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as box:
        yield box


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The suite's test settings (tests/conftest.py), with loopback receivers allowed.
    return settings.but(
        webhook_allow_networks=LOOPBACK,
        webhook_secret_key=new_key(),
        webhook_backoff_base=timedelta(seconds=10),
        sms_quiet_hours=None,
    )


def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"a test resolved {host}: tests never use DNS")


@pytest.fixture
def dispatcher(engine: Engine, settings: Settings, clock: Any) -> Dispatcher:
    return from_settings(engine, settings, resolver=no_dns, clock=clock, rand=lambda: 1.0)


def subscribe(persona: Any, url: str, events: list[str] | None = None) -> dict[str, Any]:
    answer = persona.post(
        "/api/v1/webhooks", json={"url": url, "events": events or ["parcel.status_changed"]}
    )
    assert answer.status_code == 201, answer.json
    return answer.json
