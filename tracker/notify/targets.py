"""Where a webhook may be sent (pure): the SSRF rules.

A webhook URL is typed by a merchant: without rules, tracker would POST from
inside the network to whatever the URL names (a database admin page, the
cloud's metadata service at 169.254.169.254). So:

* only ``http`` and ``https``, no user or password in the URL;
* every address the host name resolves to must be a public (global unicast)
  address: private, loopback, link-local, shared (CGNAT), multicast, reserved
  and unspecified addresses are refused, unless a network of
  ``TRACKER_WEBHOOK_ALLOW_NETWORKS`` admits them (a receiver on the local
  network, the tests' receiver on loopback);
* the check runs when a subscription is made and again before every send,
  after resolving the name, and the connection goes to the address that was
  checked (:mod:`tracker.notify.sender` pins it), so a name that resolves to
  a public address first and to an internal one later (DNS rebinding) gets
  nowhere.

Name resolution is a seam (:data:`Resolver`): the tests map names to chosen
addresses without any DNS.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: host, port → the addresses to try, as text.
Resolver = Callable[[str, int], Sequence[str]]


class TargetRefused(ValueError):
    """The URL, or an address it leads to, may not receive webhooks; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    #: Path and query, as sent in the request line.
    path: str


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host``."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse(url: str) -> Target:
    """The parts of a webhook URL, or :class:`TargetRefused`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("only http and https URLs can receive webhooks")
    if not parts.hostname:
        raise TargetRefused("the URL names no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("a user or password in the URL is not accepted; authenticate with the signature")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path)


def address_refusal(address: str, allow: Sequence[IPNetwork]) -> str | None:
    """Why ``address`` may not be sent to, or None if it may."""
    ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(ip in network for network in allow):
        return None
    if ip.is_loopback:
        return f"{ip} is a loopback address"
    if ip.is_link_local:
        return f"{ip} is a link-local address (cloud metadata services live there)"
    if ip.is_private or ip.is_unspecified or ip.is_reserved or ip.is_multicast or not ip.is_global:
        return f"{ip} is not a public address"
    return None


def checked_addresses(target: Target, resolver: Resolver, allow: Sequence[IPNetwork]) -> list[str]:
    """The addresses of ``target`` after resolution, all admitted; :class:`TargetRefused` otherwise.

    Every address must pass, not just one: otherwise a name with one public
    and one internal address would be let through.
    """
    try:
        ipaddress.ip_address(target.host)
        addresses: Sequence[str] = [target.host]
    except ValueError:
        try:
            addresses = resolver(target.host, target.port)
        except OSError as exc:
            raise TargetRefused(f"{target.host} does not resolve: {exc}") from None
        except UnicodeError:
            # An empty label ("a..b") or one over 63 characters: the IDNA codec refuses
            # to encode the name before any lookup (a ValueError, not an OSError).
            raise TargetRefused(f"{target.host} is not a host name: a label is empty or too long") from None
    if not addresses:
        raise TargetRefused(f"{target.host} does not resolve")
    for address in addresses:
        why = address_refusal(address, allow)
        if why is not None:
            raise TargetRefused(f"{target.host} leads to {why}; TRACKER_WEBHOOK_ALLOW_NETWORKS can admit it")
    return list(addresses)
