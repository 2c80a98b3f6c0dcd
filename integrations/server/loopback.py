"""Is a request from this machine, and is a URL on it? For doors that stay closed to
the network unless configured otherwise (Teams without an app id).

A request is local when its TCP peer is a loopback address and it carries no
forwarding header: a reverse proxy on the same host connects from loopback too, on
behalf of anyone, and says so in those headers. A URL is local when its host is a
loopback address or ``localhost``, read strictly (no user info, no backslash), so that
no HTTP client can read another host out of it.
"""

from __future__ import annotations

import ipaddress
import re

from aiohttp import web

__all__ = ["FORWARDING_HEADERS", "is_loopback_host", "is_loopback_url", "why_not_local"]

#: Headers a proxy or load balancer adds for the client it forwards.
FORWARDING_HEADERS = (
    "Forwarded",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Proto",
    "X-Forwarded-Port",
    "X-Real-IP",
    "X-Client-IP",
    "X-Cluster-Client-IP",
    "X-Original-Forwarded-For",
    "True-Client-IP",
    "CF-Connecting-IP",
    "Fastly-Client-IP",
    "Via",
)

_URL = re.compile(
    r"https?://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?(?:[/?#][^\s\\]*)?"
)


def is_loopback_host(host: str) -> bool:
    """``localhost``, 127.0.0.0/8, ``::1`` or an IPv4-mapped loopback address."""
    host = host.strip().removeprefix("[").removesuffix("]")
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def is_loopback_url(url: str) -> bool:
    """An http(s) URL whose host is loopback, by a parse every client agrees with."""
    match = _URL.fullmatch(url)
    return match is not None and is_loopback_host(match["host"])


def why_not_local(request: web.Request) -> str | None:
    """None when ``request`` came from this machine directly; else why not."""
    peer = request.transport.get_extra_info("peername") if request.transport else None
    host = peer[0] if isinstance(peer, tuple) and peer and isinstance(peer[0], str) else None
    if host is None or not is_loopback_host(host):
        return f"the peer {host or 'unknown'} is not a loopback address"
    forwarded = [h for h in FORWARDING_HEADERS if h in request.headers]
    if forwarded:
        return f"it carries forwarding headers ({', '.join(forwarded)})"
    return None
