"""Webhook URL checks: the SSRF guard every delivery passes before it opens a socket.

A URL is accepted when its scheme is ``http`` or ``https``, it carries no credentials, it
names a host, and **every** address that host resolves to is public: not private,
loopback, link-local (cloud metadata at 169.254.169.254), multicast, reserved, unspecified
or shared (CGNAT), with IPv4 addresses wrapped in IPv6 (``::ffff:10.0.0.1``, 6to4, NAT64)
judged by the address they carry. ``TRACKYARD_WEBHOOK_ALLOWED_NETWORKS`` (comma-separated
CIDRs, empty by default) lets addresses inside those networks through, e.g. ``127.0.0.0/8``
for a receiver on this machine.

:func:`check_url` returns the resolved addresses; delivery connects to one of exactly those
addresses (no second lookup a DNS-rebinding attacker could answer differently) and never
follows redirects.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from trackyard.errors import TrackyardError

__all__ = [
    "ALLOWED_NETWORKS_ENV",
    "MAX_URL_LENGTH",
    "WebhookTarget",
    "allowed_networks",
    "check_address",
    "check_url",
    "check_url_syntax",
]

ALLOWED_NETWORKS_ENV = "TRACKYARD_WEBHOOK_ALLOWED_NETWORKS"
#: The width of MLflow's ``webhooks.url`` column.
MAX_URL_LENGTH = 500

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class WebhookTarget:
    """Where a checked URL points.

    Attributes:
        scheme: ``http`` or ``https``.
        host: the host name as written (used for ``Host`` and TLS server name).
        port: the port (80 / 443 by default).
        path: path and query to request (``/`` when empty).
        addresses: the resolved addresses, all allowed, in resolver order.
    """

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def _refused(url: str, why: str) -> TrackyardError:
    return TrackyardError.invalid_parameter_value(f"Invalid webhook URL {url!r}: {why}")


def allowed_networks() -> list[IPNetwork]:
    """The networks ``TRACKYARD_WEBHOOK_ALLOWED_NETWORKS`` lets through (read on every call).

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE naming an entry that is not a CIDR.
    """
    out: list[IPNetwork] = []
    for item in os.environ.get(ALLOWED_NETWORKS_ENV, "").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise TrackyardError.invalid_parameter_value(
                f"{ALLOWED_NETWORKS_ENV} holds {item!r}, which is not a network "
                "(write CIDRs such as 127.0.0.0/8, separated by commas)."
            ) from exc
    return out


def _carried(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 transition address carries, else ``ip``."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is None and ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            return inner
    return ip


def check_address(address: str, networks: list[IPNetwork] | None = None) -> str | None:
    """Why ``address`` may not be contacted, or None when it may.

    Args:
        address: an IP address as text (an IPv6 scope suffix is ignored).
        networks: the allow-list (default: :func:`allowed_networks`).
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    allowed = allowed_networks() if networks is None else networks
    inner = _carried(ip)
    for net in allowed:
        if (ip.version == net.version and ip in net) or (
            inner.version == net.version and inner in net
        ):
            return None
    if inner.is_global and not inner.is_multicast and not inner.is_reserved:
        return None
    kind = next(
        (
            name
            for name, flag in (
                ("loopback", inner.is_loopback),
                ("link-local", inner.is_link_local),
                ("multicast", inner.is_multicast),
                ("unspecified", inner.is_unspecified),
                ("private", inner.is_private),
                ("reserved", inner.is_reserved),
            )
            if flag
        ),
        "non-public",
    )
    return (
        f"{ip} is a {kind} address; webhooks only reach public addresses unless "
        f"{ALLOWED_NETWORKS_ENV} allows it"
    )


def check_url_syntax(url: object) -> tuple[str, str, int, str]:
    """Check a URL's form without resolving it; return (scheme, host, port, path).

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE for a non-string, blank or too long URL, a
            scheme other than http/https, credentials, no host, or a bad port.
    """
    if not isinstance(url, str):
        raise TrackyardError.invalid_parameter_value(
            f"Webhook URL must be a string, got {type(url).__name__!r}"
        )
    if not url.strip():
        raise TrackyardError.invalid_parameter_value(
            f"Webhook URL cannot be empty or just whitespace: {url!r}"
        )
    if len(url) > MAX_URL_LENGTH:
        raise _refused(url[:60] + "...", f"longer than {MAX_URL_LENGTH} characters")
    if any(c in url for c in "\r\n\t\x00 "):
        raise _refused(url, "it contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _refused(url, str(exc)) from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _refused(url, f"scheme {parts.scheme!r} is not allowed (use http or https)")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise TrackyardError.invalid_parameter_value(
            "Invalid webhook URL: it must not carry credentials (user:password@); "
            "use the webhook secret to authenticate deliveries."
        )
    host = parts.hostname
    if not host:
        raise _refused(url, "it has no host name")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return scheme, host, port or (443 if scheme == "https" else 80), path


def check_url(url: object) -> WebhookTarget:
    """Check a webhook URL and resolve its host; every address must be allowed.

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE for a malformed URL (see
            :func:`check_url_syntax`), a host that does not resolve, or a host with any
            address :func:`check_address` refuses. Nothing is connected to.
    """
    scheme, host, port, path = check_url_syntax(url)
    assert isinstance(url, str)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:
        raise _refused(url, f"cannot resolve host {host!r} ({exc})") from exc
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise _refused(url, f"host {host!r} resolves to no address")
    networks = allowed_networks()
    for address in addresses:
        why = check_address(address, networks)
        if why is not None:
            raise _refused(url, f"{host!r} resolves to {address}: {why}")
    return WebhookTarget(scheme, host, port, path, tuple(addresses))
