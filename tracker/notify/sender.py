"""Sending one webhook over HTTP, to the address that was checked (the outside world).

The standard library's ``http.client`` rather than a client library: the
SSRF rule needs the connection to go to the exact address that
:func:`tracker.notify.targets.checked_addresses` admitted (after DNS), while
the request keeps the URL's host name in ``Host`` and, for HTTPS, in the TLS
server name and certificate check. ``http.client`` lets :class:`_PinnedHTTPConnection`
override exactly that one step (``connect``); redirects are never followed
(a 3xx is a failed try: a redirect could point inside the network).

:class:`Sender` is the seam: the dispatcher takes any object with its ``post``.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tracker.notify.targets import (
    IPNetwork,
    Resolver,
    TargetRefused,
    checked_addresses,
    parse,
    system_resolver,
)


@dataclass(frozen=True)
class Answer:
    """What the receiver said: a status (None when there was no answer) and why a try failed."""

    status: int | None
    retry_after: str | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Sender(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer: ...


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._context = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


class HttpSender:
    """POSTs with a timeout to a checked, pinned address; never follows redirects."""

    def __init__(
        self,
        *,
        allow: Sequence[IPNetwork],
        timeout: float,
        resolver: Resolver = system_resolver,
        context: ssl.SSLContext | None = None,
    ) -> None:
        self.allow = tuple(allow)
        self.timeout = timeout
        self.resolver = resolver
        self.context = context or ssl.create_default_context()

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        started = time.perf_counter()
        try:
            target = parse(url)
            address = checked_addresses(target, self.resolver, self.allow)[0]
        except TargetRefused as exc:
            return Answer(None, error=f"refused: {exc}")
        if target.scheme == "https":
            conn: http.client.HTTPConnection = _PinnedHTTPSConnection(
                target.host, target.port, address, self.timeout, self.context
            )
        else:
            conn = _PinnedHTTPConnection(target.host, target.port, address, self.timeout)
        try:
            conn.request(
                "POST",
                target.path,
                body=body,
                headers={"content-type": "application/json", "user-agent": "tracker-webhooks/1", **headers},
            )
            response = conn.getresponse()
            response.read(64 * 1024)  # a receiver's answer body is not ours to keep
            status = response.status
            error = None if 200 <= status < 300 else f"HTTP {status}"
            return Answer(status, response.getheader("retry-after"), error, time.perf_counter() - started)
        except (OSError, http.client.HTTPException) as exc:
            return Answer(
                None, error=f"{type(exc).__name__}: {exc}"[:300], seconds=time.perf_counter() - started
            )
        finally:
            conn.close()
